/**
 * `/api/pull` as a stream of progress, and the auto-pull that generate runs for a missing
 * model. Progress for an auto-pull has no place in a GenerateEvent stream (the contract's
 * events are about the answer), so it goes to the log: one line per status change and per
 * 10 % of a layer, annotated with backend, model, status, completed and total.
 */
import { Backend, BackendError, Events, HttpCall, Ndjson } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Semaphore from "effect/Semaphore"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ProgressResponse } from "ollama"
import type * as Client from "./internal/Client.ts"
import * as Failure from "./internal/Failure.ts"
import * as ModelName from "./ModelName.ts"

/** What the registry says when it has no such model (streamed pull, protocols.md §1.8). */
const NO_SUCH_MODEL = /file does not exist|manifest unknown|not found/i

export const toProgress = (line: ProgressResponse): Backend.PullProgress => ({
  status: line.status,
  // Absent while zero on the wire (omitempty); ollama-js passes that through as undefined.
  ...(typeof line.total === "number" ? { total: line.total } : {}),
  ...(typeof line.completed === "number" ? { completed: line.completed } : {})
})

/**
 * Downloads `model`: `/api/pull`'s NDJSON progress, read the one way core reads every streamed
 * answer (HttpCall.events), with ollama-js's semantics (protocols.md §1.15): an `{"error"}`
 * line fails the pull, `success` ends it, a body without it is a cut. Closing the stream aborts
 * the request; Ollama resumes the layer next time.
 */
export const pull = (target: Client.Target, backend: string, model: string): Stream.Stream<Backend.PullProgress, BackendError.BackendError> => {
  const where: Failure.Where = { backend, model, action: "pull" }
  const call: HttpCall.Call = {
    backend,
    model,
    method: "POST",
    url: `${target.host}/api/pull`,
    headers: { accept: "application/x-ndjson", ...target.headers },
    // `name`, as ollama-js sends it (the API docs say `model`; Ollama takes both).
    body: { name: model, stream: true }
  }
  const fromOllama = (message: string) => Failure.classify(where, "read")(new Error(message))
  const protocol: Ndjson.Protocol<Backend.PullProgress> = {
    value: (value, out) => {
      const line = (typeof value === "object" && value !== null ? value : {}) as ProgressResponse & { readonly error?: unknown; readonly done?: unknown }
      if ("error" in line) return fromOllama(typeof line.error === "string" ? line.error : JSON.stringify(line.error))
      out.push(toProgress(line))
      return line.done === true || line.status === "success" ? "done" : undefined
    },
    end: () => fromOllama(Failure.NO_DONE)
  }
  return Events.stream(HttpCall.events(call, () => Ndjson.reader({ backend, model }, [], protocol), { refine: Failure.classify(where, "open") })).pipe(
    Stream.mapError((error) =>
      error.reason === "Upstream" && NO_SUCH_MODEL.test(error.message)
        ? new BackendError.BackendError({ reason: "ModelMissing", backend, model, message: `${backend}: the registry has no model "${model}" (${error.message})` })
        : error
    )
  )
}

const decile = (p: Backend.PullProgress): number =>
  p.total !== undefined && p.total > 0 && p.completed !== undefined ? Math.floor((p.completed / p.total) * 10) : -1

/** Whether a progress line is worth a log line: a new status, or the next 10 % of a layer. */
export const isMilestone = (previous: Backend.PullProgress | undefined, next: Backend.PullProgress): boolean =>
  previous === undefined || previous.status !== next.status || decile(previous) !== decile(next)

/** Pulls `model` to completion, logging milestones. */
export const pullLogged = (target: Client.Target, backend: string, model: string): Effect.Effect<void, BackendError.BackendError> =>
  Effect.suspend(() => {
    let previous: Backend.PullProgress | undefined
    return pull(target, backend, model).pipe(
      Stream.runForEach((progress) => {
        const log = isMilestone(previous, progress)
        previous = progress
        return log
          ? Effect.logInfo(`pulling ${model}: ${progress.status}`).pipe(
            Effect.annotateLogs({
              backend,
              model,
              status: progress.status,
              ...(progress.completed === undefined ? {} : { completed: progress.completed }),
              ...(progress.total === undefined ? {} : { total: progress.total })
            })
          )
          : Effect.void
      })
    )
  })


/**
 * The auto-pulls of one backend. A pull runs in the backend's scope, not in the request's:
 * when the router gives up on the request (its connect deadline is shorter than a download
 * of gigabytes), the download goes on, and the next request for the model joins it instead
 * of starting over. Requests for the same model share one pull. Closing the backend (a
 * config reload, shutdown) aborts what is still downloading.
 */
export interface AutoPull {
  /** Succeeds once `model` is installed; fails as the pull failed. */
  readonly ensure: (model: string) => Effect.Effect<void, BackendError.BackendError>
}

export const autoPull = (target: Client.Target, backend: string): Effect.Effect<AutoPull, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    // Guards find-or-start, so two requests arriving together cannot start two pulls.
    const lock = yield* Semaphore.make(1)
    const running = new Map<string, Fiber.Fiber<void, BackendError.BackendError>>()
    const started = (model: string) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const key = ModelName.normalise(model)
        const existing = running.get(key)
        if (existing) return Effect.succeed(existing)
        return pullLogged(target, backend, model).pipe(
          Effect.ensuring(Effect.sync(() => running.delete(key))),
          Effect.forkIn(scope),
          Effect.tap((fiber) => Effect.sync(() => running.set(key, fiber)))
        )
      }))
    // Fiber.join only waits for the pull's outcome: a joining request takes nothing of the pull
    // fiber's context (which holds the Scope of the request that started the pull), so each
    // request's resources close with that request.
    return { ensure: (model) => Effect.flatMap(started(model), Fiber.join) }
  })
