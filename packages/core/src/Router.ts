/**
 * The Router: for a request (a category, or a pinned backend/model), walk the candidates in
 * priority order, skip those that cannot answer (no model, no image input, circuit open,
 * failed to load), try each under its deadlines, and fall back on reasons that mean "try
 * elsewhere". Every answer and every error carries the trace of what was tried.
 *
 * Streams pass a commit gate: nothing reaches the caller before the first real token (or an
 * empty but complete answer), so a backend that fails before that is replaced invisibly.
 * After the commit a failure ends the stream with a `StreamFailed` error, never a clean end.
 *
 * Requests read the config snapshot once, when they start: a hot reload swaps the snapshot
 * for later requests while those in flight finish on the one they began with.
 */
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Backend, FinishReason, GenerateEvent, Message, Options, Task, Timeouts, Usage } from "./Backend.ts"
import { BackendError, countsAgainstCircuit, fallsBack } from "./BackendError.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import { didYouMean } from "./internal/didYouMean.ts"
import * as Pullable from "./internal/Pullable.ts"
import * as TimedEvents from "./internal/TimedEvents.ts"
import { RouteError } from "./RouteError.ts"
import type { BackendConfig, CategoryConfig, Config } from "./RoutingConfig.ts"
import type { Attempt, Trace } from "./Trace.ts"

export { RouteError } from "./RouteError.ts"

/** A backend of the running config: ready to use, or out with the reason it failed to load. */
export type Slot = Data.TaggedEnum<{
  Ready: { readonly backend: Backend; readonly timeouts: Partial<Timeouts> }
  Failed: {
    readonly reason: string
    /** Why, for scripts: NotFound, ImportFailed, NoDefinition, ContractMismatch, MakeFailed, MakeTimeout, InvalidOptions. */
    readonly code?: string
  }
}>
export const Slot = Data.taggedEnum<Slot>()

/** One version of the running config with its backends. */
export interface Snapshot {
  readonly version: number
  readonly config: Config
  readonly backends: ReadonlyMap<string, Slot>
}

export interface Request {
  /** A category from routing.yaml, e.g. `fast`. */
  readonly category?: string | undefined
  /** Skip routing and use this backend and model (the gateway's `backend/model`). */
  readonly pin?: { readonly backend: string; readonly model: string } | undefined
  readonly prompt?: string | undefined
  readonly system?: string | undefined
  readonly messages?: ReadonlyArray<Message> | undefined
  readonly options?: Options | undefined
  readonly task?: Task | undefined
  /**
   * Adapt the messages to the backend about to be tried (e.g. scale images to its limits).
   * Called once per attempt, with that backend's routing.yaml entry.
   */
  readonly prepare?: ((backend: BackendConfig) => Effect.Effect<ReadonlyArray<Message>>) | undefined
}

export type Event = Data.TaggedEnum<{
  /** The answer is committed to this backend and model; tokens follow. */
  Routed: { readonly backend: string; readonly model: string; readonly attempt: number }
  TextDelta: { readonly text: string }
  Usage: { readonly usage: Usage }
  Done: { readonly finishReason: FinishReason; readonly usage: Usage; readonly trace: Trace }
}>
export const Event = Data.taggedEnum<Event>()

export interface Answer {
  readonly text: string
  readonly backend: string
  readonly model: string
  readonly finishReason: FinishReason
  readonly usage: Usage
  readonly trace: Trace
}

export interface Router {
  /** Answer whole: any failure, even mid-answer, falls back invisibly. */
  readonly run: (request: Request) => Effect.Effect<Answer, RouteError>
  /** Answer as a stream through the commit gate. */
  readonly stream: (request: Request) => Stream.Stream<Event, RouteError>
  /** Each backend's circuit, as the router sees it now. */
  readonly circuits: Effect.Effect<Readonly<Record<string, CircuitBreaker.View>>>
}

interface Candidate {
  readonly backend: string
  readonly model: string | undefined
  readonly skip: string | undefined
  readonly slot: Slot | undefined
}

interface Plan {
  readonly category: CategoryConfig | undefined
  readonly messages: ReadonlyArray<Message>
  readonly candidates: ReadonlyArray<Candidate>
}

export const make = (snapshot: Effect.Effect<Snapshot>): Effect.Effect<Router> =>
  Effect.gen(function*() {
    // Each backend's circuit. Only this module's synchronous code reads and writes it.
    const circuits = new Map<string, CircuitBreaker.State>()

    const policyOf = (config: Config, backend: string): CircuitBreaker.Policy => ({
      ...config.defaults.breaker,
      ...config.backends[backend]?.breaker
    })

    const admit = (backend: string, now: number): boolean => {
      const { allowed, state } = CircuitBreaker.admit(circuits.get(backend) ?? CircuitBreaker.initial, now)
      circuits.set(backend, state)
      return allowed
    }

    const settle = (config: Config, backend: string, failure: BackendError | "success" | "neutral", now: number): void => {
      const state = circuits.get(backend) ?? CircuitBreaker.initial
      circuits.set(
        backend,
        failure === "success"
          ? CircuitBreaker.onSuccess(state)
          : failure !== "neutral" && countsAgainstCircuit(failure.reason)
          ? CircuitBreaker.onFailure(state, policyOf(config, backend), now)
          : CircuitBreaker.onNeutral(state)
      )
    }

    const timeoutsOf = (config: Config, plan: Plan, backend: string, slot: Slot): Timeouts => ({
      ...config.defaults.timeouts,
      ...(slot._tag === "Ready" ? slot.timeouts : {}),
      ...config.backends[backend]?.timeouts,
      ...plan.category?.timeouts
    })

    const traceOf = (
      plan: Plan,
      snap: Snapshot,
      attempts: ReadonlyArray<Attempt>,
      started: number,
      now: number,
      answered?: { readonly backend: string; readonly model: string }
    ): Trace => ({
      ...(plan.category ? { category: plan.category.name } : { pinned: true }),
      ...(answered ?? {}),
      attempts: [...attempts],
      configVersion: snap.version,
      durationMs: now - started
    })

    const failed = (candidate: Candidate, error: BackendError, durationMs: number, committed = false): Attempt => ({
      backend: candidate.backend,
      ...(candidate.model === undefined ? {} : { model: candidate.model }),
      outcome: "failed",
      reason: error.reason,
      message: error.message,
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(committed ? { committed } : {}),
      durationMs
    })

    /**
     * Walk the candidates; `attempt` tries one and returns Right(result) to finish, or
     * Left(error) to record the failure and fall back when its reason allows.
     */
    const walk = <A>(
      request: Request,
      attempt: (
        context: { readonly clock: Clock.Clock; readonly snap: Snapshot; readonly plan: Plan; readonly candidate: Candidate; readonly backend: Backend; readonly model: string; readonly timeouts: Timeouts; readonly attempts: Array<Attempt>; readonly started: number; readonly attemptStarted: number; readonly messages: ReadonlyArray<Message> }
      ) => Effect.Effect<Either.Either<A, BackendError>, RouteError, Scope.Scope>
    ): Effect.Effect<A, RouteError, Scope.Scope> =>
      Effect.gen(function*() {
        const snap = yield* snapshot
        const clock = yield* Effect.clock
        const started = clock.unsafeCurrentTimeMillis()
        const plan = yield* planFor(snap, request)
        const attempts: Array<Attempt> = []
        for (const candidate of plan.candidates) {
          const skip = candidate.skip ?? skipReason(candidate, plan)
          if (skip !== undefined || candidate.slot?._tag !== "Ready" || candidate.model === undefined) {
            attempts.push(skipped(candidate, skip ?? "not loaded"))
            continue
          }
          if (!admit(candidate.backend, clock.unsafeCurrentTimeMillis())) {
            attempts.push(skipped(candidate, "circuit open"))
            continue
          }
          const entry = snap.config.backends[candidate.backend]
          const messages = request.prepare && entry ? yield* request.prepare(entry) : plan.messages
          const t0 = clock.unsafeCurrentTimeMillis()
          const result = yield* attempt({
            clock,
            messages,
            snap,
            plan,
            candidate,
            backend: candidate.slot.backend,
            model: candidate.model,
            timeouts: timeoutsOf(snap.config, plan, candidate.backend, candidate.slot),
            attempts,
            started,
            attemptStarted: t0
          }).pipe(Effect.onInterrupt(() => Effect.sync(() => settle(snap.config, candidate.backend, "neutral", clock.unsafeCurrentTimeMillis()))))
          if (Either.isRight(result)) return result.right
          const error = result.left
          const now = clock.unsafeCurrentTimeMillis()
          attempts.push(failed(candidate, error, now - t0))
          settle(snap.config, candidate.backend, error, now)
          if (!fallsBack(error.reason)) {
            return yield* new RouteError({
              reason: "BadRequest",
              message: `${candidate.backend} rejected the request: ${error.message}`,
              trace: traceOf(plan, snap, attempts, started, now)
            })
          }
        }
        const now = clock.unsafeCurrentTimeMillis()
        const tried = attempts.some((a) => a.outcome === "failed")
        const what = plan.category ? `category "${plan.category.name}"` : `${request.pin?.backend}/${request.pin?.model}`
        return yield* new RouteError({
          reason: tried ? "AllFailed" : "NoCandidates",
          message: `${tried ? "every backend failed" : "no backend could be tried"} for ${what}:\n${
            attempts.map((a) => `  ${a.backend} ${a.outcome}${a.reason ? ` (${a.reason})` : ""}${a.message ? `: ${a.message}` : ""}`).join("\n")
          }`,
          trace: traceOf(plan, snap, attempts, started, now)
        })
      })

    const run = (request: Request): Effect.Effect<Answer, RouteError> =>
      Effect.scoped(walk(request, ({ attemptStarted, attempts, backend, candidate, clock, messages, model, plan, snap, started, timeouts }) =>
        Effect.gen(function*() {
          const events = yield* TimedEvents.open(candidate.backend, model, () => backend.generate(toGenerate(messages, request, model)), timeouts)
          let text = ""
          let usage: Usage = {}
          while (true) {
            const next = yield* Effect.either(events.nextChunk)
            if (Either.isLeft(next)) return Either.left(next.left)
            if (Option.isNone(next.right)) return Either.left(streamCut(candidate.backend, model))
            for (const event of next.right.value) {
              if (event._tag === "TextDelta") text += event.text
              else if (event._tag === "Usage") usage = { ...usage, ...event.usage }
              else if (event._tag === "Done") {
                const now = clock.unsafeCurrentTimeMillis()
                attempts.push(answered(candidate, model, now - attemptStarted))
                settle(snap.config, candidate.backend, "success", now)
                return Either.right<Answer>({
                  text,
                  backend: candidate.backend,
                  model,
                  finishReason: event.finishReason,
                  usage,
                  trace: traceOf(plan, snap, attempts, started, now, { backend: candidate.backend, model })
                })
              }
            }
          }
        })
      ))

    const stream = (request: Request): Stream.Stream<Event, RouteError> =>
      Pullable.make(Effect.flatMap(Effect.scope, (scope) =>
        Effect.scoped(walk(request, ({ attemptStarted: t0, attempts, backend, candidate, clock, messages, model, plan, snap, started, timeouts }) =>
          Effect.gen(function*() {
            // Each attempt owns a scope; a failed one is closed (aborting its request) before the next starts.
            const attemptScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
            const events = yield* TimedEvents.open(
              candidate.backend,
              model,
              () => backend.generate(toGenerate(messages, request, model)),
              timeouts
            ).pipe(Scope.extend(attemptScope))
            const held: Array<Event> = []
            let first: GenerateEvent | undefined
            while (first === undefined) {
              const next = yield* Effect.either(events.next)
              const error = Either.isLeft(next)
                ? next.left
                : Option.isNone(next.right)
                ? streamCut(candidate.backend, model)
                : undefined
              if (error) {
                yield* Scope.close(attemptScope, Exit.void)
                return Either.left(error)
              }
              const event = (next as Either.Right<never, Option.Some<GenerateEvent>>).right.value
              if (event._tag === "TextDelta" || event._tag === "Done") first = event
              else if (event._tag === "Usage") held.push(Event.Usage({ usage: event.usage }))
            }
            // Committed: from here on a failure is the caller's to see.
            let usage: Usage = {}
            let finished = false
            const routed = Event.Routed({ backend: candidate.backend, model, attempt: attempts.length + 1 })
            const finish = (event: Extract<GenerateEvent, { _tag: "Done" }>) =>
              Effect.sync(() => {
                finished = true
                const now = clock.unsafeCurrentTimeMillis()
                attempts.push(answered(candidate, model, now - t0))
                settle(snap.config, candidate.backend, "success", now)
                return Event.Done({
                  finishReason: event.finishReason,
                  usage,
                  trace: traceOf(plan, snap, attempts, started, now, { backend: candidate.backend, model })
                })
              })
            const afterCommit = (error: BackendError) =>
              Effect.sync(() => {
                finished = true
                const now = clock.unsafeCurrentTimeMillis()
                attempts.push(failed(candidate, error, now - t0, true))
                settle(snap.config, candidate.backend, error, now)
                return new RouteError({
                  reason: "StreamFailed",
                  message: `${candidate.backend} failed after the answer had started (${error.reason}): ${error.message}`,
                  trace: traceOf(plan, snap, attempts, started, now, { backend: candidate.backend, model })
                })
              })
            /** The caller's events for a chunk of the backend's, up to its Done. */
            const translate = (chunk: ReadonlyArray<GenerateEvent>): Effect.Effect<Chunk.Chunk<Event>> => {
              const out: Array<Event> = []
              for (const event of chunk) {
                if (event._tag === "TextDelta") out.push(Event.TextDelta({ text: event.text }))
                else if (event._tag === "Usage") {
                  usage = { ...usage, ...event.usage }
                  out.push(Event.Usage({ usage: event.usage }))
                } else if (event._tag === "Done") {
                  return Effect.map(finish(event), (done) => Chunk.unsafeFromArray([...out, done]))
                }
              }
              return Effect.succeed(Chunk.unsafeFromArray(out))
            }
            for (const e of held) if (e._tag === "Usage") usage = { ...usage, ...e.usage }
            let head: Chunk.Chunk<Event> | undefined = Chunk.prependAll(yield* translate([first]), Chunk.unsafeFromArray([routed, ...held]))
            const rest: Pullable.Pull<Event, RouteError> = Effect.suspend(() => {
                if (head) {
                  const out = head
                  head = undefined
                  return Effect.succeed(out)
                }
                if (finished) return Effect.fail(Option.none())
                return events.nextChunk.pipe(
                  Effect.catchAll((error) => Effect.flatMap(afterCommit(error), (e) => Effect.fail(Option.some(e)))),
                  Effect.flatMap(Option.match({
                    onNone: () =>
                      Effect.flatMap(afterCommit(streamCut(candidate.backend, model)), (e) => Effect.fail(Option.some(e))),
                    onSome: translate
                  }))
                )
              })
            return Either.right(rest)
          })
        ))))

    return {
      run,
      stream,
      circuits: Effect.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.unsafeCurrentTimeMillis()
          return Object.fromEntries([...circuits].map(([name, state]) => [name, CircuitBreaker.view(state, now)]))
        })
      )
    }
  })

/**
 * `Stream.toPull` for the router's own streams (`stream`), reading their pull directly: the
 * Stream machinery between a caller and the events cost more than routing them. Any other
 * stream is read through `Stream.toPull`.
 */
export const toPull = <A, E>(stream: Stream.Stream<A, E>): Effect.Effect<Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>, never, Scope.Scope> =>
  Pullable.toPull(stream)

const planFor = (snap: Snapshot, request: Request): Effect.Effect<Plan, RouteError> => {
  const { config } = snap
  const trace = (attempts: ReadonlyArray<Attempt> = []): Trace => ({
    ...(request.category ? { category: request.category } : {}),
    attempts: [...attempts],
    configVersion: snap.version,
    durationMs: 0
  })
  const messages: ReadonlyArray<Message> = [
    ...(request.system ? [{ role: "system" as const, content: request.system }] : []),
    ...(request.messages ?? []),
    ...(request.prompt !== undefined ? [{ role: "user" as const, content: request.prompt }] : [])
  ]
  if (!messages.some((m) => m.role === "user" && (m.content.length > 0 || (m.images?.length ?? 0) > 0))) {
    return Effect.fail(new RouteError({ reason: "InvalidRequest", message: "the request has no prompt: give `prompt` or a user message", trace: trace() }))
  }
  if (request.pin) {
    const { backend, model } = request.pin
    if (!config.backends[backend]) {
      const known = Object.keys(config.backends)
      const hint = didYouMean(backend, known)
      return Effect.fail(new RouteError({
        reason: "UnknownBackend",
        message: `unknown backend "${backend}"${hint ? ` (did you mean "${hint}"?)` : ""}; backends are: ${known.join(", ")}`,
        trace: trace(),
        known
      }))
    }
    return Effect.succeed({
      category: undefined,
      messages,
      candidates: [{ backend, model, skip: config.backends[backend]!.enabled ? undefined : "disabled in routing.yaml", slot: snap.backends.get(backend) }]
    })
  }
  const name = request.category ?? "default"
  const category = config.categories[name]
  if (!category) {
    const known = Object.keys(config.categories)
    const hint = didYouMean(name, known)
    return Effect.fail(new RouteError({
      reason: "UnknownCategory",
      message: `unknown category "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; categories are: ${known.join(", ")}`,
      trace: trace(),
      known
    }))
  }
  return Effect.succeed({
    category,
    messages,
    candidates: category.priority.map((backend) => {
      const model = category.models[backend]
      const skip = model === undefined
        ? "no model for this category"
        : !config.backends[backend]?.enabled
        ? "disabled in routing.yaml"
        : undefined
      return { backend, model, skip, slot: snap.backends.get(backend) }
    })
  })
}

const skipReason = (candidate: Candidate, plan: Plan): string | undefined => {
  const slot = candidate.slot
  if (!slot) return "not loaded"
  if (slot._tag === "Failed") return `failed to load: ${slot.reason}`
  const wantsImages = plan.messages.some((m) => (m.images?.length ?? 0) > 0)
  if (wantsImages && !slot.backend.capabilities.images) return "no image input"
  if (!wantsImages && !slot.backend.capabilities.text) return "needs an image"
  return undefined
}

const skipped = (candidate: Candidate, reason: string): Attempt => ({
  backend: candidate.backend,
  ...(candidate.model === undefined ? {} : { model: candidate.model }),
  outcome: "skipped",
  reason,
  durationMs: 0
})

const answered = (candidate: Candidate, model: string, durationMs: number): Attempt => ({
  backend: candidate.backend,
  model,
  outcome: "answered",
  durationMs
})

const toGenerate = (messages: ReadonlyArray<Message>, request: Request, model: string) => ({
  model,
  messages,
  ...(request.options ? { options: request.options } : {}),
  ...(request.task ? { task: request.task } : {})
})

const streamCut = (backend: string, model: string) =>
  new BackendError({ reason: "StreamCut", backend, model, message: `${backend} ended the stream before the answer was complete` })
