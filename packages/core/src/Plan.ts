/**
 * Candidate planning, as pure functions: a request and the config snapshot it read give the
 * messages to send and the backends to try, in priority order, each with its model and
 * deadlines, or the reason it is skipped (no model, disabled, not loaded, failed to load, no
 * image input, needs an image).
 *
 * One check waits for the moment the walk reaches a candidate: its circuit (`admit`), because
 * time passes while the candidates before it are tried, and a half-open circuit lets only the
 * request that actually reaches it through.
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import type { Backend, Message, Timeouts } from "./Backend.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import { didYouMean } from "./internal/didYouMean.ts"
import { RouteError } from "./RouteError.ts"
import type { Request, Snapshot } from "./Router.ts"
import { type BackendConfig, type CategoryConfig, routeOf } from "./RoutingConfig.ts"

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
  }
  Skip: { readonly backend: string; readonly model: string | undefined; readonly reason: string }
}>
export const Candidate = Data.taggedEnum<Candidate>()
export type Try = Data.TaggedEnum.Value<Candidate, "Try">

export interface Plan {
  /** The category routed; undefined for a pinned backend/model. */
  readonly category: CategoryConfig | undefined
  readonly messages: ReadonlyArray<Message>
  readonly candidates: ReadonlyArray<Candidate>
}

/** The plan for a request, or why it cannot be routed at all (no prompt, unknown category or backend). */
export const forRequest = (snapshot: Snapshot, request: Request): Result.Result<Plan, RouteError> => {
  const { config } = snapshot
  const refuse = (reason: RouteError["reason"], message: string, known?: ReadonlyArray<string>) =>
    Result.fail(new RouteError({
      reason,
      message,
      ...(known ? { known } : {}),
      trace: { ...(request.category ? { category: request.category } : {}), attempts: [], configVersion: snapshot.version, durationMs: 0 }
    }))
  const messages: ReadonlyArray<Message> = [
    ...(request.system ? [{ role: "system" as const, content: request.system }] : []),
    ...(request.messages ?? []),
    ...(request.prompt !== undefined ? [{ role: "user" as const, content: request.prompt }] : [])
  ]
  if (!messages.some((m) => m.role === "user" && (m.content.length > 0 || (m.images?.length ?? 0) > 0))) {
    return refuse("InvalidRequest", "the request has no prompt: give `prompt` or a user message")
  }
  const wantsImages = messages.some((m) => (m.images?.length ?? 0) > 0)
  if (request.pin) {
    const { backend, model } = request.pin
    const entry = config.backends[backend]
    if (!entry) {
      const known = Object.keys(config.backends)
      return refuse("UnknownBackend", `unknown backend "${backend}"${hint(backend, known)}; backends are: ${known.join(", ")}`, known)
    }
    const skip = entry.enabled ? undefined : "disabled in routing.yaml"
    return Result.succeed({ category: undefined, messages, candidates: [candidate(snapshot, undefined, wantsImages, backend, model, skip)] })
  }
  const name = request.category ?? "default"
  const category = config.categories[name]
  if (!category) {
    const known = Object.keys(config.categories)
    return refuse("UnknownCategory", `unknown category "${name}"${hint(name, known)}; categories are: ${known.join(", ")}`, known)
  }
  return Result.succeed({
    category,
    messages,
    candidates: routeOf(config, category).map((step) => candidate(snapshot, category, wantsImages, step.backend, step.model, step.skip))
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

const candidate = (
  snapshot: Snapshot,
  category: CategoryConfig | undefined,
  wantsImages: boolean,
  backend: string,
  model: string | undefined,
  configSkip: string | undefined
): Candidate => {
  const slot = snapshot.backends.get(backend)
  const entry = snapshot.config.backends[backend]
  const skip = configSkip ??
    (!slot
      ? "not loaded"
      : slot._tag === "Failed"
      ? `failed to load: ${slot.reason}`
      : wantsImages && !slot.backend.capabilities.images
      ? "no image input"
      : !wantsImages && !slot.backend.capabilities.text
      ? "needs an image"
      : undefined)
  if (skip !== undefined || slot?._tag !== "Ready" || model === undefined || entry === undefined) {
    return Candidate.Skip({ backend, model, reason: skip ?? "not loaded" })
  }
  return Candidate.Try({
    backend,
    model,
    service: slot.backend,
    entry,
    timeouts: { ...snapshot.config.defaults.timeouts, ...slot.timeouts, ...entry.timeouts, ...category?.timeouts }
  })
}

const hint = (name: string, known: ReadonlyArray<string>): string => {
  const close = didYouMean(name, known)
  return close ? ` (did you mean "${close}"?)` : ""
}

/** `30s`, `1.5s`, `250ms`. */
const duration = (ms: number): string => (ms < 1_000 ? `${Math.max(0, Math.round(ms))}ms` : `${Math.round(ms / 100) / 10}s`)
