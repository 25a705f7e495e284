/**
 * Station's layered, token-free health check. `/health` is a constant (protocols.md §3.7):
 * it proves Station listens, nothing more. `/v1/models` says what it serves and `/v1/stats`
 * whether the service runs and how full its queue is. Station loads weights on the first
 * inference, so a model counts as loaded once Station has processed a request.
 */
import { Backend, HttpCall } from "@local-router/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Endpoint } from "./Endpoint.ts"

const { Probe } = Backend

interface Stats {
  readonly status?: unknown
  readonly model?: unknown
  readonly queue_size?: unknown
  readonly max_queue_size?: unknown
  readonly requests_processed?: unknown
}

const record = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? (u as Record<string, unknown>) : {})

/** The model ids of `/v1/models`: `{"models":[{"id":…}]}`. */
export const modelIds = (body: unknown): ReadonlyArray<string> => {
  const models = record(body)["models"]
  return Array.isArray(models) ? models.flatMap((m) => (typeof record(m)["id"] === "string" ? [record(m)["id"] as string] : [])) : []
}

/** What `/v1/stats` says about readiness. */
export const fromStats = (models: ReadonlyArray<string>, stats: Stats): Backend.Probe => {
  if (stats.status !== "running") return Probe.Starting({ detail: `Station's inference service is ${String(stats.status ?? "not running")}` })
  const queue = typeof stats.queue_size === "number" ? stats.queue_size : 0
  const max = typeof stats.max_queue_size === "number" ? stats.max_queue_size : Number.POSITIVE_INFINITY
  if (queue >= max) return Probe.Busy({ detail: `Station's queue is full (${queue}/${max}); new requests are rejected` })
  const model = typeof stats.model === "string" ? stats.model : undefined
  const processed = typeof stats.requests_processed === "number" ? stats.requests_processed : 0
  return Probe.Ready({ models, loaded: model !== undefined && processed > 0 ? [model] : [] })
}

/**
 * Probes Station at `endpoint`, which the caller has already found answering `/health`.
 * Each step is bounded by `timeoutMs`; a step that does not answer in time means busy.
 */
export const station = (backend: string, endpoint: Endpoint, timeoutMs: number): Effect.Effect<Backend.Probe> => {
  const get = (path: string) =>
    HttpCall.json({ backend, url: `${endpoint.origin}${path}` }).pipe(Effect.timeoutOption(Duration.millis(timeoutMs)), Effect.result)
  return Effect.gen(function*() {
    const models = yield* get("/v1/models")
    if (models._tag === "Failure") return Probe.Starting({ detail: models.failure.message })
    if (Option.isNone(models.success)) return Probe.Busy({ detail: `${backend}: /v1/models did not answer within ${timeoutMs}ms` })
    const stats = yield* get("/v1/stats")
    if (stats._tag === "Failure") {
      // 503 {"detail":"Inference service not running"}: Station is up, its service is not.
      return Probe.Starting({ detail: stats.failure.message })
    }
    if (Option.isNone(stats.success)) return Probe.Busy({ detail: `${backend}: /v1/stats did not answer within ${timeoutMs}ms` })
    return fromStats(modelIds(models.success.value), record(stats.success.value))
  })
}
