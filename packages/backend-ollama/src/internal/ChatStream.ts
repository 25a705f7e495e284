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
import { Backend, type BackendError, type Events, HttpCall, Ndjson } from "@local-router/core"
import * as Effect from "effect/Effect"
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

/**
 * The answer to a chat request. `pull` (autoPull) fetches a model the server does not have;
 * the request is then sent once more.
 */
export const stream = (
  target: Target,
  backend: string,
  request: Chat.ChatStreamRequest,
  read: Chat.AnswerOptions,
  pull?: (model: string) => Effect.Effect<void, BackendError.BackendError>
): Events.Events<Backend.GenerateEvent, BackendError.BackendError> => {
  const where: Failure.Where = { backend, model: request.model, action: "chat" }
  const call: HttpCall.Call = {
    backend,
    model: request.model,
    method: "POST",
    url: `${target.host}/api/chat`,
    headers: { accept: "application/x-ndjson", ...target.headers },
    body: wireBody(request)
  }
  const fromOllama = (message: string) => Failure.classify(where, "read")(new Error(message))
  /** Each line's events, up to `done` or an `{"error"}` line; a body without `done` is a cut. */
  const protocol = (): Ndjson.Protocol<Backend.GenerateEvent> => {
    // One reading per reply: a retried request (after a pull) numbers its calls afresh.
    const answer = Chat.answer(read)
    return {
      value: (value, out) => {
        if (typeof value !== "object" || value === null) return fromOllama(`a line that is not a JSON object: ${JSON.stringify(value).slice(0, 200)}`)
        const chunk = value as Chat.ChatChunk & { readonly error?: unknown }
        if (chunk.error !== undefined && chunk.error !== null) {
          return fromOllama(typeof chunk.error === "string" ? chunk.error : JSON.stringify(chunk.error))
        }
        const events = answer.eventsOf(chunk)
        if (typeof events === "string") return fromOllama(events)
        out.push(...events)
        return chunk.done === true ? "done" : undefined
      },
      end: () => fromOllama(Failure.NO_DONE)
    }
  }
  return HttpCall.events(
    call,
    () => Ndjson.reader({ backend, model: request.model }, [Backend.GenerateEvent.Start({ model: request.model })], protocol()),
    {
      refine: Failure.classify(where, "open"),
      // A missing model is a 404 before any event: pull it, then ask once more.
      // Only a 404: a model that is there but cannot do what was asked (400) is not pulled.
      retry: (error) => (pull !== undefined && error.reason === "ModelMissing" && error.status === 404 ? Effect.as(pull(request.model), call) : undefined)
    }
  )
}
