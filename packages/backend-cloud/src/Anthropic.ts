/**
 * Anthropic's Messages API, the one cloud wire that is not OpenAI-shaped: the system prompt
 * is a top-level field, images are base64 `source` blocks (no `data:` prefix), `max_tokens` is
 * required, and a stream is a sequence of named events ending with `message_stop`.
 *
 * Invariants (as for every backend): `Start` on response headers; exactly one `Done`, at
 * `message_stop`; a body that ends before `message_stop` is `StreamCut`; `event: error` after
 * the headers fails the stream (`overloaded_error` / `rate_limit_error` as Overloaded).
 *
 * Agent features (protocols.md Part 2 §E):
 * - Tools are `tools[].input_schema`; an assistant's calls are `tool_use` blocks (arguments as
 *   an object), results are `tool_result` blocks in the next user turn: all of a turn's results
 *   in one message, before any text of that message.
 * - A `tool_use` block streams as ToolCallStart, its `input_json_delta` fragments, and
 *   ToolCallEnd at its `content_block_stop` (or when another block starts: llama-server's
 *   Anthropic route defers every stop to the end); `stop_reason: tool_use` is Done tool_calls.
 * - Thinking: reasoning On is `thinking: {type: "enabled", budget_tokens}` with a budget from
 *   the effort, added to the answer's token limit (Anthropic counts thinking inside
 *   `max_tokens`); `thinking_delta` is a ReasoningDelta. Thinking is not sent back in history:
 *   Anthropic wants the block's signature with it, which the contract does not carry; so the
 *   turn that answers tool results goes without thinking (Anthropic refuses it otherwise).
 * - No JSON Schema by default (capabilities). A request that has one (for a model routing.yaml
 *   declares `jsonSchema` for) is sent as `output_config.format`, Anthropic's structured
 *   outputs; plain JSON mode has no Anthropic spelling and is left to the prompt.
 */
import { Backend, BackendError, type Events, HttpCall, Sse } from "@local-router/core"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"

export const DEFAULT_URL = "https://api.anthropic.com"
export const DEFAULT_VERSION = "2023-06-01"
export const DEFAULT_MAX_TOKENS = 4096

export interface Client {
  readonly backend: string
  /** Origin without `/v1`. */
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted<string>
  readonly version: string
  readonly defaultMaxTokens: number
}

const headersOf = (client: Client) => ({ "x-api-key": client.apiKey, "anthropic-version": client.version })

export const body = (client: Client, request: Backend.GenerateRequest): Record<string, unknown> => {
  const o = request.options ?? {}
  const system = request.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n")
  const tools = request.tools ?? []
  // Anthropic refuses thinking together with a forced tool (`any` / `tool`): the call the
  // caller requires is kept, and the thinking it also asked for is left out.
  const forced = tools.length > 0 && (request.toolChoice?._tag === "Required" || request.toolChoice?._tag === "Named")
  // With thinking on, Anthropic wants the assistant message that made the latest tool calls to
  // start with the thinking block it came with, signature included; the contract carries no
  // signature, so the turn that answers tool results is sent without thinking (the API's own
  // advice: "To avoid this requirement, disable thinking"). The next question thinks again.
  const answeringTools = (request.messages.findLast((m) => m.role === "assistant")?.toolCalls?.length ?? 0) > 0
  const budget = forced || answeringTools ? undefined : thinkingBudget(request.reasoning)
  const choice = toolChoiceOf(request.toolChoice, request.parallelToolCalls)
  return {
    ...request.extra,
    model: request.model,
    // The caller's limit is for the answer; thinking comes on top of it.
    max_tokens: (o.maxTokens ?? client.defaultMaxTokens) + (budget ?? 0),
    ...(system.length > 0 ? { system } : {}),
    messages: messagesOf(request.messages),
    ...(tools.length === 0
      ? {}
      : {
        tools: tools.map((tool) => ({
          name: tool.name,
          ...(tool.description === undefined ? {} : { description: tool.description }),
          input_schema: tool.parameters
        }))
      }),
    ...(tools.length === 0 || choice === undefined ? {} : { tool_choice: choice }),
    ...(budget === undefined ? {} : { thinking: { type: "enabled", budget_tokens: budget } }),
    ...(request.responseFormat?._tag === "JsonSchema"
      ? { output_config: { format: { type: "json_schema", schema: request.responseFormat.schema } } }
      : {}),
    // Anthropic refuses a temperature other than 1 with thinking on: the caller asked to
    // reason, so its temperature gives way; top_p is kept where thinking allows it (≥ 0.95).
    ...(o.temperature === undefined || budget !== undefined ? {} : { temperature: o.temperature }),
    ...(o.topP === undefined || (budget !== undefined && o.topP < 0.95) ? {} : { top_p: o.topP }),
    ...(o.stop === undefined || o.stop.length === 0 ? {} : { stop_sequences: [...o.stop] }),
    stream: true
  }
}

/**
 * Thinking tokens for an effort. Anthropic's minimum budget is 1024; above it, its guidance is
 * to start small and raise for harder tasks. None when reasoning is off or not asked for:
 * Anthropic does not think unless asked.
 */
export const thinkingBudget = (reasoning: Backend.Reasoning | undefined): number | undefined => {
  if (reasoning === undefined || reasoning._tag === "Off") return undefined
  switch (reasoning.effort) {
    case "minimal":
      return 1024
    case "low":
      return 2048
    case undefined:
    case "medium":
      return 8192
    case "high":
      return 24576
  }
}

/** Anthropic's tool_choice; `disable_parallel_tool_use` rides on it (there is none for `none`). */
const toolChoiceOf = (choice: Backend.ToolChoice | undefined, parallel: boolean | undefined): Record<string, unknown> | undefined => {
  const single = parallel === false ? { disable_parallel_tool_use: true } : {}
  if (choice === undefined) return parallel === false ? { type: "auto", ...single } : undefined
  switch (choice._tag) {
    case "Auto":
      return { type: "auto", ...single }
    case "None":
      return { type: "none" }
    case "Required":
      return { type: "any", ...single }
    case "Named":
      return { type: "tool", name: choice.name, ...single }
  }
}

/**
 * Anthropic tool ids match `^[a-zA-Z0-9_-]+$`. Ollama's `call_…`, llama-server's and mlx's
 * ids fit; any other character becomes `_`, the same way in a call and in its result.
 */
export const toolIdOf = (id: string): string => id.replace(/[^a-zA-Z0-9_-]/g, "_") || "toolu_unnamed"

type Block = Record<string, unknown>

const imageBlock = (image: Backend.Image): Block => ({
  type: "image",
  source: { type: "base64", media_type: image.mime, data: Buffer.from(image.data).toString("base64") }
})

/** A message's text and images as blocks, in the caller's order when it gave parts. */
const contentBlocks = (message: Backend.Message): ReadonlyArray<Block> => {
  if (message.parts !== undefined) {
    return message.parts.map((part) => (part._tag === "Text" ? { type: "text", text: part.text } : imageBlock(part.image)))
  }
  // Images first: Anthropic answers best with the image before the question about it.
  return [
    ...(message.images ?? []).map(imageBlock),
    ...(message.content.length > 0 ? [{ type: "text", text: message.content }] : [])
  ]
}

/** Arguments' JSON text as the object Anthropic wants; empty text is `{}` (as llama.cpp reads it). */
const inputOf = (call: Backend.ToolCall): unknown => {
  if (call.arguments.trim() === "") return {}
  try {
    return JSON.parse(call.arguments)
  } catch {
    // Not ours to repair: the model's text is kept, inside the object Anthropic requires.
    return { arguments: call.arguments }
  }
}

interface Turn {
  readonly role: "user" | "assistant"
  readonly blocks: Array<Block>
  /** The turn's content as a plain string, while it is one text message and nothing else. */
  plain: string | undefined
}

/**
 * The conversation as Anthropic's turns: system messages go to `system`, tool results become
 * `tool_result` blocks of a user turn, and consecutive messages of one role are one turn (the
 * results first, then the user's text), as Anthropic expects after a turn of tool calls.
 */
export const messagesOf = (messages: ReadonlyArray<Backend.Message>): ReadonlyArray<Record<string, unknown>> => {
  const turns: Array<Turn> = []
  const push = (role: Turn["role"], blocks: ReadonlyArray<Block>, plain: string | undefined) => {
    const last = turns.at(-1)
    if (last !== undefined && last.role === role) {
      last.plain = undefined
      last.blocks.push(...blocks)
    } else {
      turns.push({ role, blocks: [...blocks], plain })
    }
  }
  const plainOf = (message: Backend.Message) =>
    message.parts === undefined && (message.images ?? []).length === 0 && (message.toolCalls ?? []).length === 0 ? message.content : undefined
  for (const message of messages) {
    if (message.role === "system") continue
    if (message.role === "tool") {
      push("user", [{ type: "tool_result", tool_use_id: toolIdOf(message.toolCallId ?? ""), content: message.content }], undefined)
    } else {
      const calls = (message.toolCalls ?? []).map((call) => ({ type: "tool_use", id: toolIdOf(call.id), name: call.name, input: inputOf(call) }))
      push(message.role, [...contentBlocks(message), ...(message.role === "assistant" ? calls : [])], plainOf(message))
    }
  }
  return turns.map((turn) => ({ role: turn.role, content: turn.plain ?? turn.blocks }))
}

export const generate = (client: Client, request: Backend.GenerateRequest): Events.Events<Backend.GenerateEvent, BackendError.BackendError> => {
  const call: HttpCall.Call = {
    backend: client.backend,
    model: request.model,
    method: "POST",
    url: `${client.baseUrl}/v1/messages`,
    headers: { accept: "text/event-stream", ...headersOf(client) },
    body: body(client, request)
  }
  const source = { backend: client.backend, model: request.model }
  return HttpCall.events(call, () => Sse.reader(source, [Backend.GenerateEvent.Start({ model: request.model })], protocol(source)))
}

/** Messages API SSE events -> GenerateEvents (everything after Start), up to `message_stop`. */
export const protocol = (source: Sse.Source): Sse.Protocol<Backend.GenerateEvent> => {
  let inputTokens: number | undefined
  let outputTokens: number | undefined
  let finish: Backend.FinishReason = "stop"
  /** Content block index -> our tool-call index, for the tool_use blocks. */
  const calls = new Map<number, number>()
  /** Our index of the tool call whose block is open. */
  let open: number | undefined
  const endCall = (out: Array<Backend.GenerateEvent>) => {
    if (open !== undefined) out.push(Backend.GenerateEvent.ToolCallEnd({ index: open }))
    open = undefined
  }
  const fail = (reason: BackendError.Reason, message: string) =>
    new BackendError.BackendError({
      reason,
      backend: source.backend,
      ...(source.model === undefined ? {} : { model: source.model }),
      message
    })
  return {
    event: (event, out) => {
      let data: unknown
      try {
        data = JSON.parse(event.data)
      } catch {
        return fail("Upstream", `${source.backend} sent an event that is not JSON: ${event.data.slice(0, HttpCall.maxErrorText)}`)
      }
      if (!isRecord(data)) return fail("Upstream", `${source.backend} sent an event that is not a JSON object`)
      const type = typeof data["type"] === "string" ? data["type"] : event.event
      switch (type) {
        case "message_start": {
          const usage = isRecord(data["message"]) ? data["message"]["usage"] : undefined
          if (isRecord(usage) && typeof usage["input_tokens"] === "number") inputTokens = usage["input_tokens"]
          return undefined
        }
        case "content_block_start": {
          // Blocks follow one another; a tool call still open ends when the next block begins.
          endCall(out)
          const block = data["content_block"]
          if (!isRecord(block)) return undefined
          if (block["type"] === "tool_use") {
            const id = block["id"]
            const name = block["name"]
            if (typeof id !== "string" || typeof name !== "string" || name.length === 0) {
              return fail("Upstream", `${source.backend} started a tool_use block without an id or a name`)
            }
            const index = calls.size
            calls.set(typeof data["index"] === "number" ? data["index"] : -1 - index, index)
            open = index
            out.push(Backend.GenerateEvent.ToolCallStart({ index, id, name }))
            // A server that sends the whole input here (not Anthropic: it starts with `{}`).
            const input = block["input"]
            if (isRecord(input) && Object.keys(input).length > 0) {
              out.push(Backend.GenerateEvent.ToolCallDelta({ index, arguments: JSON.stringify(input) }))
            }
          } else if (block["type"] === "text" && typeof block["text"] === "string" && block["text"].length > 0) {
            out.push(Backend.GenerateEvent.TextDelta({ text: block["text"] }))
          }
          return undefined
        }
        case "content_block_delta": {
          const delta = data["delta"]
          if (!isRecord(delta)) return undefined
          if (delta["type"] === "text_delta" && typeof delta["text"] === "string" && delta["text"].length > 0) {
            out.push(Backend.GenerateEvent.TextDelta({ text: delta["text"] }))
          } else if (delta["type"] === "thinking_delta" && typeof delta["thinking"] === "string" && delta["thinking"].length > 0) {
            out.push(Backend.GenerateEvent.ReasoningDelta({ text: delta["thinking"] }))
          } else if (delta["type"] === "input_json_delta" && typeof delta["partial_json"] === "string") {
            const index = typeof data["index"] === "number" ? calls.get(data["index"]) : open
            if (index === undefined || index !== open) {
              return fail("Upstream", `${source.backend} sent tool input for block ${String(data["index"])}, which is not an open tool_use block`)
            }
            if (delta["partial_json"].length > 0) out.push(Backend.GenerateEvent.ToolCallDelta({ index, arguments: delta["partial_json"] }))
          }
          // signature_delta, citations_delta: nothing the contract carries.
          return undefined
        }
        case "content_block_stop": {
          if (typeof data["index"] === "number" && calls.get(data["index"]) === open) endCall(out)
          return undefined
        }
        case "message_delta": {
          const delta = data["delta"]
          if (isRecord(delta) && typeof delta["stop_reason"] === "string") finish = finishReasonOf(delta["stop_reason"])
          const usage = data["usage"]
          if (isRecord(usage) && typeof usage["output_tokens"] === "number") outputTokens = usage["output_tokens"]
          return undefined
        }
        case "message_stop": {
          endCall(out)
          const usage: Backend.Usage = {
            ...(inputTokens === undefined ? {} : { inputTokens }),
            ...(outputTokens === undefined ? {} : { outputTokens })
          }
          if (inputTokens !== undefined || outputTokens !== undefined) out.push(Backend.GenerateEvent.Usage({ usage }))
          // A turn that called tools ended in them, even from a server that says end_turn.
          out.push(Backend.GenerateEvent.Done({ finishReason: calls.size > 0 && finish === "stop" ? "tool_calls" : finish }))
          return "done"
        }
        case "error": {
          const inner = isRecord(data["error"]) ? data["error"] : {}
          const kind = typeof inner["type"] === "string" ? inner["type"] : "error"
          const said = HttpCall.describeError(data) ?? kind
          return fail(kind === "overloaded_error" || kind === "rate_limit_error" ? "Overloaded" : "Upstream", `${source.backend} failed mid-answer: ${said}`)
        }
        default:
          // ping, and event types added after this was written.
          return undefined
      }
    },
    end: () => fail("StreamCut", `${source.backend} ended the answer without message_stop${open === undefined ? "" : ", in the middle of a tool call"}`)
  }
}

export const finishReasonOf = (reason: string): Backend.FinishReason =>
  reason === "end_turn" || reason === "stop_sequence"
    ? "stop"
    : reason === "max_tokens"
    ? "length"
    : reason === "tool_use"
    ? "tool_calls"
    : "other"

export const models = (client: Client): Effect.Effect<ReadonlyArray<string>, BackendError.BackendError> =>
  HttpCall.json({ backend: client.backend, url: `${client.baseUrl}/v1/models?limit=1000`, headers: headersOf(client) }).pipe(
    Effect.flatMap((json) => {
      const data = isRecord(json) && Array.isArray(json["data"]) ? json["data"] : undefined
      if (data === undefined) {
        return Effect.fail(
          new BackendError.BackendError({ reason: "Upstream", backend: client.backend, message: `${client.backend} answered /v1/models without "data"` })
        )
      }
      return Effect.succeed(data.flatMap((m) => (isRecord(m) && typeof m["id"] === "string" ? [m["id"]] : [])))
    })
  )

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null
