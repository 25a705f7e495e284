/**
 * The Anthropic Messages API simulator: `x-api-key` and `anthropic-version` checks, the
 * `{"type":"error",...}` error shape with a request id, 529 `overloaded_error`, and the full
 * SSE event sequence (message_start, content_block_start, ping, deltas, content_block_stop,
 * message_delta, message_stop), with `event: error` for failures after the headers.
 */
import * as Answer from "../Answer.ts"
import type * as Cli from "../Cli.ts"
import type { Definition, Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText } from "../Prompt.ts"
import { findImages } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import * as Sse from "../Sse.ts"
import * as Keys from "./Keys.ts"

export const flags: ReadonlyArray<Cli.Flag> = [
  Keys.flag,
  { name: "models", type: "string", help: "models that exist, comma-separated (default: any model name)" }
]

export interface Config {
  readonly keys: Keys.Accepted
  readonly models: ReadonlyArray<string> | "any"
  readonly tokens: number | undefined
  readonly tokenMs: number
}

const errorTypes: Record<number, [string, string]> = {
  400: ["invalid_request_error", "Invalid request"],
  401: ["authentication_error", "invalid x-api-key"],
  402: ["billing_error", "Your credit balance is too low to access the Anthropic API."],
  403: ["permission_error", "Your API key does not have permission to use the specified resource."],
  404: ["not_found_error", "Not found"],
  413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
  429: ["rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"],
  500: ["api_error", "Internal server error"],
  529: ["overloaded_error", "Overloaded"]
}

const error = (ex: Exchange, status: number, message?: string, type?: string, headers: Send.Headers = {}): void => {
  const requestId = Keys.id("req_", 24)
  const [defaultType, defaultMessage] = errorTypes[status] ?? ["api_error", `Simulated status ${status}`]
  Send.json(
    ex.reply,
    status,
    { type: "error", error: { type: type ?? defaultType, message: message ?? defaultMessage }, request_id: requestId },
    { "request-id": requestId, ...headers },
    "application/json"
  )
}

const messages = async (config: Config, ex: Exchange): Promise<void> => {
  if (ex.jsonError !== undefined || typeof ex.json !== "object" || ex.json === null) return error(ex, 400, "There was an error parsing the body of your request.")
  const b = ex.json as Record<string, unknown>
  if (typeof b["model"] !== "string") return error(ex, 400, "model: Field required")
  if (typeof b["max_tokens"] !== "number") return error(ex, 400, "max_tokens: Field required")
  if (!Array.isArray(b["messages"])) return error(ex, 400, "messages: Field required")
  const model = b["model"]
  if ((config.models !== "any" && !config.models.includes(model)) || ex.plan.refusedModel) return error(ex, 404, `model: ${model}`)

  const images = findImages(b["messages"]).map((i) => ({ bytes: i.bytes, sha256: i.sha256 }))
  const prompt = lastUserText(b["messages"])
  const answer = Answer.make({ prompt, images, limit: b["max_tokens"], ...(config.tokens !== undefined ? { tokens: config.tokens } : {}) })
  const stopReason = answer.finish === "length" ? "max_tokens" : "end_turn"
  const id = Keys.id("msg_01", 22)
  const inputTokens = Answer.promptTokens(prompt) + images.length * 1600
  const requestId = Keys.id("req_", 24)
  const headers = { "request-id": requestId, "anthropic-ratelimit-requests-limit": 4000, "anthropic-ratelimit-requests-remaining": 3999 }
  const usage = (output: number) => ({ input_tokens: inputTokens, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 })
  const plan = ex.plan
  const failure = { type: "error", error: { type: "overloaded_error", message: plan.errorBody?.message ?? "Overloaded" } }

  if (b["stream"] !== true) {
    const r = await Pacer.run(ex.reply, answer.tokens, plan, config.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    if (r.outcome === "error") return Send.json(ex.reply, 200, { ...failure, request_id: requestId }, headers, "application/json")
    const body = { id, type: "message", role: "assistant", model, content: [{ type: "text", text: answer.text }], stop_reason: stopReason, stop_sequence: null, usage: usage(r.emitted) }
    return plan.malformedJson ? Send.malformed(ex.reply, body, headers, "application/json") : Send.json(ex.reply, 200, body, headers, "application/json")
  }

  ex.reply.head(200, { ...Sse.headers, ...headers })
  ex.reply.write(
    Sse.event("message_start", {
      type: "message_start",
      message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: usage(1) }
    })
  )
  ex.reply.write(Sse.event("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }))
  ex.reply.write(Sse.event("ping", { type: "ping" }))
  const r = await Pacer.run(ex.reply, answer.tokens, plan, config.tokenMs, (t) =>
    ex.reply.write(Sse.event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: t } }))
  )
  if (r.outcome === "error") return ex.reply.end(Sse.event("error", failure))
  if (r.outcome !== "complete") return
  ex.reply.write(Sse.event("content_block_stop", { type: "content_block_stop", index: 0 }))
  ex.reply.write(Sse.event("message_delta", { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: r.emitted } }))
  ex.reply.end(plan.malformedJson ? `event: message_stop\ndata: {"type":"message_st\n\n` : Sse.event("message_stop", { type: "message_stop" }))
}

export const make = (config: Config): Definition => ({
  sim: "anthropic",
  async handle(ex) {
    const key = typeof ex.req.headers["x-api-key"] === "string" ? ex.req.headers["x-api-key"] : Keys.bearer(ex.req.headers.authorization)
    if (!Keys.accepts(config.keys, key)) return error(ex, 401, "invalid x-api-key")
    if (ex.req.headers["anthropic-version"] === undefined) return error(ex, 400, "anthropic-version: header is required")
    if (ex.method === "POST" && ex.path === "/v1/messages") return messages(config, ex)
    if (ex.method === "GET" && ex.path === "/v1/models") {
      const ids = config.models === "any" ? ["claude-sonnet-4-5", "claude-haiku-4-5"] : config.models
      return Send.json(ex.reply, 200, { data: ids.map((id) => ({ type: "model", id, display_name: id, created_at: "2025-09-29T00:00:00Z" })), has_more: false, first_id: ids[0] ?? null, last_id: ids.at(-1) ?? null }, {}, "application/json")
    }
    error(ex, 404, `Not found: ${ex.method} ${ex.path}`)
  },
  fail(ex, fault) {
    const headers: Send.Headers = {}
    const retryAfter = fault.retryAfter ?? (fault.status === 429 ? 1 : undefined)
    if (retryAfter !== undefined) headers["retry-after"] = retryAfter
    if (fault.shouldRetry !== undefined) headers["x-should-retry"] = String(fault.shouldRetry)
    error(ex, fault.status, fault.message, fault.code, headers)
  }
})
