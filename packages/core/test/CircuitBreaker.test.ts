import { describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "../src/index.ts"

const policy: CircuitBreaker.Policy = { failures: 3, cooldown: 1_000 }
const { State } = CircuitBreaker

describe("CircuitBreaker policy (pure, table-tested)", () => {
  const admitCases: ReadonlyArray<[string, CircuitBreaker.State, number, boolean, CircuitBreaker.State]> = [
    ["closed admits", State.Closed({ failures: 2 }), 0, true, State.Closed({ failures: 2 })],
    ["open before the cool-down refuses", State.Open({ until: 1_000 }), 999, false, State.Open({ until: 1_000 })],
    ["open after the cool-down admits one trial", State.Open({ until: 1_000 }), 1_000, true, State.HalfOpen({ trialInFlight: true })],
    ["half-open with a trial in flight refuses", State.HalfOpen({ trialInFlight: true }), 5_000, false, State.HalfOpen({ trialInFlight: true })],
    ["half-open without a trial admits it", State.HalfOpen({ trialInFlight: false }), 5_000, true, State.HalfOpen({ trialInFlight: true })]
  ]
  for (const [name, state, now, allowed, next] of admitCases) {
    it(name, () => expect(CircuitBreaker.admit(state, now)).toEqual({ allowed, state: next }))
  }

  const failureCases: ReadonlyArray<[string, CircuitBreaker.State, CircuitBreaker.State]> = [
    ["a failure below the threshold counts", State.Closed({ failures: 1 }), State.Closed({ failures: 2 })],
    ["the threshold-th failure opens", State.Closed({ failures: 2 }), State.Open({ until: 10_000 + 1_000 })],
    ["a failed trial re-opens", State.HalfOpen({ trialInFlight: true }), State.Open({ until: 11_000 })],
    ["open stays open", State.Open({ until: 500 }), State.Open({ until: 500 })]
  ]
  for (const [name, state, next] of failureCases) {
    it(name, () => expect(CircuitBreaker.onFailure(state, policy, 10_000)).toEqual(next))
  }

  // The server's Retry-After (ms) with the failure; the policy is 3 failures, 1 s cool-down; now = 10 s.
  const retryAfterCases: ReadonlyArray<[string, CircuitBreaker.State, number, CircuitBreaker.State]> = [
    ["Retry-After opens a closed circuit at once, for as long as the server asked", State.Closed({ failures: 0 }), 30_000, State.Open({ until: 40_000, retryAfterMs: 30_000 })],
    ["a Retry-After shorter than the cool-down still opens at once, for the Retry-After", State.Closed({ failures: 0 }), 500, State.Open({ until: 10_500, retryAfterMs: 500 })],
    ["at the threshold, the cool-down wins over a shorter Retry-After", State.Closed({ failures: 2 }), 500, State.Open({ until: 11_000 })],
    ["at the threshold, a longer Retry-After wins over the cool-down", State.Closed({ failures: 2 }), 5_000, State.Open({ until: 15_000, retryAfterMs: 5_000 })],
    ["a failed trial with Retry-After re-opens for the Retry-After", State.HalfOpen({ trialInFlight: true }), 30_000, State.Open({ until: 40_000, retryAfterMs: 30_000 })],
    ["a failed trial with a short Retry-After re-opens for the cool-down", State.HalfOpen({ trialInFlight: true }), 200, State.Open({ until: 11_000 })],
    ["an open circuit is extended by a later Retry-After", State.Open({ until: 11_000 }), 30_000, State.Open({ until: 40_000, retryAfterMs: 30_000 })],
    ["an open circuit is never shortened by a Retry-After", State.Open({ until: 50_000 }), 30_000, State.Open({ until: 50_000 })],
    ["Retry-After: 0 is no Retry-After (the failure only counts)", State.Closed({ failures: 0 }), 0, State.Closed({ failures: 1 })]
  ]
  for (const [name, state, retryAfterMs, next] of retryAfterCases) {
    it(name, () => expect(CircuitBreaker.onFailure(state, policy, 10_000, retryAfterMs)).toEqual(next))
  }

  it("success closes from any state", () => {
    for (const s of [State.Closed({ failures: 2 }), State.Open({ until: 9 }), State.HalfOpen({ trialInFlight: true })]) {
      expect(CircuitBreaker.onSuccess(s)).toEqual(State.Closed({ failures: 0 }))
    }
  })

  it("a neutral end frees the half-open trial slot and leaves other states alone", () => {
    expect(CircuitBreaker.onNeutral(State.HalfOpen({ trialInFlight: true }))).toEqual(State.HalfOpen({ trialInFlight: false }))
    expect(CircuitBreaker.onNeutral(State.Closed({ failures: 1 }))).toEqual(State.Closed({ failures: 1 }))
  })

  it("view reports what a status page shows", () => {
    expect(CircuitBreaker.view(State.Open({ until: 100 }), 50)).toBe("open")
    expect(CircuitBreaker.view(State.Open({ until: 100 }), 100)).toBe("half-open")
    expect(CircuitBreaker.view(State.Closed({ failures: 2 }), 0)).toBe("closed")
  })
})
