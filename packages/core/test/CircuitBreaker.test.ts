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
