/**
 * Candidate planning, as pure functions: a request, the config snapshot it read and what the
 * servers reported about their models give the messages to send and the backends to try, in
 * priority order, each with its model, its capabilities and deadlines, or the reason it is
 * skipped (no model, disabled, not loaded, failed to load, lacks what the request needs:
 * image input, tools, JSON schema, reasoning, embeddings; or, for embeddings, makes vectors
 * of another space).
 *
 * One check waits for the moment the walk reaches a candidate: its circuit (`admit`), because
 * time passes while the candidates before it are tried, and a half-open circuit lets only the
 * request that actually reaches it through.
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import type { Backend, Capabilities, Message, Timeouts } from "./Backend.ts"
import * as Caps from "./Capabilities.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import { didYouMean } from "./internal/didYouMean.ts"
import { RouteError } from "./RouteError.ts"
import type { EmbedInput, Request, Snapshot } from "./Router.ts"
import { type BackendConfig, type CategoryConfig, routeOf } from "./RoutingConfig.ts"

/**
 * Why a candidate is skipped, as a kind: `config` (no model, disabled, another vector space),
 * `health` (not loaded, failed to load; it may be back later) or `capability` (it lacks what
 * the request needs: the request is the problem, a 4xx when nothing else is left).
 */
export type SkipKind = "config" | "health" | "capability"

export type Candidate = Data.TaggedEnum<{
  /** Tried when the walk reaches it, if its circuit lets it through. */
  Try: {
    readonly backend: string
    readonly model: string
    readonly service: Backend
    /** Its routing.yaml entry, what `Request.prepare` adapts the messages to. */
    readonly entry: BackendConfig
    /** The category's deadlines over the backend entry's, over its definition's, over the defaults. */
    readonly timeouts: Timeouts
    /** What the model can do (see Capabilities.resolve). */
    readonly capabilities: Capabilities
    /** Embeddings: the vector space its vectors belong to. */
    readonly space: string
    /** Worth a note in the trace (e.g. the server could not say what the model supports). */
    readonly detail: string | undefined
  }
  Skip: {
    readonly backend: string
    readonly model: string | undefined
    readonly reason: string
    readonly kind: SkipKind
  }
}>
export const Candidate = Data.taggedEnum<Candidate>()
export type Try = Data.TaggedEnum.Value<Candidate, "Try">
export type Skip = Data.TaggedEnum.Value<Candidate, "Skip">

export interface Plan {
  /** The category routed; undefined for a pinned backend/model. */
  readonly category: CategoryConfig | undefined
  readonly messages: ReadonlyArray<Message>
  readonly candidates: ReadonlyArray<Candidate>
  /** Embeddings: the vector space every candidate tried shares. */
  readonly space?: string
}

/** What the servers reported about a backend's model (Capabilities.Reported), for those that were asked. */
export type Reports = (backend: string, model: string) => Caps.Reported | undefined

const noReports: Reports = () => undefined

/** The plan for a request, or why it cannot be routed at all (no prompt, unknown category or backend). */
export const forRequest = (snapshot: Snapshot, request: Request, reports: Reports = noReports): Result.Result<Plan, RouteError> => {
  const { config } = snapshot
  const refuse = refuser(snapshot, request.category)
  const messages: ReadonlyArray<Message> = [
    ...(request.system ? [{ role: "system" as const, content: request.system }] : []),
    ...(request.messages ?? []),
    ...(request.prompt !== undefined ? [{ role: "user" as const, content: request.prompt }] : [])
  ]
  if (!messages.some((m) => (m.role === "user" || m.role === "tool") && (m.content.length > 0 || (m.images?.length ?? 0) > 0))) {
    return refuse("InvalidRequest", "the request has no prompt: give `prompt` or a user message")
  }
  const needs = Caps.needsOf(request, messages)
  const check = (capabilities: Capabilities, model: string) => {
    const lacks = Caps.lacking(capabilities, needs)
    // Image reasons read as they always have; the agent features name the model, as a user asks "which one lacks tools?".
    return lacks === undefined || lacks === "no image input" || lacks === "needs an image" ? lacks : `${model}: ${lacks}`
  }
  if (request.pin) {
    const { backend, model } = request.pin
    const entry = config.backends[backend]
    if (!entry) return unknownBackend(refuse, snapshot, backend)
    const skip = entry.enabled ? undefined : "disabled in routing.yaml"
    return Result.succeed({ category: undefined, messages, candidates: [candidate(snapshot, undefined, reports, check, backend, model, skip)] })
  }
  const name = request.category ?? "default"
  const category = config.categories[name]
  if (!category) return unknownCategory(refuse, snapshot, name)
  if (category.input === "embed") {
    return refuse("InvalidRequest", `category "${name}" is for embeddings (input: embed): send its input to the embeddings endpoint, or name a text category`)
  }
  return Result.succeed({
    category,
    messages,
    candidates: routeOf(config, category).map((step) => candidate(snapshot, category, reports, check, step.backend, step.model, step.skip))
  })
}

/**
 * The plan for embeddings. Every candidate tried makes vectors of one space: that of the first
 * candidate the config allows (its declared `space:`, else its model's name), whether or not
 * its server is up, so a down server never silently switches an index to another model's
 * vectors. Candidates of another space are skipped, saying so.
 */
export const forEmbed = (snapshot: Snapshot, request: EmbedInput, reports: Reports = noReports): Result.Result<Plan, RouteError> => {
  const { config } = snapshot
  const refuse = refuser(snapshot, request.category)
  if (request.input.length === 0) return refuse("InvalidRequest", "nothing to embed: `input` is empty")
  const check = (capabilities: Capabilities, model: string, service: Backend) =>
    capabilities.embeddings && service.embed !== undefined ? undefined : `${model}: no embeddings support`
  if (request.pin) {
    const { backend, model } = request.pin
    const entry = config.backends[backend]
    if (!entry) return unknownBackend(refuse, snapshot, backend)
    const skip = entry.enabled ? undefined : "disabled in routing.yaml"
    return Result.succeed({ category: undefined, messages: [], space: model, candidates: [candidate(snapshot, undefined, reports, check, backend, model, skip)] })
  }
  const name = request.category ?? "embed"
  const category = config.categories[name]
  if (!category) return unknownCategory(refuse, snapshot, name)
  if (category.input !== "embed") {
    return refuse("InvalidRequest", `category "${name}" is for ${category.input} input, not embeddings: name a category with input: embed`)
  }
  const candidates = routeOf(config, category).map((step) => candidate(snapshot, category, reports, check, step.backend, step.model, step.skip))
  // The space: that of the first candidate neither the config nor its lack of embeddings rules out.
  const first = candidates.find((c) => c._tag === "Try" || c.kind === "health")
  const space = first ? category.spaces[first.backend] : undefined
  return Result.succeed({
    category,
    messages: [],
    ...(space === undefined ? {} : { space }),
    candidates: candidates.map((c) => {
      const own = category.spaces[c.backend]
      if (space === undefined || own === undefined || own === space || (c._tag === "Skip" && c.kind !== "health")) return c
      return Candidate.Skip({
        backend: c.backend,
        model: c.model,
        kind: "config",
        reason: `makes vectors of another space (${own}) than this category's (${space}); declare the same space: on both models if they make the same vectors`
      })
    })
  })
}

/** The circuit's say when the walk reaches a candidate: its state after asking, and why not when it refuses. */
export const admit = (
  circuit: CircuitBreaker.State,
  now: number
): { readonly circuit: CircuitBreaker.State; readonly skip: string | undefined } => {
  const { allowed, state } = CircuitBreaker.admit(circuit, now)
  if (allowed) return { circuit: state, skip: undefined }
  return {
    circuit: state,
    skip: state._tag === "Open" && state.retryAfterMs !== undefined
      ? `circuit open: the server asked to retry after ${duration(state.retryAfterMs)} (Retry-After), ${duration(state.until - now)} left`
      : "circuit open"
  }
}

/**
 * The backends and models whose servers should be asked what the model can do before planning:
 * ready backends that can tell (`modelCapabilities`), for the models the request would try.
 */
export const toAsk = (snapshot: Snapshot, target: Target, fallbackCategory: string) =>
  toAskAll(snapshot, target, fallbackCategory).filter((step) => step.service.modelCapabilities !== undefined)

type Target = { readonly category?: string | undefined; readonly pin?: { readonly backend: string; readonly model: string } | undefined }

/** The ready backends (with their models) a category, or a pinned backend/model, would try. */
export const toAskAll = (snapshot: Snapshot, target: Target, fallbackCategory: string) => {
  const { config } = snapshot
  const steps = target.pin
    ? [{ backend: target.pin.backend, model: target.pin.model as string | undefined, skip: undefined as string | undefined }]
    : (() => {
      const category = config.categories[target.category ?? fallbackCategory]
      return category ? routeOf(config, category) : []
    })()
  return steps.flatMap((step) => {
    const slot = snapshot.backends.get(step.backend)
    if (step.skip !== undefined || step.model === undefined || slot?._tag !== "Ready") return []
    // The backend's connect deadline bounds the question too: a server that slow to answer would fail the request anyway.
    const connectMs = config.backends[step.backend]?.timeouts.connect ?? slot.timeouts.connect ?? config.defaults.timeouts.connect
    return [{ backend: step.backend, model: step.model, service: slot.backend, connectMs }]
  })
}

type Refuse = (reason: RouteError["reason"], message: string, known?: ReadonlyArray<string>) => Result.Result<never, RouteError>

const refuser = (snapshot: Snapshot, category: string | undefined): Refuse => (reason, message, known) =>
  Result.fail(new RouteError({
    reason,
    message,
    ...(known ? { known } : {}),
    trace: { ...(category ? { category } : {}), attempts: [], configVersion: snapshot.version, durationMs: 0 }
  }))

const unknownBackend = (refuse: Refuse, snapshot: Snapshot, backend: string) => {
  const known = Object.keys(snapshot.config.backends)
  return refuse("UnknownBackend", `unknown backend "${backend}"${hint(backend, known)}; backends are: ${known.join(", ")}`, known)
}

const unknownCategory = (refuse: Refuse, snapshot: Snapshot, name: string) => {
  const known = Object.keys(snapshot.config.categories)
  return refuse("UnknownCategory", `unknown category "${name}"${hint(name, known)}; categories are: ${known.join(", ")}`, known)
}

const candidate = (
  snapshot: Snapshot,
  category: CategoryConfig | undefined,
  reports: Reports,
  check: (capabilities: Capabilities, model: string, service: Backend) => string | undefined,
  backend: string,
  model: string | undefined,
  configSkip: string | undefined
): Candidate => {
  const slot = snapshot.backends.get(backend)
  const entry = snapshot.config.backends[backend]
  if (configSkip !== undefined || model === undefined || entry === undefined) {
    return Candidate.Skip({ backend, model, reason: configSkip ?? "no model for this category", kind: "config" })
  }
  if (slot?._tag !== "Ready") {
    return Candidate.Skip({ backend, model, reason: slot ? `failed to load: ${slot.reason}` : "not loaded", kind: "health" })
  }
  const report = reports(backend, model)
  const capabilities = Caps.resolve(
    slot.backend.capabilities,
    entry.capabilities,
    report?._tag === "Reported" ? report.capabilities : undefined,
    category?.capabilities[backend]
  )
  const lacks = check(capabilities, model, slot.backend)
  const detail = report?._tag === "Unknown" ? `${report.why}; used routing.yaml's declarations and the ${slot.backend.type} defaults` : undefined
  if (lacks !== undefined) return Candidate.Skip({ backend, model, reason: detail ? `${lacks} (${detail})` : lacks, kind: "capability" })
  return Candidate.Try({
    backend,
    model,
    service: slot.backend,
    entry,
    timeouts: { ...snapshot.config.defaults.timeouts, ...slot.timeouts, ...entry.timeouts, ...category?.timeouts },
    capabilities,
    space: category?.spaces[backend] ?? model,
    detail
  })
}

const hint = (name: string, known: ReadonlyArray<string>): string => {
  const close = didYouMean(name, known)
  return close ? ` (did you mean "${close}"?)` : ""
}

/** `30s`, `1.5s`, `250ms`. */
const duration = (ms: number): string => (ms < 1_000 ? `${Math.max(0, Math.round(ms))}ms` : `${Math.round(ms / 100) / 10}s`)
