/**
 * The translation between the provider-neutral GenerateRequest / GenerateEvent and Ollama's
 * `/api/chat`. Pure: no I/O here, so it is tested with tables.
 */
import { Backend } from "@local-router/core"
import type { ChatRequest, ChatResponse, Message, Options } from "ollama"
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

export type ChatStreamRequest = ChatRequest & { readonly stream: true; readonly messages: Array<Message> }

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

export const toChatRequest = (request: Backend.GenerateRequest, options: OllamaOptions): ChatStreamRequest => {
  const messages: Array<Message> = request.messages.map((m) => ({
    role: m.role,
    content: m.content,
    // Bytes, never strings: the Node build of ollama-js reads a string image as a file path
    // when such a file exists. Bytes are base64-encoded by the client.
    ...(m.images && m.images.length > 0 ? { images: m.images.map((image) => image.data) } : {})
  }))
  const task = request.task
  if (task?._tag === "Caption") {
    const last = messages.findLastIndex((m) => m.role === "user")
    const target = messages[last]
    if (target && target.content.trim() === "") messages[last] = { ...target, content: captionPrompt[task.length] }
  }
  const keepAlive = keepAliveOf(request, options)
  const ollamaOptions = optionsOf(request, options)
  return {
    model: request.model,
    messages,
    stream: true,
    ...(keepAlive === undefined ? {} : { keep_alive: keepAlive }),
    ...(ollamaOptions === undefined ? {} : { options: ollamaOptions })
  }
}

const finishReasonOf = (doneReason: string | undefined): Backend.FinishReason =>
  doneReason === undefined || doneReason === "stop" ? "stop" : doneReason === "length" ? "length" : "other"

/** The events one NDJSON chunk of `/api/chat` stands for. Metric keys may be absent (omitempty). */
export const eventsOf = (chunk: ChatResponse): ReadonlyArray<Backend.GenerateEvent> => {
  const events: Array<Backend.GenerateEvent> = []
  const text = chunk.message?.content
  if (typeof text === "string" && text !== "") events.push(Backend.GenerateEvent.TextDelta({ text }))
  if (chunk.done === true) {
    const input = typeof chunk.prompt_eval_count === "number" ? chunk.prompt_eval_count : undefined
    const output = typeof chunk.eval_count === "number" ? chunk.eval_count : undefined
    if (input !== undefined || output !== undefined) {
      events.push(Backend.GenerateEvent.Usage({
        usage: { ...(input === undefined ? {} : { inputTokens: input }), ...(output === undefined ? {} : { outputTokens: output }) }
      }))
    }
    events.push(Backend.GenerateEvent.Done({ finishReason: finishReasonOf(chunk.done_reason) }))
  }
  return events
}
