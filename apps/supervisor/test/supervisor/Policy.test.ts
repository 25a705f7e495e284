/** The supervisor's pure decisions, as tables. */
import { describe, expect, it } from "@effect/vitest"
import { Backend } from "@local-router/core"
import * as Policy from "../../src/supervisor/Policy.ts"

const restart = { backoffMin: 250, backoffMax: 4_000, window: 60_000, limit: 5 }
const ready = Backend.Probe.Ready({ models: [], loaded: [] })
const busy = Backend.Probe.Busy({ detail: "loading" })
const starting = Backend.Probe.Starting({ detail: "no answer" })
const down = Backend.Probe.Unreachable({ detail: "refused" })

describe("Policy", () => {
  it.each([
    [1, 250],
    [2, 500],
    [3, 1_000],
    [5, 4_000],
    [9, 4_000]
  ])("backoff after %i recent failures is %i ms", (n, ms) => {
    expect(Policy.backoff(restart, n)).toBe(ms)
  })

  it("failures older than the window are forgotten: a long-stable server restarts at once", () => {
    const now = 1_000_000
    const d = Policy.afterFailure(restart, [now - 120_000, now - 90_000, now - 61_000], now)
    expect(d).toEqual({ _tag: "Retry", delay: 250, failures: [now] })
  })

  it("the limit-th failure inside the window gives up and says why", () => {
    const now = 100_000
    const d = Policy.afterFailure(restart, [now - 40_000, now - 30_000, now - 20_000, now - 10_000], now)
    expect(d._tag).toBe("GiveUp")
    expect(d._tag === "GiveUp" && d.reason).toBe("crash loop: 5 failures within 60s")
  })

  it.each([
    // threshold, failures before, probe -> verdict
    [3, 0, ready, { _tag: "Healthy" }],
    [3, 2, busy, { _tag: "Healthy" }], // loading a model is alive, not failed
    [3, 0, starting, { _tag: "Unhealthy", failures: 1 }],
    [3, 1, down, { _tag: "Unhealthy", failures: 2 }],
    [3, 2, down, { _tag: "Restart", failures: 3 }],
    [1, 0, down, { _tag: "Restart", failures: 1 }]
  ] as const)("threshold %i, %i failures so far, probe %o -> %o", (threshold, before, probe, verdict) => {
    expect(Policy.afterProbe(threshold, before, probe)).toEqual(verdict)
  })

  it.each([
    // failures so far, ms since the last full probe -> check (health.full = 60 s)
    [0, 5_000, "quick"],
    [0, 59_999, "quick"],
    [0, 60_000, "full"],
    [1, 5_000, "full"], // a failing server gets the backend's own verdict every time
    [2, 0, "full"]
  ] as const)("%i failures, %i ms since the full probe -> the %s check", (failures, since, check) => {
    expect(Policy.nextCheck({ full: 60_000 }, failures, since)).toBe(check)
  })

  it.each([
    [ready, "ready"],
    [busy, "loading"],
    [starting, "waiting"],
    [down, "waiting"]
  ] as const)("during a start, %o means %s", (probe, r) => {
    expect(Policy.readiness(probe)).toBe(r)
  })

  it.each([
    ["stopped", "starting", true],
    ["stopped", "ready", false],
    ["starting", "ready", true],
    ["ready", "unhealthy", true],
    ["unhealthy", "ready", true],
    ["unhealthy", "backing-off", true],
    ["backing-off", "ready", false],
    ["failed", "ready", false],
    ["failed", "starting", true],
    ["adopted", "ready", false],
    ["not-installed", "ready", false]
  ] as const)("%s -> %s allowed: %s", (from, to, allowed) => {
    expect(Policy.canMove(from, to)).toBe(allowed)
  })

  it("every phase can be stopped, and stopped is reachable only by stopping", () => {
    for (const [from, tos] of Object.entries(Policy.transitions)) {
      if (from !== "stopped") expect(tos).toContain("stopped")
    }
  })
})
