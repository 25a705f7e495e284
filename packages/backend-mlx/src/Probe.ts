/**
 * The layered, token-free health of an OpenAI-compatible local server:
 *
 *   nothing listens                      -> Unreachable
 *   listens, no usable answer in time    -> Starting
 *   503 (llama-server "Loading model")   -> Busy
 *   `/v1/models` answers                 -> Ready, with the models and, where the server says
 *                                           (mlx_vlm's /health), the loaded one
 *
 * `/health` comes first because it is cheap and tells loading apart on llama-server; a 404
 * there (older mlx_lm, LM Studio) is not a failure, `/v1/models` decides. mlx_lm's `/health`
 * says ok even while the launch model loads or after it failed to load (protocols.md §2.7):
 * only a completion could tell, and a probe never spends tokens, so that stays invisible here
 * and the Router's connect deadline covers it.
 */
import { Backend, type BackendError, HttpCall, OpenAiChat } from "@local-router/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"

export interface Target {
  readonly backend: string
  /** The server's origin, without `/v1`. */
  readonly origin: string
  readonly client: OpenAiChat.Client
  readonly timeoutMs: number
}

export const probe = (target: Target): Effect.Effect<Backend.Probe> =>
  Effect.gen(function*() {
    const health = yield* Effect.result(HttpCall.json({ backend: target.backend, url: `${target.origin}/health`, headers: target.client.headers ?? {} }))
    if (Result.isFailure(health) && health.failure.status !== 404) return fromFailure(health.failure)
    const loaded = Result.isSuccess(health) ? loadedOf(health.success) : []
    const models = yield* Effect.result(OpenAiChat.models(target.client))
    if (Result.isFailure(models)) return fromFailure(models.failure)
    return Backend.Probe.Ready({ models: models.success, loaded })
  }).pipe(
    Effect.timeoutOrElse({
      duration: Duration.millis(target.timeoutMs),
      orElse: () =>
        Effect.succeed(Backend.Probe.Starting({ detail: `${target.origin} accepted the connection but did not answer within ${target.timeoutMs}ms` }))
    })
  )

const fromFailure = (error: BackendError.BackendError): Backend.Probe => {
  if (error.reason === "Unreachable") return Backend.Probe.Unreachable({ detail: error.message })
  if (error.status === 503) return Backend.Probe.Busy({ detail: error.message })
  return Backend.Probe.Starting({ detail: error.message })
}

/** mlx_vlm's `/health`: `{"loaded_model": "…" | null, "loaded_models": [...]}`. */
const loadedOf = (health: unknown): ReadonlyArray<string> => {
  if (typeof health !== "object" || health === null) return []
  const h = health as Record<string, unknown>
  const names = new Set<string>()
  if (typeof h["loaded_model"] === "string") names.add(h["loaded_model"])
  if (Array.isArray(h["loaded_models"])) {
    for (const m of h["loaded_models"]) {
      if (typeof m === "string") names.add(m)
      else if (typeof m === "object" && m !== null) {
        const id = (m as Record<string, unknown>)["model"] ?? (m as Record<string, unknown>)["id"]
        if (typeof id === "string") names.add(id)
      }
    }
  }
  return [...names]
}
