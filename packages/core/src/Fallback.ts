/**
 * What the end of one attempt means, as pure functions: does the request fall back to the next
 * candidate, stop, or finish; and what does it say about the backend's circuit.
 *
 * - A bad request is the caller's fault: every backend would reject it, so the request stops,
 *   and the backend's health is not in question.
 * - A missing model is about one model, not the backend: fall back, leave the circuit alone.
 *   So is an answer that does not match the JSON Schema asked for (`InvalidOutput`): the model
 *   wrote it, the server is healthy.
 * - Every other failure (unreachable, timeout, overloaded, auth, upstream, cut stream) falls
 *   back and counts against the circuit, with the server's Retry-After when it gave one.
 * - After the commit (tokens already reached the caller) nothing falls back: the request
 *   stops with `StreamFailed`, and the failure still counts against the circuit.
 * - A caller that goes away says nothing about the backend (a half-open trial is freed).
 */
import * as Data from "effect/Data"
import type { BackendError } from "./BackendError.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"

export type Outcome = Data.TaggedEnum<{
  Answered: {}
  Failed: {
    readonly error: BackendError
    /** True when tokens had already reached the caller. */
    readonly committed: boolean
  }
  /** The caller went away (interrupted) before the attempt ended. */
  Cancelled: {}
}>
export const Outcome = Data.taggedEnum<Outcome>()

export interface Decision {
  /** What the request does next. */
  readonly next: "answer" | "fall back" | "stop"
  /** Why the request stops, as the caller sees it (a cancelled request has no one to tell). */
  readonly stop?: "BadRequest" | "StreamFailed"
  /** What the outcome says about the backend's health. */
  readonly circuit: "success" | "failure" | "neutral"
  /** How long the server asked not to be called again (its Retry-After), for a failure. */
  readonly retryAfterMs?: number
}

export const decide = (outcome: Outcome): Decision => {
  switch (outcome._tag) {
    case "Answered":
      return { next: "answer", circuit: "success" }
    case "Cancelled":
      return { next: "stop", circuit: "neutral" }
    case "Failed": {
      const { committed, error } = outcome
      const circuit = error.reason === "BadRequest" || error.reason === "ModelMissing" || error.reason === "InvalidOutput" ? "neutral" : "failure"
      const retry = circuit === "failure" && error.retryAfterMs !== undefined && error.retryAfterMs > 0
        ? { retryAfterMs: error.retryAfterMs }
        : {}
      if (committed) return { next: "stop", stop: "StreamFailed", circuit, ...retry }
      if (error.reason === "BadRequest") return { next: "stop", stop: "BadRequest", circuit }
      return { next: "fall back", circuit, ...retry }
    }
  }
}

/** The backend's circuit after a decision. */
export const settle = (
  state: CircuitBreaker.State,
  decision: Decision,
  policy: CircuitBreaker.Policy,
  now: number
): CircuitBreaker.State =>
  decision.circuit === "success"
    ? CircuitBreaker.onSuccess(state)
    : decision.circuit === "failure"
    ? CircuitBreaker.onFailure(state, policy, now, decision.retryAfterMs)
    : CircuitBreaker.onNeutral(state)
