/**
 * The llama.cpp `llama-server` simulator (protocols.md §6): the port is bound before the model
 * loads and every route answers 503 `Loading model` until it has; one model per process, any
 * `model` name accepted and echoed; `-np` slots with the rest queued; `/props` and `/slots`;
 * errors as `{"error":{"code","message","type"}}` with HTTP status = code (500 for a malformed
 * body, not 400); an error inside a stream as a non-standard `error:` line before `[DONE]`.
 *
 * Agent features (protocols.md Part 2, C): tools with streamed argument fragments and 32-char
 * ids, string-only `tool_choice`, `response_format` (json_object with optional schema,
 * json_schema) and a top-level `json_schema`, `reasoning_content` for thinking models, and
 * `/v1/embeddings` only with `--embeddings` (501 otherwise; `dimensions` ignored).
 */
import { randomUUID } from "node:crypto"
import * as Agent from "../Agent.ts"
import * as Answer from "../Answer.ts"
import type * as Cli from "../Cli.ts"
import type { Definition, Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText, partTypes } from "../Prompt.ts"
import * as Send from "../Send.ts"
import * as Sse from "../Sse.ts"
import * as Vectors from "../Vectors.ts"
import type { Slots } from "./Slots.ts"

export const defaultModel = "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"

export const flags: ReadonlyArray<Cli.Flag> = [
  { name: "model", type: "string", default: defaultModel, help: "the GGUF file (-m); /v1/models lists it unless --alias is given" },
  { name: "alias", type: "string", help: "the model name to list and to echo when a request names none (--alias)" },
  { name: "load-ms", type: "string", default: "0", help: "model load time after the port is bound; every route answers 503 meanwhile" },
  { name: "ctx-size", type: "string", default: "4096", help: "context size (-c), split evenly between the slots" },
  { name: "parallel", type: "string", default: "1", help: "slots (-np): requests generated at once; the rest wait in a queue" },
  { name: "api-key", type: "string", help: "required Bearer key (--api-key); /health and /v1/models stay open" },
  { name: "role-chunk", type: "boolean", help: "send a role-only first chunk, as builds since 2025 do (older builds send none)" },
  { name: "no-context-shift", type: "boolean", help: "a prompt longer than a slot's context is an error instead of silently truncated" },
  { name: "no-slots", type: "boolean", help: "GET /slots answers 501, as newer builds do without --slots" },
  { name: "embeddings", type: "boolean", help: "serve /v1/embeddings (--embeddings); without it the route answers 501" },
  { name: "thinking", type: "boolean", help: "the model reasons (reasoning_content); default: model paths with qwen3, deepseek-r1, gpt-oss, magistral" }
]

export interface Config {
  readonly modelPath: string
  readonly alias: string | undefined
  readonly loadMs: number
  readonly ctxSize: number
  readonly slots: Slots
  readonly apiKey: string | undefined
  readonly roleChunk: boolean
  readonly noContextShift: boolean
  readonly noSlots: boolean
  readonly tokens: number | undefined
  readonly tokenMs: number
  readonly embeddings: boolean
  readonly thinking: boolean
}

/** n_embd of the simulated model (what /v1/models `meta` reports). */
const embeddingSize = 896

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
/** gen_tool_call_id: 32 random [0-9A-Za-z], no prefix. */
const toolCallId = (): string => Array.from({ length: 32 }, () => alnum[Math.floor(Math.random() * alnum.length)]).join("")

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** oaicompat_chat_params_parse's structured-output rules, or the 400 text for a bad type. */
const formatOf = (b: Record<string, unknown>): { format: Agent.Format | undefined } | { error: string } => {
  const top = isRecord(b["json_schema"]) ? b["json_schema"] : undefined
  const rf = b["response_format"]
  if (!isRecord(rf)) return { format: top !== undefined ? { kind: "schema", schema: top } : undefined }
  const type = typeof rf["type"] === "string" ? rf["type"] : ""
  if (type === "" || type === "text") return { format: top !== undefined ? { kind: "schema", schema: top } : undefined }
  if (type === "json_object") {
    const schema = isRecord(rf["schema"]) ? rf["schema"] : top
    return { format: schema !== undefined && Object.keys(schema).length > 0 ? { kind: "schema", schema } : { kind: "json" } }
  }
  if (type === "json_schema") {
    // Only the OpenAI wrapper is read; the README's unwrapped form constrains to `{}` (any JSON).
    const wrapper = isRecord(rf["json_schema"]) ? rf["json_schema"] : {}
    const schema = isRecord(wrapper["schema"]) ? wrapper["schema"] : {}
    return { format: Object.keys(schema).length > 0 ? { kind: "schema", schema } : { kind: "json" } }
  }
  return { error: `response_format type must be one of "text" or "json_object", but got: ${type}` }
}

type Step =
  | { readonly kind: "reasoning" | "content"; readonly text: string }
  | { readonly kind: "header"; readonly index: number; readonly id: string; readonly name: string; readonly text: string }
  | { readonly kind: "arguments"; readonly index: number; readonly text: string }

const build = { build_number: 4750, commit: "b4750ab" }
const fingerprint = `b${build.build_number}-${build.commit}`

const typeOf = (status: number): string =>
  status === 400
    ? "invalid_request_error"
    : status === 401
    ? "authentication_error"
    : status === 404
    ? "not_found_error"
    : status === 501
    ? "not_supported_error"
    : status === 503
    ? "unavailable_error"
    : "server_error"

/** llama-server's one error shape; the HTTP status is the code. */
const error = (ex: Exchange, status: number, message: string, type = typeOf(status)): void =>
  Send.json(ex.reply, status, { error: { code: status, message, type } }, {}, "application/json; charset=utf-8")

const json = (ex: Exchange, value: unknown): void => Send.json(ex.reply, 200, value, {}, "application/json; charset=utf-8")

const loadingPage = "<!DOCTYPE html><html><head><title>llama.cpp</title></head><body><h1>Loading model</h1></body></html>"

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v)

/** Sampling values the server refuses with 400 (it reads them with type checks). */
const invalidSampling = (b: Record<string, unknown>): string | undefined => {
  for (const k of ["temperature", "top_p", "min_p", "seed", "max_tokens", "n_predict"]) {
    if (b[k] !== undefined && b[k] !== null && !isNum(b[k])) return `[json.exception.type_error.302] type must be number, but is ${typeof b[k]}`
  }
  const topP = b["top_p"]
  if (isNum(topP) && (topP < 0 || topP > 1)) return "top_p must be between 0 and 1"
  return undefined
}

const modelId = (config: Config): string => config.alias ?? config.modelPath

const chat = async (config: Config, ex: Exchange): Promise<void> => {
  if (ex.body.length === 0) return error(ex, 500, "[json.exception.parse_error.101] parse error at line 1, column 1: attempting to parse an empty input; check that your input string or stream contains the expected JSON")
  if (ex.jsonError !== undefined) {
    return error(ex, 500, "[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal")
  }
  if (typeof ex.json !== "object" || ex.json === null || Array.isArray(ex.json)) return error(ex, 500, "[json.exception.type_error.306] cannot use value() with array")
  const b = ex.json as Record<string, unknown>
  if (!Array.isArray(b["messages"])) return error(ex, 500, "'messages' is required")
  if (b["n"] !== undefined && b["n"] !== 1) return error(ex, 500, "Only one completion choice is allowed")
  if (partTypes(b["messages"]).some((t) => t === "image_url")) {
    return error(ex, 500, "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj")
  }
  const invalid = invalidSampling(b)
  if (invalid !== undefined) return error(ex, 400, invalid)
  const tools = Agent.functionTools(b["tools"])
  const choiceRaw = b["tool_choice"]
  // Read as a string only: an object fails the read and is treated as "auto".
  if (typeof choiceRaw === "string" && !["auto", "none", "required"].includes(choiceRaw)) return error(ex, 400, `Invalid tool_choice: ${choiceRaw}`)
  if (tools.length > 0 && b["grammar"] !== undefined) return error(ex, 400, "Cannot use custom grammar constraints with tools.")
  if (b["json_schema"] !== undefined && b["grammar"] !== undefined) return error(ex, 500, "Cannot use both json_schema and grammar")
  const format = formatOf(b)
  if ("error" in format) return error(ex, 400, format.error)

  const echo = typeof b["model"] === "string" ? b["model"] : (config.alias ?? "gpt-3.5-turbo")
  const prompt = lastUserText(b["messages"])
  const promptTokens = (b["messages"] as ReadonlyArray<unknown>).reduce<number>(
    (n, m) => n + Answer.promptTokens(lastUserText([{ role: "user", content: (m as { content?: unknown } | null)?.content }])),
    0
  )
  const stream = b["stream"] === true
  const overflow = promptTokens > config.slots.perSlotCtx
  const overflowError = {
    code: 400,
    message: `the request exceeds the available context size (${config.slots.perSlotCtx} tokens), try increasing it`,
    type: "exceed_context_size_error"
  }
  if (overflow && config.noContextShift && !stream) return error(ex, 400, overflowError.message, overflowError.type)

  const limitRaw = b["max_tokens"] ?? b["n_predict"]
  const limit = isNum(limitRaw) && limitRaw >= 0 ? limitRaw : undefined
  const plain = Answer.make({ prompt, ...(config.tokens !== undefined ? { tokens: config.tokens } : {}), ...(limit !== undefined ? { limit } : {}) })
  const turn = Agent.decide({
    tools,
    prompt,
    results: Agent.trailingToolResults(b["messages"]),
    choice: choiceRaw === "none" || choiceRaw === "required" ? { kind: choiceRaw } : { kind: "auto" },
    parallel: b["parallel_tool_calls"] !== false,
    answer: plain,
    limit
  })
  const answer = turn.kind === "calls" ? plain : format.format !== undefined ? Agent.structuredAnswer(format.format, prompt, turn.answer.text) : turn.answer
  const kwargs = b["chat_template_kwargs"] as { enable_thinking?: unknown } | null | undefined
  const thinks =
    (config.thinking || /qwen3|deepseek-r1|gpt-oss|magistral/i.test(config.modelPath)) && b["reasoning_effort"] !== "none" && kwargs?.enable_thinking !== false
  const steps: Array<Step> = thinks ? Agent.thinking(prompt).map((text) => ({ kind: "reasoning", text })) : []
  if (turn.kind === "calls") {
    turn.calls.forEach((c, index) => {
      const [first = "", ...rest] = Agent.fragments(JSON.stringify(c.arguments))
      steps.push({ kind: "header", index, id: toolCallId(), name: c.name, text: first })
      for (const text of rest) steps.push({ kind: "arguments", index, text })
    })
  } else for (const text of answer.tokens) steps.push({ kind: "content", text })
  // tool_calls only on EOS or a stop word; length wins.
  const finishReason = turn.kind === "calls" ? "tool_calls" : answer.finish
  const id = `chatcmpl-${randomUUID().replace(/-/g, "").slice(0, 32)}`
  const created = Math.floor(Date.now() / 1000)
  const counted = Math.min(promptTokens, config.slots.perSlotCtx)
  const usage = (n: number) => ({ completion_tokens: n, prompt_tokens: counted, total_tokens: counted + n })
  const timings = (n: number, ms: number) => ({
    prompt_n: counted,
    prompt_ms: 1.5,
    prompt_per_token_ms: 1.5 / counted,
    prompt_per_second: (counted / 1.5) * 1000,
    predicted_n: n,
    predicted_ms: ms,
    predicted_per_token_ms: n === 0 ? 0 : ms / n,
    predicted_per_second: ms === 0 ? 0 : (n / ms) * 1000
  })
  const plan = ex.plan
  const failure = { code: 500, message: plan.errorBody?.message ?? "llama_decode failed", type: "server_error" }

  await config.slots.run(prompt, ex.reply.gone, async (progress) => {
    if (ex.reply.closed) return
    const began = Date.now()
    if (!stream) {
      const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, (_t, i) => progress(i + 1))
      if (r.outcome === "error") return error(ex, failure.code, failure.message, failure.type)
      if (r.outcome !== "complete") return
      const text = (k: "reasoning" | "content") => steps.flatMap((x) => (x.kind === k ? [x.text] : [])).join("")
      const calls = steps.flatMap((x) =>
        x.kind === "header"
          ? [{ type: "function", function: { name: x.name, arguments: x.text + steps.flatMap((a) => (a.kind === "arguments" && a.index === x.index ? [a.text] : [])).join("") }, id: x.id }]
          : []
      )
      const reasoning = text("reasoning")
      const message = { role: "assistant", content: text("content"), ...(reasoning !== "" ? { reasoning_content: reasoning } : {}), ...(calls.length > 0 ? { tool_calls: calls } : {}) }
      const body = {
        choices: [{ finish_reason: finishReason, index: 0, message }],
        created,
        model: echo,
        system_fingerprint: fingerprint,
        object: "chat.completion",
        usage: usage(r.emitted),
        id,
        timings: timings(r.emitted, Date.now() - began)
      }
      return plan.malformedJson ? Send.malformed(ex.reply, body, {}, "application/json; charset=utf-8") : json(ex, body)
    }

    const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) => ({
      choices: [{ finish_reason: finish, index: 0, delta }],
      created,
      id,
      model: echo,
      system_fingerprint: fingerprint,
      object: "chat.completion.chunk",
      ...extra
    })
    ex.reply.head(200, { "Content-Type": "text/event-stream", "Access-Control-Allow-Origin": "*" })
    if (overflow && config.noContextShift) {
      // Not `event: error`: a field of its own, which SSE parsers ignore by the spec.
      ex.reply.write(`error: ${JSON.stringify(overflowError)}\n\n`)
      return ex.reply.end(Sse.done)
    }
    if (config.roleChunk) ex.reply.write(Sse.data(chunk({ role: "assistant", content: null }, null)))
    const delta = (x: Step): Record<string, unknown> => {
      switch (x.kind) {
        case "reasoning":
          return { reasoning_content: x.text }
        case "content":
          return { content: x.text }
        case "header":
          return { tool_calls: [{ index: x.index, id: x.id, type: "function", function: { name: x.name, arguments: x.text } }] }
        case "arguments":
          return { tool_calls: [{ index: x.index, function: { arguments: x.text } }] }
      }
    }
    const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, (x, i) => {
      progress(i + 1)
      ex.reply.write(Sse.data(chunk(delta(x), null)))
    })
    if (r.outcome === "error") {
      ex.reply.write(`error: ${JSON.stringify(failure)}\n\n`)
      return ex.reply.end(Sse.done)
    }
    if (r.outcome !== "complete") return
    if (finishReason === "stop") ex.reply.write(Sse.data(chunk({ content: "" }, null)))
    const last = chunk({}, finishReason, { usage: usage(r.emitted), timings: timings(r.emitted, Date.now() - began) })
    ex.reply.write(plan.malformedJson ? `data: ${Send.halfLine(last)}\n\n` : Sse.data(last))
    ex.reply.end(Sse.done)
  })
}

/** handle_embeddings_impl (OAI form): 501 without --embeddings; `dimensions` is ignored and the model's own size answered, as llama-server does (llama.cpp issue 25210). */
const embeddings = (config: Config, ex: Exchange): void => {
  if (!config.embeddings) return error(ex, 501, "This server does not support embeddings. Start it with `--embeddings`")
  if (ex.jsonError !== undefined || !isRecord(ex.json)) return error(ex, 500, "[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal")
  const b = ex.json
  const input = b["input"] ?? b["content"]
  const inputs: Array<string> =
    typeof input === "string" ? [input] : Array.isArray(input) ? (input.every((i) => typeof i === "number") ? [JSON.stringify(input)] : input.map((i) => (typeof i === "string" ? i : JSON.stringify(i)))) : []
  if (inputs.length === 0 || inputs.some((i) => i === "")) return error(ex, 400, "Input content cannot be empty")
  const enc = b["encoding_format"] ?? "float"
  if (enc !== "float" && enc !== "base64") return error(ex, 400, "The format to return the embeddings in. Can be either float or base64")
  const echo = typeof b["model"] === "string" ? b["model"] : (config.alias ?? "gpt-3.5-turbo")
  const tokens = inputs.reduce((n, t) => n + Answer.promptTokens(t), 0)
  json(ex, {
    model: echo,
    object: "list",
    usage: { prompt_tokens: tokens, total_tokens: tokens },
    data: inputs.map((t, index) => {
      const v = Vectors.unit(config.modelPath, t, embeddingSize)
      return enc === "base64" ? { embedding: Vectors.base64(v), index, object: "embedding", encoding_format: "base64" } : { embedding: v, index, object: "embedding" }
    })
  })
}

const props = (config: Config) => ({
  default_generation_settings: {
    id: 0,
    id_task: -1,
    n_ctx: config.slots.perSlotCtx,
    speculative: false,
    is_processing: false,
    params: { n_predict: -1, temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, stream: false }
  },
  total_slots: config.slots.total,
  model_path: config.modelPath,
  chat_template: "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}",
  modalities: { vision: false, audio: false },
  chat_template_caps: {
    supports_tools: true,
    supports_tool_calls: true,
    supports_parallel_tool_calls: true,
    supports_system_role: true,
    supports_preserve_reasoning: false,
    supports_reasoning_effort: false,
    supports_string_content: true,
    supports_typed_content: false,
    supports_object_arguments: false
  },
  build_info: fingerprint
})

export const make = (config: Config): Definition => {
  const readyAt = Date.now() + config.loadMs
  const loading = () => Date.now() < readyAt
  const authorized = (ex: Exchange) => {
    if (config.apiKey === undefined) return true
    const m = /^Bearer\s+(.+)$/i.exec(ex.req.headers.authorization ?? "")
    return m?.[1]?.trim() === config.apiKey
  }
  return {
    sim: "llamacpp",
    async handle(ex) {
      const path = ex.path
      if (loading()) {
        if (path === "/") return Send.text(ex.reply, 503, loadingPage, "text/html; charset=utf-8")
        return error(ex, 503, "Loading model")
      }
      if (ex.method === "OPTIONS") {
        ex.reply.head(204, { "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST", "Access-Control-Allow-Headers": "*" })
        return ex.reply.end()
      }
      if (ex.method === "GET" && path === "/health") return json(ex, { status: "ok" })
      if (ex.method === "GET" && (path === "/v1/models" || path === "/models")) {
        const meta = { vocab_type: 2, n_vocab: 151936, n_ctx_train: 32768, n_embd: 896, n_params: 494032768, size: 397807616 }
        return json(ex, { object: "list", data: [{ id: modelId(config), object: "model", created: Math.floor(readyAt / 1000), owned_by: "llamacpp", meta }] })
      }
      if (!authorized(ex)) return error(ex, 401, "Invalid API Key")
      if (ex.method === "GET" && path === "/") return Send.text(ex.reply, 200, "<!DOCTYPE html><html><body>llama.cpp server</body></html>", "text/html; charset=utf-8")
      if (ex.method === "GET" && path === "/props") return json(ex, props(config))
      if (ex.method === "GET" && path === "/slots") {
        if (config.noSlots) return error(ex, 501, "This server does not support slots endpoint. Start it with `--slots`")
        return json(ex, config.slots.view())
      }
      if (ex.method === "POST" && (path === "/v1/chat/completions" || path === "/chat/completions")) return chat(config, ex)
      if (ex.method === "POST" && (path === "/v1/embeddings" || path === "/embeddings")) return embeddings(config, ex)
      error(ex, 404, "File Not Found")
    },
    fail(ex, fault) {
      error(ex, fault.status, fault.message ?? (fault.status === 503 ? "Loading model" : `simulated status ${fault.status}`))
    },
    state: () => ({ loading: loading(), model: modelId(config), busy: config.slots.busy, queued: config.slots.queued })
  }
}
