/**
 * The OpenAI Chat Completions simulator, with an OpenRouter mode (flag, or the request header
 * `x-sim-openrouter: 1`): same request and stream shapes, but `: OPENROUTER PROCESSING`
 * comments in streams, numeric `error.code`, and errors after generation as HTTP 200 with
 * `finish_reason: "error"`.
 *
 * Agent features (README, "Agent features"): tool calls streamed as a header delta then
 * argument fragments, `tool_choice` and `parallel_tool_calls` honoured, `response_format`
 * json_object / json_schema, reasoning text in the field `--reasoning-field` names (none for
 * OpenAI, `reasoning` for OpenRouter), and `/v1/embeddings` (float or base64, `dimensions`).
 */
import * as Agent from "../Agent.ts"
import * as Answer from "../Answer.ts"
import type * as Cli from "../Cli.ts"
import type { Definition, Exchange, StatusFault } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText } from "../Prompt.ts"
import { findImages } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import * as Sse from "../Sse.ts"
import * as Vectors from "../Vectors.ts"
import * as Keys from "./Keys.ts"

export const flags: ReadonlyArray<Cli.Flag> = [
  Keys.flag,
  { name: "models", type: "string", help: "models that exist, comma-separated, or * (default: gpt-4o-mini,gpt-4o; OpenRouter: openai/gpt-4o-mini,anthropic/claude-sonnet-4.5)" },
  { name: "openrouter", type: "boolean", help: "behave as OpenRouter (also per request: header x-sim-openrouter: 1)" },
  {
    name: "reasoning-field",
    type: "string",
    help: "where requested reasoning text goes: none (OpenAI: only reasoning_tokens), reasoning (OpenRouter, vLLM), reasoning_content (DeepSeek, llama.cpp) (default: none; OpenRouter: reasoning)"
  }
]

export interface Config {
  readonly keys: Keys.Accepted
  readonly models: ReadonlyArray<string> | "any"
  readonly openrouter: boolean
  readonly tokens: number | undefined
  readonly tokenMs: number
  /** undefined = the mode's default (none for OpenAI, `reasoning` for OpenRouter). */
  readonly reasoningField?: "none" | "reasoning" | "reasoning_content" | undefined
}

/** Embedding models and their native sizes; ada-002 cannot be shortened. */
export const embeddingModels: Record<string, { dims: number; shortens: boolean }> = {
  "text-embedding-3-small": { dims: 1536, shortens: true },
  "text-embedding-3-large": { dims: 3072, shortens: true },
  "text-embedding-ada-002": { dims: 1536, shortens: false },
  "openai/text-embedding-3-small": { dims: 1536, shortens: true }
}

export const openAiModels = ["gpt-4o-mini", "gpt-4o"]
export const openRouterModels = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"]

const isOpenRouter = (config: Config, ex: Exchange): boolean => config.openrouter || ex.req.headers["x-sim-openrouter"] === "1"

const rateHeaders = (): Send.Headers => ({
  "x-request-id": Keys.id("req_", 32),
  "openai-processing-ms": 42,
  "x-ratelimit-limit-requests": 10000,
  "x-ratelimit-remaining-requests": 9999,
  "x-ratelimit-reset-requests": "6ms",
  "x-ratelimit-limit-tokens": 200000,
  "x-ratelimit-remaining-tokens": 199000,
  "x-ratelimit-reset-tokens": "300ms"
})

const openAiType = (status: number): string => (status >= 500 ? "server_error" : "invalid_request_error")

/** Writes an error in the dialect of the current mode; `code`/`type` follow OpenAI's conventions. */
const error = (
  ex: Exchange,
  openrouter: boolean,
  status: number,
  message: string,
  extra: { type?: string; code?: string | null; param?: string | null; headers?: Send.Headers } = {}
): void => {
  const body = openrouter
    ? { error: { code: status, message, metadata: {} } }
    : { error: { message, type: extra.type ?? openAiType(status), param: extra.param ?? null, code: extra.code ?? null } }
  Send.json(ex.reply, status, body, { ...rateHeaders(), ...extra.headers }, "application/json")
}

const statusDefaults = (fault: StatusFault): { message: string; type: string; code: string | null } => {
  if (fault.status === 429 && fault.code === "insufficient_quota") {
    return { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", code: "insufficient_quota" }
  }
  if (fault.status === 429) {
    return { message: "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.", type: "requests", code: "rate_limit_exceeded" }
  }
  if (fault.status === 500) return { message: "The server had an error while processing your request. Sorry about that!", type: "server_error", code: null }
  if (fault.status >= 500) return { message: "The server is overloaded or not ready yet.", type: "server_error", code: null }
  return { message: `Simulated status ${fault.status}`, type: "invalid_request_error", code: fault.code ?? null }
}

type Step =
  | { readonly kind: "reasoning" | "content"; readonly text: string }
  | { readonly kind: "header"; readonly index: number; readonly id: string; readonly name: string }
  | { readonly kind: "arguments"; readonly index: number; readonly text: string }

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** The request checks OpenAI makes on tool turns and response formats, with its wording. */
const agentProblem = (b: Record<string, unknown>, tools: ReadonlyArray<Agent.Tool>): { message: string; param: string } | undefined => {
  const choice = b["tool_choice"]
  if (choice !== undefined && choice !== null && tools.length === 0) {
    return { message: "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", param: "tool_choice" }
  }
  const named = Agent.openAiChoice(choice)
  if (named.kind === "named" && !tools.some((t) => t.name === named.name)) {
    return { message: `Tool choice 'function' '${named.name}' not found in 'tools' parameter.`, param: "tool_choice" }
  }
  const messages = b["messages"] as ReadonlyArray<unknown>
  const pending = new Set<string>()
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]
    if (!isRecord(m)) continue
    if (m["role"] === "tool") {
      const id = String(m["tool_call_id"] ?? "")
      if (!pending.has(id)) return { message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", param: `messages.[${i}].role` }
      pending.delete(id)
      continue
    }
    if (pending.size > 0) {
      return {
        message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...pending].join(", ")}`,
        param: "messages"
      }
    }
    if (m["role"] === "assistant" && Array.isArray(m["tool_calls"])) for (const c of m["tool_calls"]) if (isRecord(c)) pending.add(String(c["id"] ?? ""))
  }
  const rf = b["response_format"]
  if (isRecord(rf) && rf["type"] === "json_object" && !JSON.stringify(messages).toLowerCase().includes("json")) {
    return { message: "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", param: "messages" }
  }
  if (isRecord(rf) && rf["type"] === "json_schema" && !(isRecord(rf["json_schema"]) && typeof rf["json_schema"]["name"] === "string")) {
    return { message: "Missing required parameter: 'response_format.json_schema.name'.", param: "response_format.json_schema.name" }
  }
  return undefined
}

const formatOf = (rf: unknown): Agent.Format | undefined => {
  if (!isRecord(rf)) return undefined
  if (rf["type"] === "json_object") return { kind: "json" }
  if (rf["type"] === "json_schema" && isRecord(rf["json_schema"])) return { kind: "schema", schema: rf["json_schema"]["schema"] ?? {} }
  return undefined
}

/** OpenAI's reasoning models (o-series, gpt-5, gpt-oss), the ones that take `reasoning_effort`. */
export const reasoningModel = (model: string): boolean => /^(openai\/)?(o\d|gpt-5|gpt-oss)/.test(model)

/** Whether the request asks for reasoning: `reasoning_effort`, or OpenRouter's `reasoning` / `include_reasoning`. */
const wantsReasoning = (b: Record<string, unknown>): boolean => {
  const effort = b["reasoning_effort"]
  if (typeof effort === "string") return effort !== "none"
  const r = b["reasoning"]
  if (isRecord(r)) return r["enabled"] !== false && r["effort"] !== "none" && r["exclude"] !== true
  return b["include_reasoning"] === true
}

const chat = async (config: Config, ex: Exchange, openrouter: boolean): Promise<void> => {
  if (ex.jsonError !== undefined || typeof ex.json !== "object" || ex.json === null) {
    return error(ex, openrouter, 400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)")
  }
  const b = ex.json as Record<string, unknown>
  const model = typeof b["model"] === "string" ? b["model"] : ""
  if (model === "") return error(ex, openrouter, 400, "you must provide a model parameter", { param: "model" })
  if (!Array.isArray(b["messages"])) {
    return error(ex, openrouter, 400, "Missing required parameter: 'messages'.", { param: "messages", code: "missing_required_parameter" })
  }
  const known = config.models === "any" || config.models.includes(model)
  if (!known || ex.plan.refusedModel) {
    return error(ex, openrouter, openrouter ? 400 : 404, openrouter ? `${model} is not a valid model ID` : `The model \`${model}\` does not exist or you do not have access to it.`, {
      code: "model_not_found"
    })
  }
  // OpenAI itself refuses a reasoning effort for a model that does not reason; OpenRouter and
  // OpenAI-compatible servers that show reasoning text (--reasoning-field) take it.
  const field = config.reasoningField ?? (openrouter ? "reasoning" : "none")
  if (!openrouter && field === "none" && b["reasoning_effort"] !== undefined && !reasoningModel(model)) {
    return error(ex, false, 400, "Unsupported parameter: 'reasoning_effort' is not supported with this model.", { param: "reasoning_effort", code: "unsupported_parameter" })
  }
  const tools = Agent.functionTools(b["tools"])
  const problem = agentProblem(b, tools)
  if (problem !== undefined) return error(ex, openrouter, 400, problem.message, { param: problem.param })

  const images = findImages(b["messages"]).map((i) => ({ bytes: i.bytes, sha256: i.sha256 }))
  const limitRaw = b["max_completion_tokens"] ?? b["max_tokens"]
  const limit = typeof limitRaw === "number" ? limitRaw : undefined
  const prompt = lastUserText(b["messages"])
  const plain = Answer.make({ prompt, images, ...(config.tokens !== undefined ? { tokens: config.tokens } : {}), ...(limit !== undefined ? { limit } : {}) })
  const turn = Agent.decide({
    tools,
    prompt,
    results: Agent.trailingToolResults(b["messages"]),
    choice: Agent.openAiChoice(b["tool_choice"]),
    parallel: b["parallel_tool_calls"] !== false,
    answer: plain,
    limit
  })
  const format = formatOf(b["response_format"])
  const answer = turn.kind === "text" && format !== undefined ? Agent.structuredAnswer(format, prompt, turn.answer.text) : turn.kind === "text" ? turn.answer : undefined
  const thought = wantsReasoning(b) ? Agent.thinking(prompt) : []
  const steps: Array<Step> = field === "none" ? [] : thought.map((text) => ({ kind: "reasoning", text }))
  if (turn.kind === "calls") {
    turn.calls.forEach((c, index) => {
      steps.push({ kind: "header", index, id: Keys.id("call_", 24), name: c.name })
      for (const text of Agent.fragments(JSON.stringify(c.arguments))) steps.push({ kind: "arguments", index, text })
    })
  } else for (const text of answer?.tokens ?? []) steps.push({ kind: "content", text })
  const finishReason = turn.kind === "calls" ? "tool_calls" : (answer?.finish ?? "stop")

  const id = openrouter ? Keys.id("gen-", 24) : Keys.id("chatcmpl-", 29)
  const created = Math.floor(Date.now() / 1000)
  const promptTokens = Answer.promptTokens(prompt) + images.length * 85
  const usage = (n: number) => ({
    prompt_tokens: promptTokens,
    completion_tokens: n + (field === "none" ? thought.length : 0),
    total_tokens: promptTokens + n + (field === "none" ? thought.length : 0),
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: thought.length }
  })
  const provider = openrouter ? { provider: "OpenAI" } : {}
  const headers = { ...rateHeaders(), ...(openrouter ? { "X-Generation-Id": id } : {}) }
  const plan = ex.plan
  const failure = plan.errorBody?.message ?? "Provider disconnected unexpectedly"

  if (b["stream"] !== true) {
    const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    const errored = r.outcome === "error"
    const text = steps.flatMap((s) => (s.kind === "content" ? [s.text] : [])).join("")
    const reasoning = steps.flatMap((s) => (s.kind === "reasoning" ? [s.text] : [])).join("")
    const calls = steps.flatMap((s) =>
      s.kind === "header"
        ? [{ id: s.id, type: "function", function: { name: s.name, arguments: steps.flatMap((a) => (a.kind === "arguments" && a.index === s.index ? [a.text] : [])).join("") } }]
        : []
    )
    const body = {
      id,
      object: "chat.completion",
      created,
      model,
      ...provider,
      system_fingerprint: "fp_sim0000001",
      service_tier: "default",
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: errored ? "" : turn.kind === "calls" ? null : text,
            ...(reasoning !== "" && !errored ? { [field]: reasoning } : {}),
            ...(calls.length > 0 && !errored ? { tool_calls: calls } : {}),
            refusal: null,
            annotations: []
          },
          logprobs: null,
          finish_reason: errored ? "error" : finishReason
        }
      ],
      usage: usage(r.emitted),
      ...(errored ? { error: openrouter ? { code: 502, message: failure } : { message: failure, type: "server_error", param: null, code: null } } : {})
    }
    return plan.malformedJson ? Send.malformed(ex.reply, body, headers, "application/json") : Send.json(ex.reply, 200, body, headers, "application/json")
  }

  const includeUsage = (b["stream_options"] as { include_usage?: unknown } | undefined)?.include_usage === true
  const base = { id, object: "chat.completion.chunk", created, model, ...provider, system_fingerprint: "fp_sim0000001", service_tier: "default" }
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {})
  })
  const delta = (s: Step): Record<string, unknown> => {
    switch (s.kind) {
      case "reasoning":
        return { [field]: s.text }
      case "content":
        return { content: s.text }
      case "header":
        return { tool_calls: [{ index: s.index, id: s.id, type: "function", function: { name: s.name, arguments: "" } }] }
      case "arguments":
        return { tool_calls: [{ index: s.index, function: { arguments: s.text } }] }
    }
  }
  ex.reply.head(200, { ...Sse.headers, ...headers })
  if (openrouter) ex.reply.write(Sse.comment("OPENROUTER PROCESSING"))
  // Recorded streams: a text turn opens with content "", a tool turn with content null.
  ex.reply.write(Sse.data(chunk(turn.kind === "calls" ? { role: "assistant", content: null } : { role: "assistant", content: "", refusal: null }, null)))
  const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, (s, i) => {
    if (openrouter && i > 0 && i % 4 === 0) ex.reply.write(Sse.comment("OPENROUTER PROCESSING"))
    ex.reply.write(Sse.data(chunk(delta(s), null)))
  })
  if (r.outcome === "error") {
    const event = openrouter
      ? { ...base, error: { code: "server_error", message: failure }, choices: [{ index: 0, delta: { content: "" }, finish_reason: "error" }] }
      : { error: { message: failure, type: "server_error", param: null, code: null } }
    return ex.reply.end(Sse.data(event))
  }
  if (r.outcome !== "complete") return
  const finish = chunk({}, finishReason)
  ex.reply.write(plan.malformedJson ? `data: ${Send.halfLine(finish)}\n\n` : Sse.data(finish))
  if (includeUsage) ex.reply.write(Sse.data({ ...base, choices: [], usage: usage(r.emitted) }))
  ex.reply.end(Sse.done)
}

/** `POST /v1/embeddings`: string or array input, `encoding_format` float|base64, `dimensions`. */
const embeddings = (ex: Exchange, openrouter: boolean): void => {
  if (ex.jsonError !== undefined || !isRecord(ex.json)) {
    return error(ex, openrouter, 400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)")
  }
  const b = ex.json
  const model = typeof b["model"] === "string" ? b["model"] : ""
  if (model === "") return error(ex, openrouter, 400, "you must provide a model parameter", { param: "model" })
  // Embedding models exist whatever --models says (that flag lists chat models).
  const spec = embeddingModels[model]
  if (spec === undefined || ex.plan.refusedModel) {
    return error(ex, openrouter, openrouter ? 400 : 404, openrouter ? `${model} is not a valid model ID` : `The model \`${model}\` does not exist or you do not have access to it.`, {
      code: "model_not_found"
    })
  }
  const input = b["input"]
  const inputs: Array<string> | undefined =
    typeof input === "string"
      ? [input]
      : Array.isArray(input) && input.length > 0
        ? input.every((i) => typeof i === "string")
          ? (input as Array<string>)
          : input.every((i) => typeof i === "number")
            ? [JSON.stringify(input)]
            : input.every((i) => Array.isArray(i))
              ? input.map((i) => JSON.stringify(i))
              : undefined
        : undefined
  if (inputs === undefined || inputs.some((i) => i === "")) {
    return error(ex, openrouter, 400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", { param: null })
  }
  const enc = b["encoding_format"] ?? "float"
  if (enc !== "float" && enc !== "base64") {
    return error(ex, openrouter, 400, `Invalid value: '${String(enc)}'. Supported values are: 'float' and 'base64'.`, { param: "encoding_format", code: "invalid_value" })
  }
  const dims = b["dimensions"]
  if (dims !== undefined && !spec.shortens) return error(ex, openrouter, 400, "This model does not support specifying dimensions.", { param: null })
  if (dims !== undefined && (typeof dims !== "number" || !Number.isInteger(dims) || dims < 1 || dims > spec.dims)) {
    return error(ex, openrouter, 400, `Invalid value for 'dimensions' = ${String(dims)}. Must be between 1 and ${spec.dims}.`, { param: "dimensions" })
  }
  const tokens = inputs.reduce((n, t) => n + Answer.promptTokens(t), 0)
  Send.json(
    ex.reply,
    200,
    {
      object: "list",
      data: inputs.map((t, index) => {
        const v = Vectors.unit(model, t, spec.dims, typeof dims === "number" ? dims : undefined)
        return { object: "embedding", index, embedding: enc === "base64" ? Vectors.base64(v) : v }
      }),
      model,
      usage: { prompt_tokens: tokens, total_tokens: tokens }
    },
    rateHeaders(),
    "application/json"
  )
}

export const make = (config: Config): Definition => ({
  sim: "openai",
  async handle(ex) {
    const openrouter = isOpenRouter(config, ex)
    // OpenRouter's base URL is /api/v1; accept it in both modes.
    const path = ex.path.startsWith("/api/v1/") ? ex.path.slice(4) : ex.path
    const key = Keys.bearer(ex.req.headers.authorization)
    if (!Keys.accepts(config.keys, key)) {
      if (openrouter) return error(ex, true, 401, key === undefined ? "No auth credentials found" : "User not found.")
      return key === undefined || key === ""
        ? error(ex, false, 401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        : error(ex, false, 401, `Incorrect API key provided: ${Keys.masked(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`, { code: "invalid_api_key" })
    }
    if (ex.method === "GET" && path === "/v1/models") {
      const ids = config.models === "any" ? (config.openrouter ? openRouterModels : openAiModels) : config.models
      return Send.json(ex.reply, 200, { object: "list", data: ids.map((id) => ({ id, object: "model", created: 1715367049, owned_by: "system" })) }, rateHeaders(), "application/json")
    }
    if (ex.method === "POST" && path === "/v1/chat/completions") return chat(config, ex, openrouter)
    if (ex.method === "POST" && path === "/v1/embeddings") return embeddings(ex, openrouter)
    error(ex, openrouter, 404, `Invalid URL (${ex.method} ${ex.path})`)
  },
  fail(ex, fault) {
    const d = statusDefaults(fault)
    const headers: Send.Headers = {}
    const retryAfter = fault.retryAfter ?? (fault.status === 429 && fault.code !== "insufficient_quota" ? 1 : undefined)
    if (retryAfter !== undefined) headers["retry-after"] = retryAfter
    if (fault.shouldRetry !== undefined) headers["x-should-retry"] = String(fault.shouldRetry)
    error(ex, isOpenRouter(config, ex), fault.status, fault.message ?? d.message, { type: d.type, code: fault.code ?? d.code, headers })
  }
})
