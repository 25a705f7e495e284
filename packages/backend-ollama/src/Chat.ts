/**
 * The translation between the provider-neutral GenerateRequest / GenerateEvent and Ollama's
 * `/api/chat`. Pure: no I/O here, so it is tested with tables.
 *
 * Agent features (protocols.md Part 2 §A):
 * - Tools go as `tools` (OpenAI's shape). Ollama has no `tool_choice` and no
 *   `parallel_tool_calls`: `none` sends no tools, a named tool is sent alone, `required` cannot
 *   be forced (the model may still answer in text), and one call at most keeps the first call.
 * - An assistant's calls go back with their arguments as a JSON object; a tool result is a
 *   `role: "tool"` message with `tool_name` (Ollama matches results by name) and the call id.
 * - A call arrives whole (never in fragments): ToolCallStart, one ToolCallDelta with the whole
 *   JSON text, ToolCallEnd, at once. Its id is the server's (`call_…` today; llama-server's
 *   32 characters on the native path); a server that sends none (before 0.12) gets one made
 *   here. Calls are numbered in the order they came (Ollama's `function.index` counts the same way).
 * - Native Ollama ends a tool turn with `done_reason: "stop"`: a turn with calls is Done tool_calls.
 * - `format` is `"json"` or the JSON Schema itself; `think` is true/false or an effort, and
 *   `message.thinking` is a ReasoningDelta. Without a `reasoning` in the request, `think` is not
 *   sent, and a thinking model thinks (Ollama's default).
 */
import { Backend } from "@local-router/core"
import * as Result from "effect/Result"
import type { Options } from "ollama"
import { randomBytes } from "node:crypto"
import type { OllamaOptions } from "./OllamaOptions.ts"

/**
 * Ollama has no caption endpoint: a caption task becomes an instruction to the vision model,
 * added to the last user message when that message says nothing itself.
 */
const captionPrompt: Record<"short" | "normal" | "long", string> = {
  short: "Describe this image in one short sentence.",
  normal: "Describe this image.",
  long: "Describe this image in detail."
}

/** A tool call as Ollama reads and writes it (api.ToolCall): arguments are an object. */
export interface WireToolCall {
  readonly id?: string
  readonly function: { readonly index?: number; readonly name: string; readonly arguments: Record<string, unknown> }
}

/** A message as `/api/chat` reads it (api.Message); ollama-js's type lacks the tool fields. */
export interface WireMessage {
  readonly role: string
  readonly content: string
  readonly images?: ReadonlyArray<Uint8Array | string>
  readonly thinking?: string
  readonly tool_calls?: ReadonlyArray<WireToolCall>
  readonly tool_name?: string
  readonly tool_call_id?: string
}

export interface ChatStreamRequest {
  readonly model: string
  readonly messages: Array<WireMessage>
  readonly stream: true
  readonly tools?: ReadonlyArray<unknown>
  readonly format?: "json" | Readonly<Record<string, unknown>>
  readonly think?: boolean | "low" | "medium" | "high"
  readonly keep_alive?: string | number
  readonly options?: Partial<Options>
}

const keepAliveOf = (request: Backend.GenerateRequest, options: OllamaOptions): string | number | undefined => {
  // A per-request hint beats the backend's routing.yaml default.
  const hint = request.extra?.["keepAlive"] ?? request.extra?.["keep_alive"]
  if (typeof hint === "string" || typeof hint === "number") return hint
  return options.keepAlive
}

const optionsOf = (request: Backend.GenerateRequest, options: OllamaOptions): Partial<Options> | undefined => {
  const o = request.options
  const out: Partial<Options> = {
    ...(o?.temperature === undefined ? {} : { temperature: o.temperature }),
    ...(o?.topP === undefined ? {} : { top_p: o.topP }),
    ...(o?.maxTokens === undefined ? {} : { num_predict: o.maxTokens }),
    ...(o?.stop === undefined ? {} : { stop: [...o.stop] }),
    ...(o?.seed === undefined ? {} : { seed: o.seed }),
    ...(options.numCtx === undefined ? {} : { num_ctx: options.numCtx })
  }
  return Object.keys(out).length === 0 ? undefined : out
}

/**
 * `think`: Ollama takes "low" | "medium" | "high" (and "max") as well as booleans. gpt-oss
 * (harmony) ignores booleans and always reasons (protocols.md Part 2 §A.3): off is its least
 * effort, on its default one.
 */
const thinkOf = (reasoning: Backend.Reasoning | undefined, model: string): ChatStreamRequest["think"] => {
  if (reasoning === undefined) return undefined
  const levels = /^gpt-oss/i.test(model)
  if (reasoning._tag === "Off") return levels ? "low" : false
  if (reasoning.effort === undefined) return levels ? "medium" : true
  return reasoning.effort === "minimal" ? "low" : reasoning.effort
}

const formatOf = (format: Backend.ResponseFormat | undefined): ChatStreamRequest["format"] =>
  format === undefined || format._tag === "Text" ? undefined : format._tag === "Json" ? "json" : format.schema

/** The tools to send, after the choice Ollama cannot express itself; or what is wrong. */
const toolsOf = (request: Backend.GenerateRequest): Result.Result<ReadonlyArray<unknown> | undefined, string> => {
  const tools = request.tools ?? []
  const choice = request.toolChoice
  if (tools.length === 0) {
    return choice === undefined || choice._tag === "Auto" || choice._tag === "None"
      ? Result.succeed(undefined)
      : Result.fail(`tool choice ${choice._tag} needs tools, and the request has none`)
  }
  if (choice?._tag === "None") return Result.succeed(undefined)
  const offered = choice?._tag === "Named" ? tools.filter((tool) => tool.name === choice.name) : tools
  if (offered.length === 0 && choice?._tag === "Named") {
    return Result.fail(`tool choice names "${choice.name}", which is not one of the request's tools (${tools.map((tool) => tool.name).join(", ")})`)
  }
  return Result.succeed(offered.map((tool) => ({
    type: "function",
    function: { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters: tool.parameters }
  })))
}

/** A call's arguments as the object Ollama wants: empty text is `{}`, anything else must be a JSON object. */
const argumentsOf = (call: Backend.ToolCall): Result.Result<Record<string, unknown>, string> => {
  if (call.arguments.trim() === "") return Result.succeed({})
  try {
    const value: unknown = JSON.parse(call.arguments)
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return Result.succeed(value as Record<string, unknown>)
  } catch {
    // Reported below with the call it belongs to.
  }
  return Result.fail(`the arguments of tool call ${call.id} (${call.name}) are not a JSON object: ${call.arguments.slice(0, 200)}`)
}

/**
 * The messages on the wire. A tool result names its tool (`tool_name`): Ollama matches results
 * by name, so one without a name takes the name of the call its id points to.
 */
const messagesOf = (messages: ReadonlyArray<Backend.Message>): Result.Result<Array<WireMessage>, string> => {
  const names = new Map<string, string>()
  const out: Array<WireMessage> = []
  for (const m of messages) {
    // Bytes, never strings: the Node build of ollama-js reads a string image as a file path
    // when such a file exists. Bytes are base64-encoded on the way out (ChatStream.wireBody).
    const images = m.images && m.images.length > 0 ? { images: m.images.map((image) => image.data) } : {}
    if (m.role === "tool") {
      const name = m.toolName ?? (m.toolCallId === undefined ? undefined : names.get(m.toolCallId))
      out.push({
        role: "tool",
        content: m.content,
        ...(name === undefined ? {} : { tool_name: name }),
        ...(m.toolCallId === undefined ? {} : { tool_call_id: m.toolCallId })
      })
      continue
    }
    const calls: Array<WireToolCall> = []
    for (const call of m.toolCalls ?? []) {
      names.set(call.id, call.name)
      const args = argumentsOf(call)
      if (Result.isFailure(args)) return Result.fail(args.failure)
      calls.push({ id: call.id, function: { name: call.name, arguments: args.success } })
    }
    out.push({
      role: m.role,
      content: m.content,
      ...images,
      ...(m.role === "assistant" && m.reasoning !== undefined ? { thinking: m.reasoning } : {}),
      ...(calls.length === 0 ? {} : { tool_calls: calls })
    })
  }
  return Result.succeed(out)
}

/** The `/api/chat` body for a request, or what is wrong with the request (a BadRequest). */
export const toChatRequest = (request: Backend.GenerateRequest, options: OllamaOptions): Result.Result<ChatStreamRequest, string> => {
  const wired = messagesOf(request.messages)
  if (Result.isFailure(wired)) return Result.fail(wired.failure)
  const tools = toolsOf(request)
  if (Result.isFailure(tools)) return Result.fail(tools.failure)
  const messages = wired.success
  const task = request.task
  if (task?._tag === "Caption") {
    const last = messages.findLastIndex((m) => m.role === "user")
    const target = messages[last]
    if (target && target.content.trim() === "") messages[last] = { ...target, content: captionPrompt[task.length] }
  }
  const keepAlive = keepAliveOf(request, options)
  const ollamaOptions = optionsOf(request, options)
  const format = formatOf(request.responseFormat)
  const think = thinkOf(request.reasoning, request.model)
  return Result.succeed({
    model: request.model,
    messages,
    stream: true,
    ...(tools.success === undefined ? {} : { tools: tools.success }),
    ...(format === undefined ? {} : { format }),
    ...(think === undefined ? {} : { think }),
    ...(keepAlive === undefined ? {} : { keep_alive: keepAlive }),
    ...(ollamaOptions === undefined ? {} : { options: ollamaOptions })
  })
}

const finishReasonOf = (doneReason: string | undefined): Backend.FinishReason =>
  doneReason === undefined || doneReason === "" || doneReason === "stop" ? "stop" : doneReason === "length" ? "length" : "other"

/** A tool call's id when the server sent none: `call_` and 8 of [a-z0-9], as Ollama makes its own. */
export const makeToolCallId = (): string => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
  return `call_${Array.from(randomBytes(8), (byte) => alphabet[byte % alphabet.length]).join("")}`
}

/** One NDJSON chunk of `/api/chat`, as far as the answer reads it. */
export interface ChatChunk {
  readonly message?: { readonly role?: unknown; readonly content?: unknown; readonly thinking?: unknown; readonly tool_calls?: unknown }
  readonly done?: unknown
  readonly done_reason?: string
  readonly prompt_eval_count?: unknown
  readonly eval_count?: unknown
}

export interface AnswerOptions {
  /** Keep the first tool call only (`parallelToolCalls: false`; Ollama has no switch for it). */
  readonly oneToolCall?: boolean
}

/**
 * The reading of one answer, chunk by chunk: calls are numbered across the whole answer, and
 * the last chunk's finish says whether any was made. A call that is not a named function is
 * an error the caller reports (`string`), never a call made up.
 */
export const answer = (options: AnswerOptions = {}) => {
  let calls = 0
  return {
    eventsOf: (chunk: ChatChunk): ReadonlyArray<Backend.GenerateEvent> | string => {
      const events: Array<Backend.GenerateEvent> = []
      const thinking = chunk.message?.thinking
      if (typeof thinking === "string" && thinking !== "") events.push(Backend.GenerateEvent.ReasoningDelta({ text: thinking }))
      const text = chunk.message?.content
      if (typeof text === "string" && text !== "") events.push(Backend.GenerateEvent.TextDelta({ text }))
      const toolCalls = chunk.message?.tool_calls
      for (const call of Array.isArray(toolCalls) ? toolCalls : []) {
        const fn = typeof call === "object" && call !== null ? (call as { function?: unknown }).function : undefined
        const name = typeof fn === "object" && fn !== null ? (fn as { name?: unknown }).name : undefined
        if (typeof name !== "string" || name === "") return `a tool call without a function name: ${JSON.stringify(call).slice(0, 200)}`
        const args = (fn as { arguments?: unknown }).arguments
        const id = (call as { id?: unknown }).id
        const index = calls++
        if (options.oneToolCall === true && index > 0) continue
        events.push(
          Backend.GenerateEvent.ToolCallStart({ index, id: typeof id === "string" && id !== "" ? id : makeToolCallId(), name }),
          // Arguments are an object on this wire; a server that sent a string sent the JSON text itself.
          Backend.GenerateEvent.ToolCallDelta({ index, arguments: typeof args === "string" ? args : JSON.stringify(args ?? {}) }),
          Backend.GenerateEvent.ToolCallEnd({ index })
        )
      }
      if (chunk.done === true) {
        const input = typeof chunk.prompt_eval_count === "number" ? chunk.prompt_eval_count : undefined
        const output = typeof chunk.eval_count === "number" ? chunk.eval_count : undefined
        if (input !== undefined || output !== undefined) {
          events.push(Backend.GenerateEvent.Usage({
            usage: { ...(input === undefined ? {} : { inputTokens: input }), ...(output === undefined ? {} : { outputTokens: output }) }
          }))
        }
        const finish = finishReasonOf(chunk.done_reason)
        events.push(Backend.GenerateEvent.Done({ finishReason: calls > 0 && finish === "stop" ? "tool_calls" : finish }))
      }
      return events
    }
  }
}
