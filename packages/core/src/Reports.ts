/**
 * What servers said their models can do (`Backend.modelCapabilities`: Ollama's /api/show), for
 * the Router to plan on. Asked only for the backends and models a request would try whose
 * servers can tell, all at once, once per backend, model and config version (a reload starts
 * afresh), each question waiting at most the backend's connect deadline (5 s at most).
 *
 * A server that cannot say (down, slow, an error) leaves the model Unknown, with why: its
 * candidates are planned on its type's defaults and routing.yaml's declarations, the trace
 * saying so, and the server is asked again after 30 s, since it may have been down.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Capabilities from "./Capabilities.ts"
import * as Plan from "./Plan.ts"
import type { Snapshot } from "./Router.ts"

/** How long an unanswered "what can this model do?" is remembered before the server is asked again. */
const UNKNOWN_REMEMBERED_MS = 30_000
/** The longest the router waits for a server to say what a model can do (less when the backend's connect deadline is shorter). */
const ASK_TIMEOUT_MS = 5_000

/** Ask the servers that can tell what a target's models can do (those not known yet); what each said, for `Plan`. */
export type Ask = (snap: Snapshot, target: Parameters<typeof Plan.toAsk>[1], fallbackCategory: string) => Effect.Effect<Plan.Reports>

/** A memory of reports, for one router: empty, and emptied whenever a new config version asks. */
export const make = (): Ask => {
  // Only this module's synchronous code reads and writes the memory.
  let reportsVersion = -1
  const reports = new Map<string, { readonly at: number; readonly report: Capabilities.Reported }>()
  const keyOf = (backend: string, model: string) => `${backend}\u0000${model}`
  return (snap, target, fallbackCategory) =>
    Effect.clockWith((clock) => {
      if (reportsVersion !== snap.version) {
        reportsVersion = snap.version
        reports.clear()
      }
      const now = clock.currentTimeMillisUnsafe()
      const stale = Plan.toAsk(snap, target, fallbackCategory).filter(({ backend, model }) => {
        const known = reports.get(keyOf(backend, model))
        return known === undefined || (known.report._tag === "Unknown" && now - known.at >= UNKNOWN_REMEMBERED_MS)
      })
      const ask = ({ backend, connectMs, model, service }: (typeof stale)[number]) => {
        const limit = Math.min(ASK_TIMEOUT_MS, connectMs)
        return Effect.suspend(() => service.modelCapabilities!(model)).pipe(
          Effect.map((capabilities): Capabilities.Reported => ({ _tag: "Reported", capabilities })),
          Effect.timeoutOrElse({
            duration: Duration.millis(limit),
            orElse: () => Effect.succeed<Capabilities.Reported>({ _tag: "Unknown", why: `${backend} did not say what ${model} supports within ${fmtMs(limit)}` })
          }),
          Effect.catchCause((cause) =>
            Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause as Cause.Cause<never>) : Effect.succeed<Capabilities.Reported>({
              _tag: "Unknown",
              why: `${backend} could not say what ${model} supports (${describeCause(cause)})`
            })
          ),
          Effect.map((report) => {
            if (reportsVersion === snap.version) reports.set(keyOf(backend, model), { at: clock.currentTimeMillisUnsafe(), report })
          })
        )
      }
      return Effect.as(
        Effect.forEach(stale, ask, { concurrency: "unbounded", discard: true }),
        (backend: string, model: string) => (reportsVersion === snap.version ? reports.get(keyOf(backend, model))?.report : undefined)
      )
    })
}

const fmtMs = (ms: number) => (ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`)

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}
