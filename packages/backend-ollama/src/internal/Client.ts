/**
 * Where an Ollama is and how to list its models. Every call goes through core's HttpCall: the
 * chat (ChatStream.ts) and the pull (Pull.ts) as HttpCall.events streams, the model lists here.
 * ollama-js is not on any of these paths any more: its fetch, WHATWG streams and `Headers` /
 * `Response` classes cost more than the exchange and load Node's bundled undici (about 10 MB a
 * `serve` probing every minute would then keep); its types still describe the wire.
 */
import { BackendError, HttpCall } from "@local-router/core"
import type * as Redacted from "effect/Redacted"
import * as Effect from "effect/Effect"
import * as Failure from "./Failure.ts"

export interface Target {
  /** Base URL, e.g. http://127.0.0.1:11434, without a trailing slash. */
  readonly host: string
  readonly headers: Readonly<Record<string, string | Redacted.Redacted<string>>>
}

/**
 * The names in one of Ollama's model lists (`/api/tags`: installed, `/api/ps`: resident), read
 * with core's HttpCall alone. Going through ollama-js would touch the WHATWG `Headers` and
 * `Response` classes, whose first use loads Node's bundled undici: about 10 MB that a `serve`
 * probing its servers every minute would then hold for good.
 */
export const modelNames = (
  target: Target,
  where: Failure.Where,
  path: "/api/tags" | "/api/ps"
): Effect.Effect<ReadonlyArray<string>, BackendError.BackendError> =>
  HttpCall.json({ backend: where.backend, url: `${target.host}${path}`, headers: target.headers }).pipe(
    Effect.mapError(Failure.classify(where, "open")),
    Effect.flatMap((body) => {
      const models = (body as { models?: unknown } | null)?.models
      const names = Array.isArray(models) ? models.map((m) => (m as { name?: unknown } | null)?.name) : undefined
      return names?.every((name): name is string => typeof name === "string")
        ? Effect.succeed(names)
        : Effect.fail(
          new BackendError.BackendError({
            reason: "Upstream",
            backend: where.backend,
            message: `${where.backend}: ${path} answered without a list of named models`
          })
        )
    })
  )
