/**
 * `/api/chat` on a local Ollama (`http:`), read as a core Source: the answer every token of a
 * routed request waits on. Going through ollama-js here (its fetch, a WHATWG stream, its
 * NDJSON iterator, a promise per line) cost several times the HTTP exchange itself, so the
 * chat stream is read the way core reads OpenAI-compatible servers; ollama-js still does
 * everything else (list, pull, show) and a remote (`https:`) Ollama's chat.
 *
 * Ollama's NDJSON semantics are kept as ollama-js reads them (protocols.md §1.15): an
 * `{"error": …}` line fails the answer after the tokens before it, a body that ends without
 * `done: true` is a cut, and nothing after `done` is read.
 */
import { Backend, BackendError, HttpCall, Ndjson, Source } from "@local-router/core"
import { Either } from "effect"
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

export const open = (target: Target, backend: string, request: Chat.ChatStreamRequest): Source.Source<Backend.GenerateEvent, BackendError.BackendError> => {
  const where: Failure.Where = { backend, model: request.model, action: "chat" }
  const call: HttpCall.Call = {
    backend,
    model: request.model,
    method: "POST",
    url: `${target.host}/api/chat`,
    headers: { accept: "application/x-ndjson", ...target.headers },
    body: wireBody(request)
  }
  const exchange = HttpCall.exchange(call)
  const lines = Ndjson.decoder({ backend, model: request.model })
  let reply: HttpCall.LocalReply | undefined
  let done = false
  // A failure after some events of the same chunk waits for the next poll: the tokens before
  // it are part of what the caller sees (they decide whether the answer committed).
  let pending: BackendError.BackendError | undefined
  let terminal: Source.End | Source.Failed<BackendError.BackendError> | undefined
  const finish = (end: Source.End | Source.Failed<BackendError.BackendError>) => {
    terminal = end
    reply?.release()
    return end
  }
  const failedWith = (error: BackendError.BackendError) => finish(Source.failed(error))

  /** The events of these lines; stops at `done` or an error line. */
  const eventsOf = (parsed: Ndjson.Parsed, out: Array<Backend.GenerateEvent>) => {
    const values = Either.isRight(parsed) ? parsed.right : parsed.left[0]
    for (const value of values) {
      const chunk = value as ChatResponse & { readonly error?: unknown }
      if (typeof value === "object" && value !== null && chunk.error !== undefined && chunk.error !== null) {
        pending = Failure.classify(where, "read")(new Error(typeof chunk.error === "string" ? chunk.error : JSON.stringify(chunk.error)))
        return
      }
      out.push(...Chat.eventsOf(chunk))
      if (chunk.done === true) {
        done = true
        return
      }
    }
    if (Either.isLeft(parsed)) pending = parsed.left[1]
  }

  return {
    poll: () => {
      if (terminal) return terminal
      if (!reply) {
        const answer = exchange.poll()
        if (answer === null) return null
        if (answer instanceof BackendError.BackendError) return failedWith(Failure.classify(where, "open")(answer))
        reply = answer
        return [Backend.GenerateEvent.Start({ model: request.model })]
      }
      if (pending) return failedWith(pending)
      if (done) return finish(Source.end)
      while (true) {
        let bytes: Buffer | null | undefined
        try {
          bytes = reply.take()
        } catch (error) {
          return failedWith(HttpCall.brokenBody(call, error))
        }
        if (bytes === null) return null
        const out: Array<Backend.GenerateEvent> = []
        eventsOf(bytes === undefined ? lines.end() : lines.feed(bytes), out)
        if (bytes === undefined && !done && !pending) {
          pending = Failure.classify(where, "read")(new Error(Failure.NO_DONE))
        }
        // Done: release the body now, which keeps the connection for the next request.
        if (done) reply.release()
        if (out.length > 0) return out
        if (pending) return failedWith(pending)
        if (done) return finish(Source.end)
      }
    },
    wait: (then) => (reply ? reply.wait(then) : exchange.wait(then)),
    close: () => {
      terminal ??= Source.end
      if (reply) reply.release()
      else exchange.cancel()
    },
    cut: () => {
      terminal ??= Source.end
      exchange.cancel()
    }
  }
}
