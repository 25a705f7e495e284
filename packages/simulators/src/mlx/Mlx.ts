/**
 * The mlx_lm.server simulator: Python http.server manners (HTTP/1.0, close-delimited SSE,
 * 411 without Content-Length, JSON-typed `Not Found`, no response at all for a bad parameter),
 * OpenAI-shaped chat and text completions with `: keepalive` comments before the first token,
 * the model echoed as the request spelled it, and one request at a time.
 *
 * Agent features as server.py has them: `tools` go to the chat template and each call comes out
 * whole when its tool tag closes (no argument fragments; `index` only when streamed; arguments
 * in Python `json.dumps` spacing; uuid4 ids; finish `tool_calls`), reasoning in the field
 * `reasoning` for thinking models unless `chat_template_kwargs.enable_thinking` is false.
 * `response_format`, `tool_choice` and `parallel_tool_calls` are never read; there are no
 * embeddings.
 */
import { randomUUID } from "node:crypto"
import { setTimeout as sleep } from "node:timers/promises"
import * as Agent from "../Agent.ts"
import * as Answer from "../Answer.ts"
import type * as Cli from "../Cli.ts"
import type { Definition, Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText, partTypes } from "../Prompt.ts"
import * as Send from "../Send.ts"
import * as Sse from "../Sse.ts"
import type { Resident } from "./Resident.ts"

export const defaultModel = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"

export const flags: ReadonlyArray<Cli.Flag> = [
  { name: "model", type: "string", default: defaultModel, help: "launch model (what `default_model` means)" },
  { name: "models", type: "string", help: "models in the fake Hugging Face cache, listed by /v1/models and loadable (default: --model)" },
  { name: "load-ms", type: "string", default: "0", help: "launch-model load and swap time, spent before response headers" },
  { name: "max-tokens", type: "string", default: "512", help: "default completion length (finish_reason length beyond it)" },
  { name: "keepalive", type: "string", default: "1", help: "`: keepalive n/m` comments before the first token" },
  { name: "keepalive-ms", type: "string", default: "0", help: "delay before each keepalive comment" },
  { name: "legacy-content-length", type: "boolean", help: "drop the connection instead of 411 when Content-Length is missing (pre-2026)" },
  { name: "legacy-not-found", type: "boolean", help: "unknown model answers 404 `Not Found` (0.26) instead of the exception text" },
  { name: "broken-model", type: "boolean", help: "the launch model fails to load: /health ok, completions hang forever" },
  { name: "no-tool-parser", type: "boolean", help: "the model's tokenizer has no tool parser: tool calls come out as <tool_call> text in content" },
  { name: "legacy-tool-call", type: "boolean", help: "finish_reason \"tool_call\" (singular) after a tool call, as before mlx-lm 8c08a46 (2026-01-20)" },
  { name: "thinking", type: "boolean", help: "every model's tokenizer has thinking tags (default: names with qwen3, deepseek-r1, thinking, magistral, gpt-oss)" }
]

export interface Config {
  readonly resident: Resident
  readonly cached: ReadonlyArray<string>
  readonly maxTokens: number
  readonly keepalive: number
  readonly keepaliveMs: number
  readonly legacyContentLength: boolean
  readonly legacyNotFound: boolean
  readonly tokens: number | undefined
  readonly tokenMs: number
  /** All models think (`--thinking`); otherwise decided by the model's name. */
  readonly thinking: boolean
  /** Old builds' singular `tool_call` finish reason. */
  readonly legacyToolCall?: boolean
  /** No tool parser for the model: server.py warns and the call stays text (Hermes-style tags). */
  readonly noToolParser?: boolean
}

/** Whether a model's tokenizer has think tags (tokenizer.has_thinking), guessed from its name. */
export const hasThinking = (config: Pick<Config, "thinking">, model: string): boolean =>
  config.thinking || /qwen3|deepseek-r1|thinking|magistral|gpt-oss/i.test(model)

/** Python's json.dumps defaults: `", "` and `": "` separators, non-ASCII kept (ensure_ascii=False). */
export const pyDumps = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(pyDumps).join(", ")}]`
  if (typeof v === "object" && v !== null) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyDumps(x)}`).join(", ")}}`
  return JSON.stringify(v) ?? "null"
}

/** process_message_content: history `arguments` are json.loads-ed, which fails on anything but a JSON string. */
const historyArgumentsError = (messages: unknown): string | undefined => {
  for (const args of Agent.historyArguments(messages)) {
    if (args === undefined || args === null || args === "") continue
    if (typeof args !== "string") return `the JSON object must be str, bytes or bytearray, not ${Array.isArray(args) ? "list" : typeof args === "object" ? "dict" : typeof args === "number" ? "int" : "bool"}`
    try {
      JSON.parse(args)
    } catch {
      return "Expecting value: line 1 column 1 (char 0)"
    }
  }
  return undefined
}

type Step = { readonly kind: "reasoning" | "content"; readonly text: string } | { readonly kind: "call"; readonly call: Agent.Call; readonly id: string }

const fingerprint = "0.31.2-0.30.1-macOS-15.5-arm64-arm-64bit-applegpu_g15s"
const cors = { "Access-Control-Allow-Origin": "*" }

const jsonReply = (ex: Exchange, status: number, value: unknown): void => Send.json(ex.reply, status, value, cors, "application/json")

/** Python's handler raised before writing: the client gets no status line at all. */
const drop = (ex: Exchange): void => ex.reply.destroy()

const isNum = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v)

/** The checks that, failing, raise inside the handler (→ connection closed, no response). */
const invalid = (b: Record<string, unknown>, kind: "chat" | "text"): boolean => {
  if (kind === "chat" && !Array.isArray(b["messages"])) return true
  if (kind === "text" && typeof b["prompt"] !== "string") return true
  if (b["stream"] !== undefined && typeof b["stream"] !== "boolean") return true
  if (b["temperature"] !== undefined && (!isNum(b["temperature"]) || (b["temperature"] as number) < 0)) return true
  for (const k of ["top_p", "min_p"]) {
    const v = b[k]
    if (v !== undefined && (!isNum(v) || (v as number) < 0 || (v as number) > 1)) return true
  }
  for (const k of ["max_tokens", "max_completion_tokens", "top_k"]) {
    if (b[k] !== undefined && !Number.isInteger(b[k])) return true
  }
  return false
}

const generate = async (config: Config, ex: Exchange, kind: "chat" | "text"): Promise<void> => {
  if (ex.req.headers["content-length"] === undefined) {
    return config.legacyContentLength ? drop(ex) : jsonReply(ex, 411, { error: "Content-Length header is required" })
  }
  if (ex.jsonError !== undefined) return jsonReply(ex, 400, { error: `Invalid JSON in request body: Expecting value: line 1 column 1 (char 0)` })
  if (typeof ex.json !== "object" || ex.json === null || Array.isArray(ex.json)) return jsonReply(ex, 400, { error: "Request should be a JSON dictionary" })
  const b = ex.json as Record<string, unknown>
  if (invalid(b, kind)) return drop(ex)
  if (kind === "chat" && partTypes(b["messages"]).some((t) => t !== "text")) {
    return jsonReply(ex, 404, { error: "Only 'text' content type is supported." })
  }
  const badHistory = kind === "chat" ? historyArgumentsError(b["messages"]) : undefined
  if (badHistory !== undefined) return jsonReply(ex, 404, { error: badHistory })
  const echo = typeof b["model"] === "string" ? b["model"] : "default_model"
  const model = echo === "default_model" ? config.resident.launchModel : echo
  const known = (model === config.resident.launchModel || config.cached.includes(model)) && !ex.plan.refusedModel

  await config.resident.exclusive(async () => {
    if (ex.reply.closed) return
    if (!known) {
      return config.legacyNotFound
        ? Send.text(ex.reply, 404, "Not Found", "application/json")
        : jsonReply(ex, 404, { error: `404 Client Error. Repository Not Found for url: https://huggingface.co/api/models/${model}/revision/main.` })
    }
    await config.resident.ensure(model, ex.reply.gone)
    if (ex.reply.closed) return
    await respond(config, ex, kind, b, echo)
  })
}

const respond = async (config: Config, ex: Exchange, kind: "chat" | "text", b: Record<string, unknown>, echo: string): Promise<void> => {
  const prompt = kind === "chat" ? lastUserText(b["messages"]) : String(b["prompt"])
  const limit = (b["max_completion_tokens"] ?? b["max_tokens"] ?? config.maxTokens) as number
  const plain = Answer.make({ prompt, limit, ...(config.tokens !== undefined ? { tokens: config.tokens } : {}) })
  const kwargs = b["chat_template_kwargs"] as { enable_thinking?: unknown } | null | undefined
  const thinks = kind === "chat" && hasThinking(config, echo === "default_model" ? config.resident.launchModel : echo) && kwargs?.enable_thinking !== false
  // tool_choice and parallel_tool_calls are never read by server.py.
  const turn =
    kind === "chat"
      ? Agent.decide({ tools: Agent.functionTools(b["tools"]), prompt, results: Agent.trailingToolResults(b["messages"]), choice: { kind: "auto" }, parallel: true, answer: plain, limit })
      : ({ kind: "text", answer: plain } as const)
  const steps: Array<Step> = thinks ? Agent.thinking(prompt).map((text) => ({ kind: "reasoning", text })) : []
  const parsed = turn.kind === "calls" && config.noToolParser !== true
  if (turn.kind === "calls" && parsed) for (const call of turn.calls) steps.push({ kind: "call", call, id: randomUUID() })
  else if (turn.kind === "calls") {
    // What a Hermes/Qwen-style template makes the model write, left as content without a parser.
    const raw = turn.calls.map((c) => `<tool_call>\n${pyDumps({ name: c.name, arguments: c.arguments })}\n</tool_call>`).join("\n")
    for (const text of Agent.wordTokens(raw)) steps.push({ kind: "content", text })
  } else for (const text of turn.answer.tokens) steps.push({ kind: "content", text })
  const madeToolCall = parsed
  const finishReason = madeToolCall ? (config.legacyToolCall === true ? "tool_call" : "tool_calls") : turn.kind === "text" ? turn.answer.finish : "stop"

  const id = kind === "chat" ? `chatcmpl-${randomUUID()}` : `cmpl-${randomUUID()}`
  const created = Math.floor(Date.now() / 1000)
  const promptTokens = Answer.promptTokens(prompt)
  const usage = (n: number) => ({ prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n, prompt_tokens_details: { cached_tokens: 0 } })
  const object = kind === "chat" ? "chat.completion" : "text_completion"
  const base = { id, system_fingerprint: fingerprint, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", model: echo, created }
  // ToolCallFormatter: index only when streaming, counted per response.
  let callIndex = 0
  const toolCall = (step: Extract<Step, { kind: "call" }>, streaming: boolean) => ({
    function: { name: step.call.name, arguments: pyDumps(step.call.arguments) },
    type: "function",
    id: step.id,
    ...(streaming ? { index: callIndex++ } : {})
  })
  const delta = (step: Step) =>
    step.kind === "call"
      ? { role: "assistant", tool_calls: [toolCall(step, true)] }
      : step.kind === "reasoning"
        ? { role: "assistant", reasoning: step.text }
        : { role: "assistant", content: step.text }
  const choice = (step: Step | undefined, finish: string | null) =>
    kind === "chat"
      ? { index: 0, finish_reason: finish, delta: step === undefined ? { role: "assistant" } : delta(step) }
      : { index: 0, finish_reason: finish, text: step !== undefined && step.kind === "content" ? step.text : "" }
  const plan = ex.plan

  if (b["stream"] !== true) {
    const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, () => {})
    // A failure after the handler started writing nothing: Python just closes the socket.
    if (r.outcome === "error") return drop(ex)
    if (r.outcome !== "complete") return
    const join = (k: "reasoning" | "content") => steps.flatMap((s) => (s.kind === k ? [s.text] : [])).join("")
    const calls = steps.flatMap((s) => (s.kind === "call" ? [toolCall(s, false)] : []))
    const text = join("content")
    const reasoning = join("reasoning")
    const message =
      kind === "chat"
        ? { message: { role: "assistant", content: text !== "" ? text : null, ...(reasoning !== "" ? { reasoning } : {}), ...(calls.length > 0 ? { tool_calls: calls } : {}) } }
        : { text }
    const body = { id, system_fingerprint: fingerprint, object, model: echo, created, choices: [{ index: 0, finish_reason: finishReason, ...message }], usage: usage(r.emitted) }
    return plan.malformedJson ? Send.malformed(ex.reply, body, cors, "application/json") : jsonReply(ex, 200, body)
  }

  ex.reply.head(200, { ...Sse.headers, ...cors })
  const total = 2048 * config.keepalive + (promptTokens % 2048)
  for (let i = 1; i <= config.keepalive; i++) {
    if (config.keepaliveMs > 0) await sleep(config.keepaliveMs)
    ex.reply.write(Sse.comment(`keepalive ${i * 2048}/${total}`))
  }
  const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, (step) => ex.reply.write(Sse.data({ ...base, choices: [choice(step, null)] })))
  if (r.outcome !== "complete") return r.outcome === "error" ? ex.reply.end() : undefined
  const last = { ...base, choices: [choice(undefined, finishReason)] }
  ex.reply.write(plan.malformedJson ? `data: ${Send.halfLine(last)}\n\n` : Sse.data(last))
  const opts = b["stream_options"]
  if (typeof opts === "object" && opts !== null) {
    const include = (opts as { include_usage?: unknown }).include_usage
    // The real server reads the key unguarded: an object without it kills the stream here.
    if (include === undefined) return ex.reply.end()
    if (include === true) ex.reply.write(Sse.data({ id, system_fingerprint: fingerprint, object: "chat.completion", model: echo, created, choices: [], usage: usage(r.emitted) }))
  }
  ex.reply.end(Sse.done)
}

export const make = (config: Config): Definition => ({
  sim: "mlx",
  http10Server: "BaseHTTP/0.6 Python/3.12.8",
  async handle(ex) {
    if (ex.method === "OPTIONS") {
      ex.reply.head(204, { ...cors, "Access-Control-Allow-Methods": "*", "Access-Control-Allow-Headers": "*" })
      return ex.reply.end()
    }
    if (ex.method === "GET" && ex.path === "/health") return jsonReply(ex, 200, { status: "ok" })
    if (ex.method === "GET" && (ex.path === "/v1/models" || ex.path.startsWith("/v1/models/"))) {
      const created = Math.floor(Date.now() / 1000)
      const all = [...new Set([...config.cached, config.resident.launchModel])]
      const wanted = ex.path.slice("/v1/models/".length)
      const data = all.filter((id) => wanted === "" || id === wanted).map((id) => ({ id, object: "model", created }))
      if (wanted !== "") return data[0] === undefined ? Send.text(ex.reply, 404, "Not Found", "application/json") : jsonReply(ex, 200, data[0])
      return jsonReply(ex, 200, { object: "list", data })
    }
    if (ex.method === "POST" && (ex.path === "/v1/chat/completions" || ex.path === "/chat/completions")) return generate(config, ex, "chat")
    if (ex.method === "POST" && ex.path === "/v1/completions") return generate(config, ex, "text")
    Send.text(ex.reply, 404, "Not Found", "application/json")
  },
  fail(ex, fault) {
    jsonReply(ex, fault.status, { error: fault.message ?? `simulated status ${fault.status}` })
  },
  state: () => ({ resident: config.resident.model ?? null, cached: config.cached })
})
