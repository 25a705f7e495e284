/**
 * The chaos soak in its short form (the full one is `./run node bench/chaos/run.ts`): the
 * supervisor, router and gateway under mixed traffic while faults flip and supervised servers
 * are killed with SIGKILL. Nothing may hang, be lost or come back as a silent half answer;
 * every server is ready again after every kill; no secret shows anywhere.
 */
import { describe, expect, it } from "vitest"
import { soak, summary } from "./Chaos.ts"

describe("chaos soak (short form)", () => {
  it("150+ mixed requests through the gateway, faults flipping, 10 kill -9 cycles: no hang, no loss, no half answer, every server back", async () => {
    const report = await soak({ requests: 150, kills: 10, concurrency: 6, maxSeconds: 150 })
    console.log(`chaos soak (short form)\n${summary(report)}`)
    expect(report.stoppedEarly).toBe(false)
    expect(report.requests).toBeGreaterThanOrEqual(150)
    for (const shape of Object.values(report.byShape)) expect(shape).toBeGreaterThan(0)
    expect({ hangs: report.hangs, lost: report.lost, halfAnswers: report.halfAnswers }).toEqual({ hangs: 0, lost: 0, halfAnswers: 0 })
    expect(report.answered + report.explicitErrors).toBe(report.requests)
    // The chaos was real: faults were in place and requests had to fall back.
    expect(report.faultsFlipped).toBeGreaterThan(0)
    expect(report.fallbacks).toBeGreaterThan(0)
    expect(report.kills).toBe(10)
    expect(report.recovered).toBe(10)
    expect(report.finalPhases).toEqual({ mlx: "ready", ollama: "ready", moondream: "ready" })
    expect(report.leaks).toEqual([])
  }, 200_000)
})
