/**
 * Circuit breaker policy, as pure functions of (state, policy, now). The Router owns one
 * state per backend and drives it with the Clock, so tests move time with TestClock.
 *
 *   closed --(policy.failures in a row)--> open --(cooldown passes)--> half-open
 *   half-open --(trial succeeds)--> closed      half-open --(trial fails)--> open
 *
 * Only one trial request passes while half-open; the others skip the backend.
 *
 * A server that answers "retry after N" (HTTP Retry-After) opens the circuit at once for at
 * least N, whatever the failure count: asking it sooner only earns another refusal.
 */
import * as Data from "effect/Data"

export interface Policy {
  /** Failures in a row that open the circuit. */
  readonly failures: number
  /** Milliseconds an open circuit waits before letting a trial through. */
  readonly cooldown: number
}

export type State = Data.TaggedEnum<{
  Closed: { readonly failures: number }
  /** `retryAfterMs`: the server's Retry-After set `until` (longer than the policy's cool-down). */
  Open: { readonly until: number; readonly retryAfterMs?: number }
  HalfOpen: { readonly trialInFlight: boolean }
}>
export const State = Data.taggedEnum<State>()

export const initial: State = State.Closed({ failures: 0 })

export interface Admission {
  readonly allowed: boolean
  readonly state: State
}

/** May a request go to this backend now? Admitting the half-open trial marks it in flight. */
export const admit = (state: State, now: number): Admission =>
  State.$match(state, {
    Closed: () => ({ allowed: true, state }),
    Open: ({ until }) =>
      now >= until
        ? { allowed: true, state: State.HalfOpen({ trialInFlight: true }) }
        : { allowed: false, state },
    HalfOpen: ({ trialInFlight }) =>
      trialInFlight
        ? { allowed: false, state }
        : { allowed: true, state: State.HalfOpen({ trialInFlight: true }) }
  })

export const onSuccess = (_state: State): State => initial

/** A failure that counts against the backend; `retryAfterMs` is the server's Retry-After, if it gave one. */
export const onFailure = (state: State, policy: Policy, now: number, retryAfterMs?: number): State => {
  const retry = retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : undefined
  /** Open for the cool-down, or for as long as the server asked if that is longer. */
  const openFor = (cooldown: number): State =>
    retry !== undefined && retry > cooldown
      ? State.Open({ until: now + retry, retryAfterMs: retry })
      : State.Open({ until: now + cooldown })
  return State.$match(state, {
    Closed: ({ failures }) =>
      failures + 1 >= policy.failures
        ? openFor(policy.cooldown)
        : retry !== undefined
        ? openFor(0)
        : State.Closed({ failures: failures + 1 }),
    Open: ({ until }) => (retry !== undefined && now + retry > until ? openFor(0) : state),
    HalfOpen: () => openFor(policy.cooldown)
  })
}

/** An attempt that ended without saying anything about the backend's health (caller's bad request, cancellation). */
export const onNeutral = (state: State): State =>
  state._tag === "HalfOpen" ? State.HalfOpen({ trialInFlight: false }) : state

export type View = "closed" | "open" | "half-open"

export const view = (state: State, now: number): View =>
  State.$match(state, {
    Closed: () => "closed" as const,
    Open: ({ until }) => (now >= until ? "half-open" as const : "open" as const),
    HalfOpen: () => "half-open" as const
  })
