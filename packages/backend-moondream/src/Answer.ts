/**
 * Caption and query, the two Moondream functions that fit the generic contract: the wire
 * request for a GenerateRequest, and the events of Station's answer, streamed (SSE
 * `{"chunk"}` … `{"completed": true}`) or whole (`{"caption"}` / `{"answer"}`).
 */
import { Backend, BackendError, type HttpCall, Sse } from "@local-router/core"
import * as StationError from "./StationError.ts"

export interface WireRequest {
  /** The function: `caption` or `query`. */
  readonly fn: "caption" | "query"
  readonly body: Readonly<Record<string, unknown>>
}

/** Station decodes a data URL by dropping everything up to the comma; the cloud wants one. */
export const dataUrl = (image: Backend.Image): string => `data:${image.mime};base64,${Buffer.from(image.data).toString("base64")}`

const settingsOf = (options: Backend.Options | undefined) => {
  const settings = {
    ...(options?.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(options?.topP === undefined ? {} : { top_p: options.topP }),
    ...(options?.maxTokens === undefined ? {} : { max_tokens: options.maxTokens })
  }
  return Object.keys(settings).length === 0 ? {} : { settings }
}

/**
 * The wire request, or BadRequest when there is no image (Moondream cannot answer without
 * one). The image is the last one sent; the question is the last user message. A chat with
 * an image and no words is a caption.
 */
export const toWire = (
  backend: string,
  request: Backend.GenerateRequest,
  timeoutSeconds: number | undefined
): WireRequest | BackendError.BackendError => {
  const image = request.messages.flatMap((m) => m.images ?? []).at(-1)
  if (image === undefined) {
    return new BackendError.BackendError({
      reason: "BadRequest",
      backend,
      model: request.model,
      message: `${backend}: Moondream answers questions about an image, and the request has none`
    })
  }
  const common = {
    image_url: dataUrl(image),
    stream: true,
    ...settingsOf(request.options),
    ...(timeoutSeconds === undefined ? {} : { timeout: timeoutSeconds })
  }
  const question = request.messages.filter((m) => m.role === "user").at(-1)?.content.trim() ?? ""
  if (request.task?._tag === "Caption" || question === "") {
    return { fn: "caption", body: { ...common, length: request.task?._tag === "Caption" ? request.task.length : "normal" } }
  }
  return { fn: "query", body: { ...common, question } }
}

/** What one SSE event's JSON stands for; `undefined` for events that say nothing to us (stats). */
export const eventsOfChunk = (backend: string, model: string, data: unknown): ReadonlyArray<Backend.GenerateEvent> | BackendError.BackendError => {
  const error = StationError.fromBody(backend, data, model)
  if (error) return error
  if (typeof data !== "object" || data === null) {
    return new BackendError.BackendError({ reason: "Upstream", backend, model, message: `${backend}: an SSE event that is not an object: ${JSON.stringify(data)}` })
  }
  const record = data as Record<string, unknown>
  const events: Array<Backend.GenerateEvent> = []
  // The cloud sends `chunk` on every event, the last one too (with `completed: true`).
  if (typeof record["chunk"] === "string" && record["chunk"] !== "") events.push(Backend.GenerateEvent.TextDelta({ text: record["chunk"] }))
  if (record["completed"] === true) events.push(Backend.GenerateEvent.Done({ finishReason: "stop" }))
  // `stats.tokens` counts words, not model tokens (protocols.md §3.4), so it is not Usage.
  return events
}

/** A whole (non-SSE) answer: a 200-with-error, or `{"caption"}` / `{"answer"}` from a server that did not stream. */
export const eventsOfBody = (backend: string, model: string, body: unknown): ReadonlyArray<Backend.GenerateEvent> | BackendError.BackendError => {
  const error = StationError.fromBody(backend, body, model)
  if (error) return error
  const record = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>
  const text = typeof record["caption"] === "string" ? record["caption"] : typeof record["answer"] === "string" ? record["answer"] : undefined
  if (text === undefined) {
    return new BackendError.BackendError({ reason: "Upstream", backend, model, message: `${backend}: an answer with neither caption nor answer: ${JSON.stringify(body).slice(0, 200)}` })
  }
  return [
    Backend.GenerateEvent.Start({ model }),
    ...(text === "" ? [] : [Backend.GenerateEvent.TextDelta({ text })]),
    Backend.GenerateEvent.Done({ finishReason: "stop" })
  ]
}

/**
 * How Station's answer becomes events (for HttpCall.events): an SSE stream from `Start` to
 * `{"completed": true}` (a stream that ends without it is a cut), or, when the reply is not
 * SSE although we asked for it, a whole body read before `Start` (a 200-with-error must
 * never look accepted).
 */
export const reader = (backend: string, model: string, reply: HttpCall.Reply): HttpCall.Reader<Backend.GenerateEvent> => {
  if (!(reply.header("content-type") ?? "").includes("text/event-stream")) {
    const parts: Array<Buffer> = []
    return {
      events: [],
      read: (bytes) => {
        if (bytes) {
          parts.push(bytes)
          return { events: [] }
        }
        const text = Buffer.concat(parts).toString("utf8")
        const body = parsed(text)
        const events = body === notJson ? notJsonError(backend, "the answer", text) : eventsOfBody(backend, model, body)
        return events instanceof BackendError.BackendError ? { events: [], failure: events } : { events, done: true }
      }
    }
  }
  return Sse.reader<Backend.GenerateEvent>({ backend, model }, [Backend.GenerateEvent.Start({ model })], {
    event: (event, out) => {
      const data = parsed(event.data)
      const events = data === notJson ? notJsonError(backend, "an SSE event", event.data) : eventsOfChunk(backend, model, data)
      if (events instanceof BackendError.BackendError) return events
      out.push(...events)
      return events.some((e) => e._tag === "Done") ? "done" : undefined
    },
    end: () => new BackendError.BackendError({ reason: "StreamCut", backend, model, message: `${backend}: the stream ended without {"completed": true}` })
  })
}

const notJson = Symbol("not JSON")

const parsed = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    // Said by the caller, with what it was reading.
    return notJson
  }
}

const notJsonError = (backend: string, what: string, text: string) =>
  new BackendError.BackendError({ reason: "Upstream", backend, message: `${backend}: ${what} is not JSON: ${text.slice(0, 200)}` })
