/**
 * The Router: for a request (a category, or a pinned backend/model), walk the candidates its
 * plan gives in priority order, each under its deadlines, and fall back on reasons that mean
 * "try elsewhere". This module composes; the parts live apart: `Plan` (pure: which candidates,
 * which are skipped and why), `Reports` (what servers said their models can do), `Fallback`
 * (pure: what an attempt's end means), `CircuitBreaker` (when a backend rests, for its
 * cool-down or as long as its server's Retry-After asked) and `Attempt` (one candidate's
 * answer under its four deadlines, read whole, through the commit gate, or as embeddings).
 * Every answer and every error carries the trace of what was tried.
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
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import * as Attempt from "./Attempt.ts"
import type { Answer, EmbedInput, Embedded, Event } from "./Attempt.ts"
import type {
  Backend,
  Capabilities as BackendCapabilities,
  GenerateRequest,
  Message,
  Options,
  Reasoning,
  ResponseFormat,
  Task,
  Timeouts,
  Tool,
  ToolChoice
} from "./Backend.ts"
import type { BackendError } from "./BackendError.ts"
import * as Capabilities from "./Capabilities.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import * as Events from "./Events.ts"
import * as Fallback from "./Fallback.ts"
import * as JsonCheck from "./internal/JsonCheck.ts"
import * as Plan from "./Plan.ts"
import * as Reports from "./Reports.ts"
import { RouteError } from "./RouteError.ts"
import type { BackendConfig, Config } from "./RoutingConfig.ts"
import type * as Trace from "./Trace.ts"

export { type Answer, type EmbedInput, type Embedded, Event } from "./Attempt.ts"
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

/** A generate request: where to route it (a category, or a pinned backend/model), the conversation, and what the answer must be. */
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

/** The wide service callers use (built by `make` over the narrow `Backend`s of a snapshot). */
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

/** A router over the snapshots `snapshot` reads (each request reads it once): `LiveRouting`'s, or a fixed one. */
export const make = (snapshot: Effect.Effect<Snapshot>): Effect.Effect<Router> =>
  Effect.sync(() => {
    // Each backend's circuit. Only this module's synchronous code reads and writes it.
    const circuits: Circuits = new Map()
    const askServers = Reports.make()

    /** Plan and walk a generate request; `read` reads each attempt (whole, or through the commit gate). */
    const route = <A>(request: Request, read: (attempt: Attempt.Generation) => Effect.Effect<Result.Result<A, BackendError>>) =>
      Effect.gen(function*() {
        const snap = yield* snapshot
        const check = yield* Effect.mapError(JsonCheck.forFormat(request.responseFormat), (problem) =>
          new RouteError({
            reason: "InvalidRequest",
            message: problem,
            trace: { ...(request.category ? { category: request.category } : {}), attempts: [], configVersion: snap.version, durationMs: 0 }
          }))
        const plan = yield* planOf(snap, request, askServers)
        return yield* walk(circuits, snap, plan, whatOf(plan, request.pin), (attempt) =>
          Effect.flatMap(
            request.prepare ? request.prepare(attempt.candidate.entry) : Effect.succeed(plan.messages),
            (messages) => read({ ...attempt, request: toGenerate(messages, request, attempt.candidate.model), check })
          ))
      })

    const pull = (request: Request): Events.Events<Event, RouteError> => {
      const answer: Attempt.Answering = { closed: false, current: undefined }
      let rest: Effect.Effect<ReadonlyArray<Event> | undefined, RouteError> | undefined
      const first = Effect.flatMap(route(request, Attempt.gated(answer)), (pull) => {
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
        return yield* walk(circuits, snap, plan, whatOf(plan, request.pin), Attempt.embedding(request))
      })

    return Router.of({
      run: (request) => route(request, Attempt.whole),
      pull,
      stream: (request) => Events.toStream(() => pull(request)),
      embed,
      capabilities: (target) => Effect.flatMap(snapshot, (snap) => capabilitiesOf(snap, target, askServers)),
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

/** Each backend's circuit, by name. */
type Circuits = Map<string, CircuitBreaker.State>

const circuitOf = (circuits: Circuits, backend: string) => circuits.get(backend) ?? CircuitBreaker.initial

/** Ask the backend's circuit; why not, when it refuses. */
const admit = (circuits: Circuits, backend: string, now: number): string | undefined => {
  const { circuit, skip } = Plan.admit(circuitOf(circuits, backend), now)
  circuits.set(backend, circuit)
  return skip
}

/** The plan for a request: its servers are asked what their models can do first, when it needs more than text. */
const planOf = (snap: Snapshot, request: Request, askServers: Reports.Ask) =>
  Effect.gen(function*() {
    const first = yield* Effect.fromResult(Plan.forRequest(snap, request))
    if (!Capabilities.needsAny(Capabilities.needsOf(request, first.messages))) return first
    return yield* Effect.fromResult(Plan.forRequest(snap, request, yield* askServers(snap, request, "default")))
  })

/**
 * Walk the plan's candidates in order: skips are traced, each candidate's circuit is asked when
 * the walk reaches it, and `attempt` reads those let through until one answers or an outcome
 * says stop. Every end of an attempt is traced and settles the backend's circuit.
 */
const walk = <A>(
  circuits: Circuits,
  snap: Snapshot,
  plan: Plan.Plan,
  what: string,
  attempt: (attempt: Attempt.Attempt) => Effect.Effect<Result.Result<A, BackendError>>
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
      const refused = admit(circuits, candidate.backend, clock.currentTimeMillisUnsafe())
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
        circuits.set(candidate.backend, Fallback.settle(circuitOf(circuits, candidate.backend), decision, policyOf(snap, candidate.backend), now))
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

/** What a category (or pinned backend/model) can do, after asking the servers that report per model. */
const capabilitiesOf = (
  snap: Snapshot,
  target: Parameters<Router["capabilities"]>[0],
  askServers: Reports.Ask
): Effect.Effect<CategoryCapabilities, RouteError> =>
  Effect.gen(function*() {
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
