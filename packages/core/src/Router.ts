/**
 * The Router: for a request (a category, or a pinned backend/model), walk the candidates its
 * plan gives in priority order, each under its deadlines, and fall back on reasons that mean
 * "try elsewhere". The decisions are pure and live apart: `Plan` (which candidates, which are
 * skipped and why), `Fallback` (what an attempt's end means), `CircuitBreaker` (when a backend
 * rests, for its cool-down or as long as its server's Retry-After asked). Every answer and
 * every error carries the trace of what was tried.
 *
 * Streams pass a commit gate: nothing reaches the caller before the first event it would see
 * (text, reasoning or a tool call; or an empty but complete answer), so a backend that fails
 * before that is replaced invisibly. After the commit a failure ends the stream with a
 * `StreamFailed` error, never a clean end; so does an answer that does not match the JSON
 * Schema asked for (read whole, such an answer falls back like any failed attempt).
 *
 * A request that needs more than text (tools, JSON, reasoning, images) first asks the servers
 * that can tell what their models support (once per backend, model and config version), and
 * the plan skips the candidates that lack it. Embeddings walk the same way, within one vector
 * space.
 *
 * Requests read the config snapshot once, when they start: a hot reload swaps the snapshot
 * for later requests while those in flight finish on the one they began with.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type {
  Backend,
  Capabilities as BackendCapabilities,
  FinishReason,
  GenerateEvent,
  GenerateRequest,
  Message,
  Options,
  Reasoning,
  ResponseFormat,
  Task,
  Timeouts,
  Tool,
  ToolCall,
  ToolChoice,
  Usage
} from "./Backend.ts"
import { BackendError } from "./BackendError.ts"
import * as Capabilities from "./Capabilities.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import * as Events from "./Events.ts"
import * as Fallback from "./Fallback.ts"
import * as JsonCheck from "./internal/JsonCheck.ts"
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
  /** Tools the model may call; a request with tools (and tool choice other than none) skips models without tool support. */
  readonly tools?: ReadonlyArray<Tool> | undefined
  readonly toolChoice?: ToolChoice | undefined
  readonly parallelToolCalls?: boolean | undefined
  /**
   * JSON or a JSON Schema: skips models without JSON schema support, and the answer is checked
   * (whole: one that does not match falls back; streamed: fails at its end).
   */
  readonly responseFormat?: ResponseFormat | undefined
  /** Reasoning on skips models without reasoning support. */
  readonly reasoning?: Reasoning | undefined
  /**
   * Adapt the messages to the backend about to be tried (e.g. scale images to its limits).
   * Called once per attempt, with that backend's routing.yaml entry.
   */
  readonly prepare?: ((backend: BackendConfig) => Effect.Effect<ReadonlyArray<Message>>) | undefined
}

/** Embeddings asked of a category with `input: embed` (default: the category `embed`), or of a pinned backend/model. */
export interface EmbedInput {
  readonly category?: string | undefined
  readonly pin?: { readonly backend: string; readonly model: string } | undefined
  /** The texts to embed: one vector each, in order. */
  readonly input: ReadonlyArray<string>
  /** Vectors of this many dimensions, where the model can shorten them. */
  readonly dimensions?: number | undefined
}

/** Vectors, with which backend and model made them and the space they belong to. */
export interface Embedded {
  readonly vectors: ReadonlyArray<ReadonlyArray<number>>
  readonly backend: string
  /** The model as routing.yaml names it for that backend. */
  readonly model: string
  /** The model as the server named it in its answer. */
  readonly servedModel: string
  /** The vector space (the declared `space:`, else the model's name). */
  readonly space: string
  readonly usage: Usage
  readonly trace: Trace.Trace
}

export type Event = Data.TaggedEnum<{
  /** The answer is committed to this backend and model; tokens follow. */
  Routed: { readonly backend: string; readonly model: string; readonly attempt: number }
  TextDelta: { readonly text: string }
  ReasoningDelta: { readonly text: string }
  /** A tool call begins (per `index`, 0, 1, ... in the order the calls began): its id and name; its arguments follow as deltas. */
  ToolCallStart: { readonly index: number; readonly id: string; readonly name: string }
  /** A fragment of a tool call's arguments (JSON text; the fragments joined in order are the whole arguments). */
  ToolCallDelta: { readonly index: number; readonly arguments: string }
  ToolCallEnd: { readonly index: number }
  Usage: { readonly usage: Usage }
  Done: { readonly finishReason: FinishReason; readonly usage: Usage; readonly trace: Trace.Trace }
}>
export const Event = Data.taggedEnum<Event>()

export interface Answer {
  readonly text: string
  /** The model's reasoning, when it reported any ("" when none). */
  readonly reasoning: string
  /** The tool calls it made, in index order (empty when none). */
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly backend: string
  readonly model: string
  readonly finishReason: FinishReason
  readonly usage: Usage
  readonly trace: Trace.Trace
}

/** What a category (or a pinned backend/model) can do: each candidate's capabilities, and what at least one of them has. */
export interface CategoryCapabilities {
  /** True where at least one candidate (ready, with a model) has the capability. */
  readonly any: BackendCapabilities
  readonly candidates: ReadonlyArray<{
    readonly backend: string
    readonly model: string
    readonly capabilities: BackendCapabilities
    /** Set when the server could not say what the model supports (declarations and defaults were used). */
    readonly detail?: string
  }>
}

export interface Router {
  /** Answer whole: any failure, even mid-answer, falls back invisibly; so does an answer that does not match the JSON Schema asked for. */
  readonly run: (request: Request) => Effect.Effect<Answer, RouteError>
  /**
   * Answer as Events through the commit gate: the first pull walks the candidates and gives the
   * commit (`Routed`) with the first events; close them when done (closing abandons the answer
   * and cuts the backend's connection). What the gateway reads.
   */
  readonly pull: (request: Request) => Events.Events<Event, RouteError>
  /** `pull` as a Stream. */
  readonly stream: (request: Request) => Stream.Stream<Event, RouteError>
  /** Embeddings from the first candidate that answers, falling back only within one vector space. */
  readonly embed: (request: EmbedInput) => Effect.Effect<Embedded, RouteError>
  /** What a category (or pinned backend/model) can do, asking servers that report per model. */
  readonly capabilities: (target: { readonly category?: string | undefined; readonly pin?: { readonly backend: string; readonly model: string } | undefined }) => Effect.Effect<CategoryCapabilities, RouteError>
  /** Each backend's circuit, as the router sees it now. */
  readonly circuits: Effect.Effect<Readonly<Record<string, CircuitBreaker.View>>>
}

/** The router, as a service. */
export const Router = Context.Service<Router>("@local-router/core/Router")

/** How long an unanswered "what can this model do?" is remembered before the server is asked again. */
const UNKNOWN_REMEMBERED_MS = 30_000
/** The longest the router waits for a server to say what a model can do (less when the backend's connect deadline is shorter). */
const ASK_TIMEOUT_MS = 5_000

const fmtMs = (ms: number) => (ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`)

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

    // What servers reported about their models, for one config version (a reload starts afresh);
    // an unanswered question is asked again after a while (the server may have been down).
    let reportsVersion = -1
    const reports = new Map<string, { readonly at: number; readonly report: Capabilities.Reported }>()
    const keyOf = (backend: string, model: string) => `${backend}\u0000${model}`
    /** Ask the servers that can tell what the request's models can do (those not known yet), all at once. */
    const askServers = (snap: Snapshot, target: Parameters<typeof Plan.toAsk>[1], fallbackCategory: string) =>
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

    /** The plan for a request: its servers are asked what their models can do first, when it needs more than text. */
    const planOf = (snap: Snapshot, request: Request) =>
      Effect.gen(function*() {
        const first = yield* Effect.fromResult(Plan.forRequest(snap, request))
        if (!Capabilities.needsAny(Capabilities.needsOf(request, first.messages))) return first
        return yield* Effect.fromResult(Plan.forRequest(snap, request, yield* askServers(snap, request, "default")))
      })

    const walk = <A>(
      snap: Snapshot,
      plan: Plan.Plan,
      what: string,
      attempt: (attempt: Attempt) => Effect.Effect<Result.Result<A, BackendError>>
    ) =>
      Effect.gen(function*() {
        const clock = yield* Clock.Clock
        const started = clock.currentTimeMillisUnsafe()
        const attempts: Array<Trace.Attempt> = []
        const traceOf = (now: number, answered?: Plan.Try): Trace.Trace => ({
          ...(plan.category ? { category: plan.category.name } : { pinned: true }),
          ...(answered ? { backend: answered.backend, model: answered.model } : {}),
          ...(plan.space === undefined ? {} : { space: plan.space }),
          attempts: [...attempts],
          configVersion: snap.version,
          durationMs: now - started
        })
        let unavailable = false
        for (const candidate of plan.candidates) {
          if (candidate._tag === "Skip") {
            if (candidate.kind === "health") unavailable = true
            attempts.push(skipped(candidate, candidate.reason))
            continue
          }
          const refused = admit(candidate.backend, clock.currentTimeMillisUnsafe())
          if (refused !== undefined) {
            unavailable = true
            attempts.push(skipped(candidate, refused))
            continue
          }
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
        // Nothing was tried, nothing is merely down, and some lacked what the request needs: the request asks for what no candidate has.
        const unsupported = !tried && !unavailable && plan.candidates.some((c) => c._tag === "Skip" && c.kind === "capability")
        const listing = attempts.map((a) => `  ${a.backend} ${a.outcome}${a.reason ? ` (${a.reason})` : ""}${a.message ? `: ${a.message}` : ""}`).join("\n")
        return yield* new RouteError({
          reason: tried ? "AllFailed" : unsupported ? "Unsupported" : "NoCandidates",
          message: `${tried ? "every backend failed" : unsupported ? "no backend supports what the request needs" : "no backend could be tried"} for ${what}:\n${listing}`,
          trace: traceOf(clock.currentTimeMillisUnsafe())
        })
      })

    const whatOf = (plan: Plan.Plan, pin: Request["pin"]) => (plan.category ? `category "${plan.category.name}"` : `${pin?.backend}/${pin?.model}`)

    /** Plan and walk a generate request; `read` reads each attempt (whole, or through the commit gate). */
    const route = <A>(request: Request, read: (attempt: Generation) => Effect.Effect<Result.Result<A, BackendError>>) =>
      Effect.gen(function*() {
        const snap = yield* snapshot
        const check = yield* Effect.mapError(JsonCheck.forFormat(request.responseFormat), (problem) =>
          new RouteError({
            reason: "InvalidRequest",
            message: problem,
            trace: { ...(request.category ? { category: request.category } : {}), attempts: [], configVersion: snap.version, durationMs: 0 }
          }))
        const plan = yield* planOf(snap, request)
        return yield* walk(snap, plan, whatOf(plan, request.pin), (attempt) =>
          Effect.flatMap(
            request.prepare ? request.prepare(attempt.candidate.entry) : Effect.succeed(plan.messages),
            (messages) => read({ ...attempt, request: toGenerate(messages, request, attempt.candidate.model), check })
          ))
      })

    const pull = (request: Request): Events.Events<Event, RouteError> => {
      const answer: Answering = { closed: false, current: undefined }
      let rest: Effect.Effect<ReadonlyArray<Event> | undefined, RouteError> | undefined
      const first = Effect.flatMap(route(request, gated(answer)), (pull) => {
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

    const embed = (request: EmbedInput): Effect.Effect<Embedded, RouteError> =>
      Effect.gen(function*() {
        const snap = yield* snapshot
        // A malformed request is refused before any server is asked anything.
        yield* Effect.fromResult(Plan.forEmbed(snap, request))
        const plan = yield* Effect.fromResult(Plan.forEmbed(snap, request, yield* askServers(snap, request, "embed")))
        return yield* walk(snap, plan, whatOf(plan, request.pin), embedding(request))
      })

    const capabilities = (target: Parameters<Router["capabilities"]>[0]): Effect.Effect<CategoryCapabilities, RouteError> =>
      Effect.gen(function*() {
        const snap = yield* snapshot
        const { config } = snap
        const refuse = (reason: RouteError["reason"], message: string, known: ReadonlyArray<string>) =>
          new RouteError({ reason, message, known, trace: { attempts: [], configVersion: snap.version, durationMs: 0 } })
        if (target.pin && !config.backends[target.pin.backend]) {
          const known = Object.keys(config.backends)
          return yield* refuse("UnknownBackend", `unknown backend "${target.pin.backend}"; backends are: ${known.join(", ")}`, known)
        }
        const category = target.pin ? undefined : config.categories[target.category ?? "default"]
        if (!target.pin && !category) {
          const known = Object.keys(config.categories)
          return yield* refuse("UnknownCategory", `unknown category "${target.category ?? "default"}"; categories are: ${known.join(", ")}`, known)
        }
        const fallbackCategory = category?.name ?? "default"
        const lookup = yield* askServers(snap, target, fallbackCategory)
        const candidates = Plan.toAskAll(snap, target, fallbackCategory).map(({ backend, model, service }) => {
          const report = lookup(backend, model)
          return {
            backend,
            model,
            capabilities: Capabilities.resolve(
              service.capabilities,
              config.backends[backend]!.capabilities,
              report?._tag === "Reported" ? report.capabilities : undefined,
              category?.capabilities[backend]
            ),
            ...(report?._tag === "Unknown" ? { detail: report.why } : {})
          }
        })
        const keys = ["text", "images", "streaming", "pull", "tools", "jsonSchema", "reasoning", "embeddings"] as const
        const any = Object.fromEntries(keys.map((key) => [key, candidates.some((c) => c.capabilities[key])])) as unknown as BackendCapabilities
        return { any, candidates }
      })

    return Router.of({
      run: (request) => route(request, whole),
      pull,
      stream: (request) => Events.toStream(() => pull(request)),
      embed,
      capabilities,
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

/** One attempt, as the walk hands it to what reads it. */
interface Attempt {
  readonly candidate: Plan.Try
  /** Its place in the trace, skips included (the `Routed` event's `attempt`). */
  readonly number: number
  /** Trace how the attempt ended (answered, or failed after the commit) and settle its circuit; the trace so far. */
  readonly end: (outcome: Fallback.Outcome) => Trace.Trace
}

/** A generate attempt: the request for its backend, and the check of the complete answer's text (a response format). */
interface Generation extends Attempt {
  readonly request: GenerateRequest
  readonly check: JsonCheck.Check | undefined
}

/** Tool calls as their events arrive, whole by index. */
const toolCallsOf = () => {
  const calls: Array<{ id: string; name: string; arguments: string }> = []
  return {
    add: (event: GenerateEvent) => {
      if (event._tag === "ToolCallStart") calls[event.index] = { id: event.id, name: event.name, arguments: "" }
      else if (event._tag === "ToolCallDelta") {
        const call = calls[event.index]
        if (call) call.arguments += event.arguments
      }
    },
    get count() {
      return calls.length
    },
    all: (): ReadonlyArray<ToolCall> => calls.filter((call) => call !== undefined)
  }
}

/**
 * Whether the complete answer has the shape asked for: a turn that ended in tool calls has no
 * answer text to check. Undefined when it does, else the failure (which falls back, or fails
 * the stream after the commit).
 */
const checked = (attempt: Generation, text: string, toolCalls: number): BackendError | undefined => {
  if (attempt.check === undefined || toolCalls > 0) return undefined
  const problem = attempt.check(text)
  return problem === undefined
    ? undefined
    : new BackendError({ reason: "InvalidOutput", backend: attempt.candidate.backend, model: attempt.candidate.model, message: problem })
}

/** One attempt read whole: Right(the answer) at its Done, Left(why) for the walk to fall back. */
const whole = (attempt: Generation): Effect.Effect<Result.Result<Answer, BackendError>> => {
  const { candidate, end, request } = attempt
  const { backend, model, service, timeouts } = candidate
  return Effect.flatMap(TimedEvents.open(backend, model, () => service.generate(request), timeouts), (events) => {
    let text = ""
    let reasoning = ""
    const calls = toolCallsOf()
    let usage: Usage = {}
    const read: Effect.Effect<Result.Result<Answer, BackendError>> = Effect.matchEffect(events.pull, {
      onFailure: (error) => Effect.succeed(Result.fail(error)),
      onSuccess: (chunk) => {
        if (chunk === undefined) return Effect.succeed(Result.fail(streamCut(backend, model)))
        for (const event of chunk) {
          if (event._tag === "TextDelta") text += event.text
          else if (event._tag === "ReasoningDelta") reasoning += event.text
          else if (event._tag === "Usage") usage = { ...usage, ...event.usage }
          else if (event._tag === "Done") {
            const invalid = checked(attempt, text, calls.count)
            if (invalid) return Effect.succeed(Result.fail(invalid))
            const trace = end(Fallback.Outcome.Answered())
            return Effect.succeed(Result.succeed<Answer>({
              text,
              reasoning,
              toolCalls: calls.all(),
              backend,
              model,
              finishReason: event.finishReason,
              usage,
              trace
            }))
          } else calls.add(event)
        }
        return read
      }
    })
    return Effect.ensuring(read, Effect.sync(events.close))
  })
}

/**
 * One embeddings attempt under the attempt's total deadline: Right(the vectors, one per input,
 * all of one length), Left(why) for the walk to fall back.
 */
const embedding = (input: EmbedInput) => ({ candidate, end }: Attempt): Effect.Effect<Result.Result<Embedded, BackendError>> => {
  const { backend, model, service, space, timeouts } = candidate
  const fail = (reason: BackendError["reason"], message: string) => Result.fail(new BackendError({ reason, backend, model, message }))
  return Effect.suspend(() =>
    service.embed!({ model, input: input.input, ...(input.dimensions === undefined ? {} : { dimensions: input.dimensions }) })
  ).pipe(
    Effect.map((result): Result.Result<Embedded, BackendError> => {
      const problem = vectorsProblem(result.vectors, input.input.length)
      if (problem !== undefined) return fail("Upstream", `${backend} answered ${problem}`)
      return Result.succeed({
        vectors: result.vectors,
        backend,
        model,
        servedModel: result.model,
        space,
        usage: result.usage ?? {},
        trace: end(Fallback.Outcome.Answered())
      })
    }),
    Effect.timeoutOrElse({
      duration: Duration.millis(timeouts.total),
      orElse: () => Effect.succeed(fail("Timeout", `no embeddings from ${backend} within the total deadline ${timeouts.total}ms`))
    }),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const error = Cause.findErrorOption(cause)
      return Effect.succeed(Option.isSome(error) ? Result.fail(error.value) : fail("Upstream", `backend ${backend} crashed: ${describeCause(cause)}`))
    })
  )
}

/** What is wrong with a backend's vectors for `inputs` inputs, if anything. */
const vectorsProblem = (vectors: ReadonlyArray<ReadonlyArray<number>>, inputs: number): string | undefined => {
  if (vectors.length !== inputs) return `${vectors.length} vectors for ${inputs} inputs`
  const dimensions = vectors[0]?.length ?? 0
  if (inputs > 0 && dimensions === 0) return "empty vectors"
  if (vectors.some((v) => v.length !== dimensions)) return "vectors of different lengths"
  if (vectors.some((v) => v.some((x) => typeof x !== "number" || !Number.isFinite(x)))) return "a vector with a value that is not a finite number"
  return undefined
}

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
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
(attempt: Generation): Effect.Effect<Result.Result<Effect.Effect<ReadonlyArray<Event> | undefined, RouteError>, BackendError>> => {
  const { candidate, end, number, request } = attempt
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
    /** The first event the caller would see (text, reasoning, a tool call, or Done) and the events after it in its chunk, or why there is none. */
    const untilFirst: Effect.Effect<Result.Result<ReadonlyArray<GenerateEvent>, BackendError>> = Effect.matchEffect(events.pull, {
      onFailure: (error) => Effect.succeed(Result.fail(error)),
      onSuccess: (chunk) => {
        if (chunk === undefined) return Effect.succeed(Result.fail(streamCut(backend, model)))
        for (let i = 0; i < chunk.length; i++) {
          const event = chunk[i]!
          if (visible(event)) return Effect.succeed(Result.succeed(i === 0 ? chunk : chunk.slice(i)))
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
      // The answer's text and tool calls, kept only to check the complete answer against its response format.
      let text = ""
      const calls = toolCallsOf()
      /** An answer that ended in the wrong shape: the caller gets it after the events before it. */
      let failure: RouteError | undefined
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
          switch (event._tag) {
            case "TextDelta":
              if (attempt.check) text += event.text
              out.push(Event.TextDelta({ text: event.text }))
              break
            case "ReasoningDelta":
              out.push(Event.ReasoningDelta({ text: event.text }))
              break
            case "ToolCallStart":
              calls.add(event)
              out.push(Event.ToolCallStart({ index: event.index, id: event.id, name: event.name }))
              break
            case "ToolCallDelta":
              out.push(Event.ToolCallDelta({ index: event.index, arguments: event.arguments }))
              break
            case "ToolCallEnd":
              out.push(Event.ToolCallEnd({ index: event.index }))
              break
            case "Usage":
              usage = { ...usage, ...event.usage }
              out.push(Event.Usage({ usage: event.usage }))
              break
            case "Done": {
              const invalid = checked(attempt, text, calls.count)
              if (invalid) failure = afterCommit(invalid)
              else out.push(finish(event))
              return out
            }
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
        if (failure) {
          const error = failure
          failure = undefined
          return Effect.fail(error)
        }
        if (finished || answer.closed) return Effect.succeed(undefined)
        return Effect.matchEffect(events.pull, {
          onFailure: (error) => (answer.closed ? Effect.succeed(undefined) : Effect.fail(afterCommit(error))),
          onSuccess: (chunk) => {
            if (chunk === undefined) return answer.closed ? Effect.succeed(undefined) : Effect.fail(afterCommit(streamCut(backend, model)))
            const out = translate(chunk, [])
            if (out.length > 0 || !failure) return Effect.succeed(out)
            const error = failure
            failure = undefined
            return Effect.fail(error)
          }
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
  ...(candidate._tag === "Try" && candidate.detail !== undefined ? { detail: candidate.detail } : {}),
  durationMs
})

/** The events a caller sees: the first of them is the commit. */
const visible = (event: GenerateEvent): boolean => event._tag !== "Start" && event._tag !== "Usage"

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
  ...(request.task ? { task: request.task } : {}),
  ...(request.tools && request.tools.length > 0 ? { tools: request.tools } : {}),
  ...(request.toolChoice ? { toolChoice: request.toolChoice } : {}),
  ...(request.parallelToolCalls === undefined ? {} : { parallelToolCalls: request.parallelToolCalls }),
  ...(request.responseFormat ? { responseFormat: request.responseFormat } : {}),
  ...(request.reasoning ? { reasoning: request.reasoning } : {})
})

const streamCut = (backend: string, model: string) =>
  new BackendError({ reason: "StreamCut", backend, model, message: `${backend} ended the stream before the answer was complete` })
