/**
 * The Router: for a request (a category, or a pinned backend/model), walk the candidates its
 * plan gives in priority order, each under its deadlines, and fall back on reasons that mean
 * "try elsewhere". The decisions are pure and live apart: `Plan` (which candidates, which are
 * skipped and why), `Fallback` (what an attempt's end means), `CircuitBreaker` (when a backend
 * rests, for its cool-down or as long as its server's Retry-After asked). Every answer and
 * every error carries the trace of what was tried.
 *
 * Streams pass a commit gate: nothing reaches the caller before the first real token (or an
 * empty but complete answer), so a backend that fails before that is replaced invisibly.
 * After the commit a failure ends the stream with a `StreamFailed` error, never a clean end.
 *
 * Requests read the config snapshot once, when they start: a hot reload swaps the snapshot
 * for later requests while those in flight finish on the one they began with.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { Backend, FinishReason, GenerateEvent, GenerateRequest, Message, Options, Task, Timeouts, Usage } from "./Backend.ts"
import { BackendError } from "./BackendError.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import * as Events from "./Events.ts"
import * as Fallback from "./Fallback.ts"
import * as TimedEvents from "./internal/TimedEvents.ts"
import * as Plan from "./Plan.ts"
import { RouteError } from "./RouteError.ts"
import type { BackendConfig, Config } from "./RoutingConfig.ts"
import type * as Trace from "./Trace.ts"

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
  Done: { readonly finishReason: FinishReason; readonly usage: Usage; readonly trace: Trace.Trace }
}>
export const Event = Data.taggedEnum<Event>()

export interface Answer {
  readonly text: string
  readonly backend: string
  readonly model: string
  readonly finishReason: FinishReason
  readonly usage: Usage
  readonly trace: Trace.Trace
}

export interface Router {
  /** Answer whole: any failure, even mid-answer, falls back invisibly. */
  readonly run: (request: Request) => Effect.Effect<Answer, RouteError>
  /**
   * Answer as Events through the commit gate: the first pull walks the candidates and gives the
   * commit (`Routed`) with the first events; close them when done (closing abandons the answer
   * and cuts the backend's connection). What the gateway reads.
   */
  readonly pull: (request: Request) => Events.Events<Event, RouteError>
  /** `pull` as a Stream. */
  readonly stream: (request: Request) => Stream.Stream<Event, RouteError>
  /** Each backend's circuit, as the router sees it now. */
  readonly circuits: Effect.Effect<Readonly<Record<string, CircuitBreaker.View>>>
}

/** The router, as a service. */
export const Router = Context.Service<Router>("@local-router/core/Router")

/** A router over the snapshots `snapshot` reads (each request reads it once): `LiveRouting`'s, or a fixed one. */
export const make = (snapshot: Effect.Effect<Snapshot>): Effect.Effect<Router> =>
  Effect.sync(() => {
    // Each backend's circuit. Only this module's synchronous code reads and writes it.
    const circuits = new Map<string, CircuitBreaker.State>()
    const circuitOf = (backend: string) => circuits.get(backend) ?? CircuitBreaker.initial
    /** Ask the backend's circuit; why not, when it refuses. */
    const admit = (backend: string, now: number): string | undefined => {
      const { circuit, skip } = Plan.admit(circuitOf(backend), now)
      circuits.set(backend, circuit)
      return skip
    }

    const walk = <A>(request: Request, attempt: (attempt: Attempt) => Effect.Effect<Result.Result<A, BackendError>>) =>
      Effect.gen(function*() {
        const snap = yield* snapshot
        const clock = yield* Clock.Clock
        const started = clock.currentTimeMillisUnsafe()
        const plan = yield* Effect.fromResult(Plan.forRequest(snap, request))
        const attempts: Array<Trace.Attempt> = []
        const traceOf = (now: number, answered?: Plan.Try): Trace.Trace => ({
          ...(plan.category ? { category: plan.category.name } : { pinned: true }),
          ...(answered ? { backend: answered.backend, model: answered.model } : {}),
          attempts: [...attempts],
          configVersion: snap.version,
          durationMs: now - started
        })
        for (const candidate of plan.candidates) {
          if (candidate._tag === "Skip") {
            attempts.push(skipped(candidate, candidate.reason))
            continue
          }
          const refused = admit(candidate.backend, clock.currentTimeMillisUnsafe())
          if (refused !== undefined) {
            attempts.push(skipped(candidate, refused))
            continue
          }
          const messages = request.prepare ? yield* request.prepare(candidate.entry) : plan.messages
          const t0 = clock.currentTimeMillisUnsafe()
          /** Trace how the attempt ended and settle its circuit; what the request does next, and the trace so far. */
          const end = (outcome: Fallback.Outcome) => {
            const now = clock.currentTimeMillisUnsafe()
            const decision = Fallback.decide(outcome)
            if (outcome._tag !== "Cancelled") attempts.push(entryOf(candidate, outcomeOf(outcome), now - t0))
            circuits.set(candidate.backend, Fallback.settle(circuitOf(candidate.backend), decision, policyOf(snap, candidate.backend), now))
            const answered = outcome._tag === "Answered" || decision.stop === "StreamFailed"
            return { decision, trace: traceOf(now, answered ? candidate : undefined) }
          }
          const result = yield* attempt({
            candidate,
            request: toGenerate(messages, request, candidate.model),
            number: attempts.length + 1,
            end: (outcome) => end(outcome).trace
          }).pipe(Effect.onInterrupt(() => Effect.sync(() => end(Fallback.Outcome.Cancelled()))))
          if (Result.isSuccess(result)) return result.success
          const { decision, trace } = end(Fallback.Outcome.Failed({ error: result.failure, committed: false }))
          if (decision.next === "stop") {
            return yield* new RouteError({ reason: "BadRequest", message: `${candidate.backend} rejected the request: ${result.failure.message}`, trace })
          }
        }
        const tried = attempts.some((a) => a.outcome === "failed")
        const what = plan.category ? `category "${plan.category.name}"` : `${request.pin?.backend}/${request.pin?.model}`
        return yield* new RouteError({
          reason: tried ? "AllFailed" : "NoCandidates",
          message: `${tried ? "every backend failed" : "no backend could be tried"} for ${what}:\n${
            attempts.map((a) => `  ${a.backend} ${a.outcome}${a.reason ? ` (${a.reason})` : ""}${a.message ? `: ${a.message}` : ""}`).join("\n")
          }`,
          trace: traceOf(clock.currentTimeMillisUnsafe())
        })
      })

    const pull = (request: Request): Events.Events<Event, RouteError> => {
      const answer: Answering = { closed: false, current: undefined }
      let rest: Effect.Effect<ReadonlyArray<Event> | undefined, RouteError> | undefined
      const first = Effect.flatMap(walk(request, gated(answer)), (pull) => {
        rest = pull
        return pull
      })
      return {
        _tag: "Events",
        pull: Effect.suspend(() => (answer.closed ? Effect.succeed(undefined) : rest ?? first)),
        close: () => {
          answer.closed = true
          answer.current?.close()
        }
      }
    }

    return Router.of({
      run: (request) => walk(request, whole),
      pull,
      stream: (request) => Events.toStream(() => pull(request)),
      circuits: Effect.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          return Object.fromEntries([...circuits].map(([name, state]) => [name, CircuitBreaker.view(state, now)]))
        })
      )
    })
  })

/** The router as a layer, over the snapshots `snapshot` reads. */
export const layer = (snapshot: Effect.Effect<Snapshot>): Layer.Layer<Router> => Layer.effect(Router, make(snapshot))

/** One attempt, as the walk hands it to `whole` or `gated`. */
interface Attempt {
  readonly candidate: Plan.Try
  readonly request: GenerateRequest
  /** Its place in the trace, skips included (the `Routed` event's `attempt`). */
  readonly number: number
  /** Trace how the attempt ended (answered, or failed after the commit) and settle its circuit; the trace so far. */
  readonly end: (outcome: Fallback.Outcome) => Trace.Trace
}

/** One attempt read whole: Right(the answer) at its Done, Left(why) for the walk to fall back. */
const whole = ({ candidate, end, request }: Attempt): Effect.Effect<Result.Result<Answer, BackendError>> => {
  const { backend, model, service, timeouts } = candidate
  return Effect.flatMap(TimedEvents.open(backend, model, () => service.generate(request), timeouts), (events) => {
    let text = ""
    let usage: Usage = {}
    const read: Effect.Effect<Result.Result<Answer, BackendError>> = Effect.matchEffect(events.pull, {
      onFailure: (error) => Effect.succeed(Result.fail(error)),
      onSuccess: (chunk) => {
        if (chunk === undefined) return Effect.succeed(Result.fail(streamCut(backend, model)))
        for (const event of chunk) {
          if (event._tag === "TextDelta") text += event.text
          else if (event._tag === "Usage") usage = { ...usage, ...event.usage }
          else if (event._tag === "Done") {
            const trace = end(Fallback.Outcome.Answered())
            return Effect.succeed(Result.succeed<Answer>({ text, backend, model, finishReason: event.finishReason, usage, trace }))
          }
        }
        return read
      }
    })
    return Effect.ensuring(read, Effect.sync(events.close))
  })
}

/** A `pull`'s state: closed by its reader, and the attempt being read (to close with it). */
interface Answering {
  closed: boolean
  current: TimedEvents.TimedEvents | undefined
}

/**
 * One streamed attempt through the commit gate: Left(why) if it fails before its first token
 * (the walk falls back invisibly), else Right(the rest of the answer, for the caller's pulls),
 * whose failures are the caller's to see. The attempt's events are `answer.current` until the
 * next attempt, so that closing the answer closes them.
 */
const gated = (answer: Answering) =>
({ candidate, end, number, request }: Attempt): Effect.Effect<Result.Result<Effect.Effect<ReadonlyArray<Event> | undefined, RouteError>, BackendError>> => {
  const { backend, model, service, timeouts } = candidate
  /** A closed answer tries nothing more: its reader is gone. */
  const abandoned = () => {
    end(Fallback.Outcome.Cancelled())
    return Result.succeed(Effect.succeed(undefined))
  }
  if (answer.closed) return Effect.succeed(abandoned())
  return Effect.flatMap(TimedEvents.open(backend, model, () => service.generate(request), timeouts), (events) => {
    answer.current = events
    const held: Array<Event> = []
    /** The first token (or Done) and the events after it in its chunk, or why there is none. */
    const untilFirst: Effect.Effect<Result.Result<ReadonlyArray<GenerateEvent>, BackendError>> = Effect.matchEffect(events.pull, {
      onFailure: (error) => Effect.succeed(Result.fail(error)),
      onSuccess: (chunk) => {
        if (chunk === undefined) return Effect.succeed(Result.fail(streamCut(backend, model)))
        for (let i = 0; i < chunk.length; i++) {
          const event = chunk[i]!
          if (event._tag === "TextDelta" || event._tag === "Done") return Effect.succeed(Result.succeed(i === 0 ? chunk : chunk.slice(i)))
          if (event._tag === "Usage") held.push(Event.Usage({ usage: event.usage }))
        }
        return untilFirst
      }
    })
    return Effect.map(untilFirst, (first) => {
      if (Result.isSuccess(first)) return committed(first.success)
      // Failed before its first token: closed before the walk tries the next candidate.
      events.close()
      return answer.closed ? abandoned() : Result.fail(first.failure)
    })

    /** Committed: from here on a failure is the caller's to see. */
    function committed(first: ReadonlyArray<GenerateEvent>) {
      let usage: Usage = {}
      let finished = false
      const finish = (event: Extract<GenerateEvent, { _tag: "Done" }>) => {
        finished = true
        events.close()
        return Event.Done({ finishReason: event.finishReason, usage, trace: end(Fallback.Outcome.Answered()) })
      }
      const afterCommit = (error: BackendError) => {
        finished = true
        events.close()
        return new RouteError({
          reason: "StreamFailed",
          message: `${backend} failed after the answer had started (${error.reason}): ${error.message}`,
          trace: end(Fallback.Outcome.Failed({ error, committed: true }))
        })
      }
      /** The caller's events for a chunk of the backend's, up to its Done. */
      const translate = (chunk: ReadonlyArray<GenerateEvent>, out: Array<Event>): Array<Event> => {
        for (const event of chunk) {
          if (event._tag === "TextDelta") out.push(Event.TextDelta({ text: event.text }))
          else if (event._tag === "Usage") {
            usage = { ...usage, ...event.usage }
            out.push(Event.Usage({ usage: event.usage }))
          } else if (event._tag === "Done") {
            out.push(finish(event))
            break
          }
        }
        return out
      }
      for (const e of held) if (e._tag === "Usage") usage = { ...usage, ...e.usage }
      let head: Array<Event> | undefined = translate(first, [Event.Routed({ backend, model, attempt: number }), ...held])
      const rest: Effect.Effect<ReadonlyArray<Event> | undefined, RouteError> = Effect.suspend(() => {
        if (head) {
          const out = head
          head = undefined
          return Effect.succeed(out)
        }
        if (finished || answer.closed) return Effect.succeed(undefined)
        return Effect.matchEffect(events.pull, {
          onFailure: (error) => (answer.closed ? Effect.succeed(undefined) : Effect.fail(afterCommit(error))),
          onSuccess: (chunk) =>
            chunk === undefined
              ? answer.closed ? Effect.succeed(undefined) : Effect.fail(afterCommit(streamCut(backend, model)))
              : Effect.succeed(translate(chunk, []))
        })
      })
      return Result.succeed(rest)
    }
  })
}

const policyOf = (snap: Snapshot, backend: string): CircuitBreaker.Policy => ({
  ...snap.config.defaults.breaker,
  ...snap.config.backends[backend]?.breaker
})

type How = Pick<Trace.Attempt, "outcome" | "reason" | "message" | "status" | "committed">

/** The trace's entry for a candidate. */
const entryOf = (candidate: Plan.Candidate, how: How, durationMs: number): Trace.Attempt => ({
  backend: candidate.backend,
  ...(candidate.model === undefined ? {} : { model: candidate.model }),
  ...how,
  durationMs
})

const skipped = (candidate: Plan.Candidate, reason: string): Trace.Attempt => entryOf(candidate, { outcome: "skipped", reason }, 0)

const outcomeOf = (outcome: Fallback.Outcome): How => {
  if (outcome._tag !== "Failed") return { outcome: "answered" }
  const { committed, error } = outcome
  return {
    outcome: "failed",
    reason: error.reason,
    message: error.message,
    ...(error.status === undefined ? {} : { status: error.status }),
    ...(committed ? { committed } : {})
  }
}

const toGenerate = (messages: ReadonlyArray<Message>, request: Request, model: string): GenerateRequest => ({
  model,
  messages,
  ...(request.options ? { options: request.options } : {}),
  ...(request.task ? { task: request.task } : {})
})

const streamCut = (backend: string, model: string) =>
  new BackendError({ reason: "StreamCut", backend, model, message: `${backend} ended the stream before the answer was complete` })
