/**
 * `GET /health`: whether local-router can answer now, by category, for a load balancer, a
 * monitor or a script (`curl -f`):
 *
 *   ok           200  every category has a backend that would try to answer
 *   degraded     200  some categories cannot be answered now (listed, with why)
 *   unavailable  503  no category can be answered now
 *
 * "Can be answered" is the status page's route (Status.routesNow): core's Plan, an open circuit,
 * a supervised server that is not up, a model missing on it. It is what is known without sending
 * a request; a backend nobody watches counts as up until a request fails on it.
 */
import type { CircuitBreaker, Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Handler from "./Handler.ts"
import * as Status from "./Status.ts"

export type Level = "ok" | "degraded" | "unavailable"

export interface Health {
  readonly status: Level
  /** Categories that cannot be answered now, with why in a few words per backend tried. */
  readonly unavailable: ReadonlyArray<{ readonly category: string; readonly why: string }>
  /** How many categories routing.yaml has. */
  readonly categories: number
}

/** Pure: the routes as they would go now -> health. */
export const of = (routes: ReadonlyArray<Status.CategoryRoute>): Health => {
  const unavailable = routes.filter((r) => r.answer === undefined).map((r) => {
    // A backend the category names no model for was never part of its route: not news here.
    const tried = r.candidates.filter((c) => c.model !== null)
    return {
      category: r.category,
      why: tried.length === 0 ? "no backend in its route has a model for it" : tried.map((c) => `${c.backend}: ${c.skip ?? "unavailable"}`).join("; ")
    }
  })
  const status: Level = unavailable.length === 0 ? "ok" : unavailable.length < routes.length ? "degraded" : "unavailable"
  return { status, unavailable, categories: routes.length }
}

export const httpStatus = (level: Level): number => (level === "unavailable" ? 503 : 200)

export const check = (input: {
  readonly snapshot: Effect.Effect<Router.Snapshot>
  readonly circuits: Effect.Effect<Readonly<Record<string, CircuitBreaker.View>>>
  readonly provider: Status.Provider | undefined
}): Effect.Effect<Health> =>
  Effect.gen(function*() {
    const snapshot = yield* input.snapshot
    const circuits = yield* input.circuits
    const { down, missing } = Status.serversNow(input.provider ? yield* input.provider : null)
    return of(Status.routesNow(snapshot, circuits, down, missing))
  })

/** The route: the health as JSON, 503 when nothing can be answered. */
export const handle = (ctx: Handler.Context) =>
  Effect.map(check({ snapshot: ctx.routing.snapshot, circuits: ctx.router.circuits, provider: ctx.supervisor }), (h) =>
    HttpServerResponse.text(JSON.stringify(h), { status: httpStatus(h.status), contentType: "application/json; charset=utf-8" }))
