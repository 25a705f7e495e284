/**
 * The Anthropic Messages API simulator: `x-api-key` and `anthropic-version` checks, the
 * `{"type":"error",...}` error shape with a request id, 529 `overloaded_error`, and the full
 * SSE event sequence (message_start, content_block_start, ping, deltas, content_block_stop,
 * message_delta, message_stop), with `event: error` for failures after the headers.
 *
 * Agent features (README, "Agent features"): `tool_use` blocks (streamed as
 * `input_json_delta` fragments, `stop_reason:"tool_use"`), `tool_result` turns answered in text,
 * `tool_choice` (auto/any/tool/none, `disable_parallel_tool_use`), and `thinking` blocks
 * (`thinking_delta`s then a `signature_delta`) when thinking is enabled.
 */
import { createHash } from "node:crypto"
import * as Agent from "../Agent.ts"
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

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** The Messages API's checks on thinking and tool turns, with its wording. */
const agentProblem = (b: Record<string, unknown>): string | undefined => {
  const thinking = b["thinking"]
  if (isRecord(thinking) && thinking["type"] === "enabled") {
    const budget = thinking["budget_tokens"]
    if (typeof budget !== "number") return "thinking.enabled.budget_tokens: Field required"
    if (budget < 1024) return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if (budget >= (b["max_tokens"] as number)) {
      return "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
    }
    const choice = b["tool_choice"]
    if (isRecord(choice) && (choice["type"] === "any" || choice["type"] === "tool")) return "Thinking may not be enabled when tool_choice forces tool use."
    // With thinking on, the assistant message that made the latest tool calls must start with
    // the thinking block (and its signature) it was answered with.
    const all = b["messages"] as ReadonlyArray<unknown>
    const last = all.findLastIndex((m) => isRecord(m) && m["role"] === "assistant")
    const final = all[last]
    const content = isRecord(final) ? final["content"] : undefined
    const blocks = Array.isArray(content) ? (content as Array<unknown>) : [{ type: "text" }]
    if (blocks.some((x) => isRecord(x) && x["type"] === "tool_use")) {
      const first = isRecord(blocks[0]) ? String(blocks[0]["type"]) : "text"
      if (first !== "thinking" && first !== "redacted_thinking") {
        return `messages.${last}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`
      }
    }
  }
  const messages = b["messages"] as ReadonlyArray<unknown>
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]
    const blocks = isRecord(m) && Array.isArray(m["content"]) ? (m["content"] as Array<unknown>) : []
    const uses = blocks.flatMap((x) => (isRecord(x) && x["type"] === "tool_use" ? [String(x["id"])] : []))
    const next = messages[i + 1]
    const nextBlocks = isRecord(next) && Array.isArray(next["content"]) ? (next["content"] as Array<unknown>) : []
    const answered = new Set(nextBlocks.flatMap((x) => (isRecord(x) && x["type"] === "tool_result" ? [String(x["tool_use_id"])] : [])))
    const missing = uses.filter((id) => !answered.has(id))
    if (missing.length > 0) {
      return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`
    }
    const prev = messages[i - 1]
    const prevUses = new Set(
      (isRecord(prev) && Array.isArray(prev["content"]) ? (prev["content"] as Array<unknown>) : []).flatMap((x) => (isRecord(x) && x["type"] === "tool_use" ? [String(x["id"])] : []))
    )
    for (let j = 0; j < blocks.length; j++) {
      const x = blocks[j]
      if (isRecord(x) && x["type"] === "tool_result" && !prevUses.has(String(x["tool_use_id"]))) {
        return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(x["tool_use_id"])}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`
      }
    }
  }
  return undefined
}

/** One streamed piece; a tool's first piece opens its block with the empty `input_json_delta`. */
type Step =
  | { readonly kind: "thinking" | "text"; readonly text: string; readonly block: number }
  | { readonly kind: "toolStart"; readonly id: string; readonly name: string; readonly block: number }
  | { readonly kind: "json"; readonly text: string; readonly block: number }

/** An opaque, deterministic stand-in for the thinking block's signature. */
const signatureOf = (thinking: string): string => createHash("sha512").update(`signature:${thinking}`).digest("base64").repeat(3)

const messages = async (config: Config, ex: Exchange): Promise<void> => {
  if (ex.jsonError !== undefined || typeof ex.json !== "object" || ex.json === null) return error(ex, 400, "There was an error parsing the body of your request.")
  const b = ex.json as Record<string, unknown>
  if (typeof b["model"] !== "string") return error(ex, 400, "model: Field required")
  if (typeof b["max_tokens"] !== "number") return error(ex, 400, "max_tokens: Field required")
  if (!Array.isArray(b["messages"])) return error(ex, 400, "messages: Field required")
  const model = b["model"]
  if ((config.models !== "any" && !config.models.includes(model)) || ex.plan.refusedModel) return error(ex, 404, `model: ${model}`)
  const problem = agentProblem(b)
  if (problem !== undefined) return error(ex, 400, problem)

  const images = findImages(b["messages"]).map((i) => ({ bytes: i.bytes, sha256: i.sha256 }))
  const prompt = lastUserText(b["messages"])
  const plain = Answer.make({ prompt, images, limit: b["max_tokens"], ...(config.tokens !== undefined ? { tokens: config.tokens } : {}) })
  const choice = b["tool_choice"]
  const turn = Agent.decide({
    tools: Agent.anthropicTools(b["tools"]),
    prompt,
    results: Agent.anthropicToolResults(b["messages"]),
    choice: Agent.anthropicChoice(choice),
    parallel: !(isRecord(choice) && choice["disable_parallel_tool_use"] === true),
    answer: plain,
    limit: b["max_tokens"]
  })
  const thinkingOn = isRecord(b["thinking"]) && (b["thinking"]["type"] === "enabled" || b["thinking"]["type"] === "adaptive")
  const thought = thinkingOn ? Agent.thinking(prompt) : []
  const steps: Array<Step> = thought.map((text) => ({ kind: "thinking", text, block: 0 }))
  let block = thought.length > 0 ? 1 : 0
  const calls: Array<{ id: string; name: string; input: Record<string, unknown> }> = []
  if (turn.kind === "calls") {
    for (const c of turn.calls) {
      const id = Keys.id("toolu_01", 22)
      calls.push({ id, name: c.name, input: c.arguments })
      steps.push({ kind: "toolStart", id, name: c.name, block })
      for (const text of Agent.fragments(JSON.stringify(c.arguments))) steps.push({ kind: "json", text, block })
      block++
    }
  } else for (const text of turn.answer.tokens) steps.push({ kind: "text", text, block })
  const stopReason = turn.kind === "calls" ? "tool_use" : turn.answer.finish === "length" ? "max_tokens" : "end_turn"
  const id = Keys.id("msg_01", 22)
  const inputTokens = Answer.promptTokens(prompt) + images.length * 1600
  const requestId = Keys.id("req_", 24)
  const headers = { "request-id": requestId, "anthropic-ratelimit-requests-limit": 4000, "anthropic-ratelimit-requests-remaining": 3999 }
  const usage = (output: number) => ({ input_tokens: inputTokens, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 })
  const plan = ex.plan
  const failure = { type: "error", error: { type: "overloaded_error", message: plan.errorBody?.message ?? "Overloaded" } }
  const thinkingText = thought.join("")

  if (b["stream"] !== true) {
    const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    if (r.outcome === "error") return Send.json(ex.reply, 200, { ...failure, request_id: requestId }, headers, "application/json")
    const text = steps.flatMap((s) => (s.kind === "text" ? [s.text] : [])).join("")
    const content = [
      ...(thinkingOn ? [{ type: "thinking", thinking: thinkingText, signature: signatureOf(thinkingText) }] : []),
      ...(turn.kind === "text" ? [{ type: "text", text }] : []),
      ...calls.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: c.input }))
    ]
    const body = { id, type: "message", role: "assistant", model, content, stop_reason: stopReason, stop_sequence: null, usage: usage(r.emitted) }
    return plan.malformedJson ? Send.malformed(ex.reply, body, headers, "application/json") : Send.json(ex.reply, 200, body, headers, "application/json")
  }

  const write = (name: string, payload: unknown) => ex.reply.write(Sse.event(name, payload))
  // Blocks nest strictly: each one stops (thinking: after its signature) before the next starts.
  let open: { index: number; kind: Step["kind"] } | undefined
  const close = () => {
    if (open === undefined) return
    if (open.kind === "thinking") write("content_block_delta", { type: "content_block_delta", index: open.index, delta: { type: "signature_delta", signature: signatureOf(thinkingText) } })
    write("content_block_stop", { type: "content_block_stop", index: open.index })
    open = undefined
  }
  const start = (s: Step) => {
    if (open?.index === s.block) return
    close()
    const contentBlock =
      s.kind === "thinking"
        ? { type: "thinking", thinking: "", signature: "" }
        : s.kind === "toolStart" || s.kind === "json"
          ? { type: "tool_use", id: s.kind === "toolStart" ? s.id : "", name: s.kind === "toolStart" ? s.name : "", input: {} }
          : { type: "text", text: "" }
    write("content_block_start", { type: "content_block_start", index: s.block, content_block: contentBlock })
    open = { index: s.block, kind: s.kind }
  }
  const emit = (s: Step) => {
    start(s)
    if (s.kind === "thinking") write("content_block_delta", { type: "content_block_delta", index: s.block, delta: { type: "thinking_delta", thinking: s.text } })
    else if (s.kind === "text") write("content_block_delta", { type: "content_block_delta", index: s.block, delta: { type: "text_delta", text: s.text } })
    else write("content_block_delta", { type: "content_block_delta", index: s.block, delta: { type: "input_json_delta", partial_json: s.kind === "json" ? s.text : "" } })
  }

  ex.reply.head(200, { ...Sse.headers, ...headers })
  write("message_start", {
    type: "message_start",
    message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: usage(1) }
  })
  // A text answer's block opens before any token (a text answer cut at 0 still shows it), then a
  // ping. A thinking or tool_use block opens with its first piece: its start is that piece's
  // token, so a fault at 0 strikes before anything a caller could see.
  const first = steps[0] ?? { kind: "text", text: "", block: 0 }
  if (first.kind === "text") start(first)
  write("ping", { type: "ping" })
  const r = await Pacer.run(ex.reply, steps, plan, config.tokenMs, emit)
  if (r.outcome === "error") return ex.reply.end(Sse.event("error", failure))
  if (r.outcome !== "complete") return
  close()
  write("message_delta", { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: r.emitted } })
  ex.reply.end(plan.malformedJson ? `event: message_stop\ndata: {"type":"message_st\n\n` : Sse.event("message_stop", { type: "message_stop" }))
}

/** `/v1/messages/count_tokens`: the request's words (system, messages, tools) as `{input_tokens}`; no `max_tokens` needed. */
const countTokens = (config: Config, ex: Exchange): void => {
  if (ex.jsonError !== undefined || !isRecord(ex.json)) return error(ex, 400, "There was an error parsing the body of your request.")
  const b = ex.json
  if (typeof b["model"] !== "string") return error(ex, 400, "model: Field required")
  if (!Array.isArray(b["messages"])) return error(ex, 400, "messages: Field required")
  if ((config.models !== "any" && !config.models.includes(b["model"])) || ex.plan.refusedModel) return error(ex, 404, `model: ${b["model"]}`)
  const words = (v: unknown): string =>
    typeof v === "string" ? v : Array.isArray(v) ? v.map(words).join(" ") : isRecord(v) ? Object.values(v).map(words).join(" ") : ""
  const images = findImages(b["messages"]).length
  const text = [words(b["system"]), words(b["messages"]), b["tools"] === undefined ? "" : JSON.stringify(b["tools"])].join(" ")
  Send.json(ex.reply, 200, { input_tokens: Answer.promptTokens(text) + images * 1600 }, { "request-id": Keys.id("req_", 24) }, "application/json")
}

export const make = (config: Config): Definition => ({
  sim: "anthropic",
  async handle(ex) {
    const key = typeof ex.req.headers["x-api-key"] === "string" ? ex.req.headers["x-api-key"] : Keys.bearer(ex.req.headers.authorization)
    if (!Keys.accepts(config.keys, key)) return error(ex, 401, "invalid x-api-key")
    if (ex.req.headers["anthropic-version"] === undefined) return error(ex, 400, "anthropic-version: header is required")
    if (ex.method === "POST" && ex.path === "/v1/messages") return messages(config, ex)
    if (ex.method === "POST" && ex.path === "/v1/messages/count_tokens") return countTokens(config, ex)
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
