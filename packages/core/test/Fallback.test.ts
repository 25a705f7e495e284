import { describe, expect, it } from "@effect/vitest"
import { BackendError, CircuitBreaker, Fallback } from "../src/index.ts"

const { Outcome } = Fallback
const { State } = CircuitBreaker

const failed = (reason: BackendError.Reason, options: { readonly committed?: boolean; readonly retryAfterMs?: number } = {}) =>
  Outcome.Failed({
    committed: options.committed ?? false,
    error: new BackendError.BackendError({
      reason,
      backend: "mlx",
      message: `mlx: ${reason}`,
      ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs })
    })
  })

describe("Fallback.decide: what an attempt's end means (pure, table-tested)", () => {
  const cases: ReadonlyArray<[string, Fallback.Outcome, Fallback.Decision]> = [
    ["an answer finishes the request and closes the circuit", Outcome.Answered(), { next: "answer", circuit: "success" }],
    ["a caller that went away stops, and says nothing about the backend", Outcome.Cancelled(), { next: "stop", circuit: "neutral" }],
    ["unreachable: another backend may answer; counts against the circuit", failed("Unreachable"), { next: "fall back", circuit: "failure" }],
    ["a deadline passed: fall back; counts", failed("Timeout"), { next: "fall back", circuit: "failure" }],
    ["overloaded: fall back; counts", failed("Overloaded"), { next: "fall back", circuit: "failure" }],
    ["overloaded with Retry-After: fall back; the circuit keeps the server's wait", failed("Overloaded", { retryAfterMs: 30_000 }), { next: "fall back", circuit: "failure", retryAfterMs: 30_000 }],
    ["a Retry-After of 0 asks for no wait", failed("Overloaded", { retryAfterMs: 0 }), { next: "fall back", circuit: "failure" }],
    ["rejected credentials: another backend may have its own; counts", failed("Auth"), { next: "fall back", circuit: "failure" }],
    ["an unreadable answer: fall back; counts", failed("Upstream"), { next: "fall back", circuit: "failure" }],
    ["a stream cut before the first token: fall back; counts", failed("StreamCut"), { next: "fall back", circuit: "failure" }],
    ["a missing model: fall back, but the backend itself is fine", failed("ModelMissing"), { next: "fall back", circuit: "neutral" }],
    ["a missing model ignores a Retry-After (it is about one model)", failed("ModelMissing", { retryAfterMs: 5_000 }), { next: "fall back", circuit: "neutral" }],
    ["an answer that does not match the JSON Schema: another model may write one; the server is fine", failed("InvalidOutput"), { next: "fall back", circuit: "neutral" }],
    ["a mismatch found at the end of a streamed answer stops with StreamFailed; not the server's fault", failed("InvalidOutput", { committed: true }), { next: "stop", stop: "StreamFailed", circuit: "neutral" }],
    ["the caller's bad request: no other backend would take it, stop; not the backend's fault", failed("BadRequest"), { next: "stop", stop: "BadRequest", circuit: "neutral" }],
    ["after the commit an upstream error stops with StreamFailed; counts", failed("Upstream", { committed: true }), { next: "stop", stop: "StreamFailed", circuit: "failure" }],
    ["after the commit a cut stream stops with StreamFailed; counts", failed("StreamCut", { committed: true }), { next: "stop", stop: "StreamFailed", circuit: "failure" }],
    ["after the commit an idle deadline stops with StreamFailed; counts", failed("Timeout", { committed: true }), { next: "stop", stop: "StreamFailed", circuit: "failure" }],
    ["after the commit an overload with Retry-After still keeps the wait", failed("Overloaded", { committed: true, retryAfterMs: 2_000 }), { next: "stop", stop: "StreamFailed", circuit: "failure", retryAfterMs: 2_000 }],
    ["after the commit a bad request stops with StreamFailed; not the backend's fault", failed("BadRequest", { committed: true }), { next: "stop", stop: "StreamFailed", circuit: "neutral" }]
  ]
  for (const [name, outcome, decision] of cases) {
    it(name, () => expect(Fallback.decide(outcome)).toEqual(decision))
  }
})

describe("Fallback.settle: the circuit after a decision", () => {
  const policy: CircuitBreaker.Policy = { failures: 2, cooldown: 1_000 }
  const now = 10_000
  const cases: ReadonlyArray<[string, CircuitBreaker.State, Fallback.Outcome, CircuitBreaker.State]> = [
    ["an answer closes an open circuit", State.HalfOpen({ trialInFlight: true }), Outcome.Answered(), State.Closed({ failures: 0 })],
    ["a failure below the threshold is counted", State.Closed({ failures: 0 }), failed("Unreachable"), State.Closed({ failures: 1 })],
    ["the threshold-th failure opens for the cool-down", State.Closed({ failures: 1 }), failed("Timeout"), State.Open({ until: 11_000 })],
    ["a Retry-After opens at once, for as long as the server asked", State.Closed({ failures: 0 }), failed("Overloaded", { retryAfterMs: 30_000 }), State.Open({ until: 40_000, retryAfterMs: 30_000 })],
    ["a missing model leaves a closed circuit's count alone", State.Closed({ failures: 1 }), failed("ModelMissing"), State.Closed({ failures: 1 })],
    ["a mismatched answer leaves a closed circuit's count alone", State.Closed({ failures: 1 }), failed("InvalidOutput"), State.Closed({ failures: 1 })],
    ["a bad request frees a half-open trial without closing it", State.HalfOpen({ trialInFlight: true }), failed("BadRequest"), State.HalfOpen({ trialInFlight: false })],
    ["a cancelled trial frees the half-open slot", State.HalfOpen({ trialInFlight: true }), Outcome.Cancelled(), State.HalfOpen({ trialInFlight: false })],
    ["a failed trial re-opens", State.HalfOpen({ trialInFlight: true }), failed("StreamCut", { committed: true }), State.Open({ until: 11_000 })]
  ]
  for (const [name, state, outcome, next] of cases) {
    it(name, () => expect(Fallback.settle(state, Fallback.decide(outcome), policy, now)).toEqual(next))
  }
})
