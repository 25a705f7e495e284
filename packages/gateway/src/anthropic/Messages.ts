/**
 * The answer to `POST /v1/messages` in Anthropic's shapes: a `message` object, or the SSE
 * event sequence `@anthropic-ai/sdk`'s MessageStream and Claude Code read:
 *
 *   message_start, ping, then per content block content_block_start / content_block_delta
 *   (text_delta, thinking_delta then one signature_delta, input_json_delta) / content_block_stop,
 *   each block closed before the next opens, then message_delta (stop_reason, cumulative
 *   usage) and message_stop.
 *
 * A failure after the first event is `event: error` with Anthropic's error body, and the stream
 * ends without message_delta or message_stop: the SDK throws an APIError on it.
 *
 * Block order follows the answer: reasoning, text and tool calls open blocks as they come.
 * A tool call's `input` is an object, parsed from the arguments' JSON text.
 *
 * Thinking blocks carry a `signature`, which Anthropic uses to check that a client sends its
 * model's thinking back unchanged. A local model has nothing to sign with, so the signature
 * only says where the thinking came from; the gateway accepts any signature sent back.
 *
 * `stop_sequence` is always null: no local server says which stop sequence ended an answer
 * (they report "stop" for both), so a stop is `end_turn`.
 */
import type { Backend, Router } from "@local-router/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exchange from "../Exchange.ts"
import * as Handler from "../Handler.ts"
import * as AnthropicError from "./AnthropicError.ts"
import * as MessagesRequest from "./MessagesRequest.ts"

export const stopReason = (reason: Backend.FinishReason, calledTools: boolean): "end_turn" | "max_tokens" | "tool_use" => {
  if (reason === "length") return "max_tokens"
  // Some servers end a tool turn with "stop" (Ollama always does); the calls say what happened.
  return reason === "tool_calls" || calledTools ? "tool_use" : "end_turn"
}

// Unique per process run without a random draw per request, as the OpenAI dialect's ids.
const idPrefix = Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, "0")
let idCounter = 0
const newId = () => `msg_${idPrefix}${(++idCounter).toString(36).padStart(8, "0")}`

/** What a thinking block's signature says: not a signature anyone can check, only its origin. */
const signature = (backend: string, model: string) => Buffer.from(`local-router:${backend}/${model}`).toString("base64")

/**
 * The arguments' JSON text as the `input` object Anthropic clients expect. Arguments that are
 * not a JSON object (a model's broken output) are passed on under `_raw` rather than dropped,
 * so the tool sees, and can refuse, what the model wrote.
 */
export const input = (args: string): Record<string, unknown> => {
  if (args.trim() === "") return {}
  try {
    const parsed: unknown = JSON.parse(args)
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>
  } catch {
    // Not JSON: kept as text below.
  }
  return { _raw: args }
}

const usageOf = (usage: Backend.Usage) => ({
  input_tokens: usage.inputTokens ?? 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  output_tokens: usage.outputTokens ?? 0
})

export const render = (model: string) => (answer: Router.Answer): string => {
  const calls = answer.toolCalls
  const content: Array<unknown> = []
  if (answer.reasoning !== "") content.push({ type: "thinking", thinking: answer.reasoning, signature: signature(answer.backend, answer.model) })
  if (answer.text !== "") content.push({ type: "text", text: answer.text })
  for (const call of calls) content.push({ type: "tool_use", id: call.id, name: call.name, input: input(call.arguments) })
  return JSON.stringify({
    id: newId(),
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stopReason(answer.finishReason, calls.length > 0),
    stop_sequence: null,
    usage: usageOf(answer.usage),
    local_router: { trace: answer.trace }
  })
}

const frame = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`

type Open =
  | { readonly kind: "none" }
  | { readonly kind: "text"; readonly index: number }
  | { readonly kind: "thinking"; readonly index: number }
  | { readonly kind: "tool"; readonly index: number; readonly call: number }

/**
 * One stream's encoder. Anthropic allows one open block at a time, so a block closes when
 * something of another kind begins; a tool call's block closes at its end.
 */
export const encoder = (model: string, routed: { readonly backend: string; readonly model: string }): Exchange.StreamEncoder => {
  const id = newId()
  let started = false
  let next = 0
  let open: Open = { kind: "none" }
  let calledTools = false
  /** Block index per tool call index, for argument fragments that arrive after another block opened. */
  const toolBlocks = new Map<number, number>()
  let usage: Backend.Usage = {}

  const close = (): string => {
    const was = open
    if (was.kind === "none") return ""
    open = { kind: "none" }
    const sign = was.kind === "thinking"
      ? frame("content_block_delta", { type: "content_block_delta", index: was.index, delta: { type: "signature_delta", signature: signature(routed.backend, routed.model) } })
      : ""
    return sign + frame("content_block_stop", { type: "content_block_stop", index: was.index })
  }
  /** A delta for a text or thinking block, opening one (and closing the block before) when needed. */
  const delta = (kind: "text" | "thinking", body: Record<string, string>): string => {
    let out = ""
    let index = open.kind === kind ? open.index : -1
    if (index < 0) {
      out = close()
      index = next++
      open = { kind, index }
      const block = kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" }
      out += frame("content_block_start", { type: "content_block_start", index, content_block: block })
    }
    return out + frame("content_block_delta", { type: "content_block_delta", index, delta: body })
  }

  const one = (event: Router.Event): string => {
    switch (event._tag) {
      case "TextDelta":
        return event.text === "" ? "" : delta("text", { type: "text_delta", text: event.text })
      case "ReasoningDelta":
        return event.text === "" ? "" : delta("thinking", { type: "thinking_delta", thinking: event.text })
      case "ToolCallStart": {
        const out = close()
        const index = next++
        calledTools = true
        toolBlocks.set(event.index, index)
        open = { kind: "tool", index, call: event.index }
        return out + frame("content_block_start", { type: "content_block_start", index, content_block: { type: "tool_use", id: event.id, name: event.name, input: {} } })
      }
      case "ToolCallDelta": {
        const index = toolBlocks.get(event.index)
        if (index === undefined || event.arguments === "") return ""
        return frame("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: event.arguments } })
      }
      case "ToolCallEnd":
        return open.kind === "tool" && open.call === event.index ? close() : ""
      case "Usage":
        usage = { ...usage, ...event.usage }
        return ""
      case "Done": {
        const final = { ...usage, ...event.usage }
        return close() +
          frame("message_delta", {
            type: "message_delta",
            delta: { stop_reason: stopReason(event.finishReason, calledTools), stop_sequence: null },
            usage: { input_tokens: final.inputTokens ?? 0, output_tokens: final.outputTokens ?? 0 },
            local_router: { trace: event.trace }
          }) +
          frame("message_stop", { type: "message_stop" })
      }
      case "Routed":
        return ""
    }
  }

  return {
    events: (events) => {
      let out = ""
      if (!started) {
        started = true
        out = frame("message_start", {
          type: "message_start",
          message: {
            id,
            type: "message",
            role: "assistant",
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            // The servers behind count the prompt only at the end; message_delta carries the counts.
            usage: { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }
          }
        }) + frame("ping", { type: "ping" })
      }
      for (const event of Chunk.toReadonlyArray(events)) out += one(event)
      return out
    },
    failed: (error) => frame("error", AnthropicError.body(error))
  }
}

/** `POST /v1/messages`: the request read by MessagesRequest, the answer whole or as SSE. */
export const handle: Handler.Handler = (ctx, request, started) =>
  Handler.routed(ctx, "anthropic", "anthropic_messages", request, started, (body, snapshot) =>
    Effect.flatMap(Effect.fromResult(MessagesRequest.decode(body, snapshot)), (decoded) => {
      const context = Handler.exchange(ctx, request, "anthropic", "anthropic_messages", started, decoded.model)
      return decoded.stream
        ? Exchange.stream(context, decoded.request, "text/event-stream; charset=utf-8", (routedTo) => encoder(decoded.model, routedTo))
        : Exchange.run(context, decoded.request, render(decoded.model))
    }))
