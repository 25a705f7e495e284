/**
 * `/api/chat`, read the one way core reads every streamed answer (HttpCall.events): the answer
 * every token of a routed request waits on. Going through ollama-js here (its fetch, a WHATWG
 * stream, its NDJSON iterator, a promise per line) cost several times the HTTP exchange
 * itself; ollama-js still does the rest (pull, show).
 *
 * Ollama's NDJSON semantics are kept as ollama-js reads them (protocols.md §1.15): an
 * `{"error": …}` line fails the answer after the tokens before it, a body that ends without
 * `done: true` is a cut, and nothing after `done` is read.
 */
import { Backend, type BackendError, HttpCall, Ndjson } from "@local-router/core"
import type * as Stream from "effect/Stream"
import * as Either from "effect/Either"
import type { ChatResponse } from "ollama"
import * as Chat from "../Chat.ts"
import type { Target } from "./Client.ts"
import * as Failure from "./Failure.ts"

/** The chat request as Ollama reads it off the wire: images base64-encoded, as ollama-js sends them. */
export const wireBody = (request: Chat.ChatStreamRequest): Record<string, unknown> => ({
  ...request,
  messages: request.messages.map((m) =>
    m.images === undefined
      ? m
      : { ...m, images: m.images.map((image) => (typeof image === "string" ? image : Buffer.from(image).toString("base64"))) }
  )
})

export const stream = (target: Target, backend: string, request: Chat.ChatStreamRequest): Stream.Stream<Backend.GenerateEvent, BackendError.BackendError> => {
  const where: Failure.Where = { backend, model: request.model, action: "chat" }
  const call: HttpCall.Call = {
    backend,
    model: request.model,
    method: "POST",
    url: `${target.host}/api/chat`,
    headers: { accept: "application/x-ndjson", ...target.headers },
    body: wireBody(request)
  }
  const lines = Ndjson.decoder({ backend, model: request.model })
  const fromOllama = (message: string) => Failure.classify(where, "read")(new Error(message))

  /** The events of one chunk's lines: up to `done`, or up to an `{"error"}` line. */
  const read = (bytes: Buffer | undefined): HttpCall.Read<Backend.GenerateEvent> => {
    const parsed = bytes === undefined ? lines.end() : lines.feed(bytes)
    const events: Array<Backend.GenerateEvent> = []
    for (const value of Either.isRight(parsed) ? parsed.right : parsed.left[0]) {
      const chunk = value as ChatResponse & { readonly error?: unknown }
      if (typeof value === "object" && value !== null && chunk.error !== undefined && chunk.error !== null) {
        return { events, failure: fromOllama(typeof chunk.error === "string" ? chunk.error : JSON.stringify(chunk.error)) }
      }
      events.push(...Chat.eventsOf(chunk))
      if (chunk.done === true) return { events, done: true }
    }
    if (Either.isLeft(parsed)) return { events, failure: parsed.left[1] }
    return bytes === undefined ? { events, failure: fromOllama(Failure.NO_DONE) } : { events }
  }

  return HttpCall.events(
    call,
    () => ({ events: [Backend.GenerateEvent.Start({ model: request.model })], read }),
    Failure.classify(where, "open")
  )
}
