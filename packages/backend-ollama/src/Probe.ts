/**
 * The layered, token-free health check (protocols.md §1.14): `GET /` says the server is up,
 * `/api/tags` lists the installed models, `/api/ps` the resident ones. A model that is not
 * resident is not a problem: it loads on first use (slow, not down).
 */
import { Backend, HttpCall } from "@local-router/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Client from "./internal/Client.ts"
import * as Failure from "./internal/Failure.ts"

const { Probe } = Backend

/** `GET /`: Ollama answers `200 Ollama is running` once it serves HTTP. */
const root = (target: Client.Target, where: Failure.Where) => {
  const call: HttpCall.Call = { backend: where.backend, url: `${target.host}/`, headers: target.headers }
  return HttpCall.send(call).pipe(
    Effect.flatMap((response) => HttpCall.text(call, response)),
    Effect.map((text) => ({ status: 200, text: text.slice(0, 200) })),
    // A non-2xx answer is still an answer: something listens, and it is not (yet) Ollama.
    Effect.catchIf((error) => error.status !== undefined, (error) => Effect.succeed({ status: error.status ?? 0, text: error.message }))
  )
}

export const probe = (target: Client.Target, backend: string, timeoutMs: number): Effect.Effect<Backend.Probe> => {
  const where = (action: string): Failure.Where => ({ backend, action })
  const bounded = <A, E>(effect: Effect.Effect<A, E>) => Effect.timeoutOption(effect, Duration.millis(timeoutMs))
  return Effect.gen(function*() {
    const up = yield* Effect.result(bounded(root(target, where("GET /"))))
    if (up._tag === "Failure") {
      return up.failure.reason === "Unreachable" ? Probe.Unreachable({ detail: up.failure.message }) : Probe.Starting({ detail: up.failure.message })
    }
    if (up.success._tag === "None") {
      return Probe.Starting({ detail: `${backend}: ${target.host} accepts connections but did not answer GET / within ${timeoutMs}ms` })
    }
    const { status, text } = up.success.value
    if (status !== 200 || !/ollama is running/i.test(text)) {
      return Probe.Unreachable({ detail: `${backend}: something other than Ollama answers at ${target.host} (HTTP ${status}: ${text.trim() || "empty body"})` })
    }

    const step = (path: "/api/tags" | "/api/ps") => Effect.result(bounded(Client.modelNames(target, where(`GET ${path}`), path)))

    const tags = yield* step("/api/tags")
    if (tags._tag === "Failure") {
      return tags.failure.reason === "Overloaded" ? Probe.Busy({ detail: tags.failure.message }) : Probe.Starting({ detail: tags.failure.message })
    }
    if (tags.success._tag === "None") return Probe.Busy({ detail: `${backend}: /api/tags did not answer within ${timeoutMs}ms` })
    const models = tags.success.value

    const ps = yield* step("/api/ps")
    if (ps._tag === "Failure") {
      return ps.failure.reason === "Overloaded" ? Probe.Busy({ detail: ps.failure.message }) : Probe.Starting({ detail: ps.failure.message })
    }
    if (ps.success._tag === "None") return Probe.Busy({ detail: `${backend}: /api/ps did not answer within ${timeoutMs}ms` })
    return Probe.Ready({ models, loaded: ps.success.value })
  })
}
