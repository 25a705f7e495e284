/** The idle collector: when `serve` collects its heap, driven by the test clock. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { promisify } from "node:util"
import * as IdleCollect from "../../src/serve/IdleCollect.ts"

const MiB = 1024 * 1024

/** A gauge whose readings the test sets, recording each collection and what the heap was then. */
const fakeGauge = () => {
  const state = { busy: 0, heap: 30 * MiB, collections: [] as Array<number>, thorough: [] as Array<boolean> }
  const gauge: IdleCollect.Gauge = {
    busy: () => state.busy,
    heapUsed: () => state.heap,
    collect: (thorough) => {
      state.collections.push(state.heap)
      state.thorough.push(thorough)
      state.heap = 20 * MiB
    }
  }
  return { state, gauge }
}

describe("IdleCollect", () => {
  it("decides from idleness and growth since the last collection", () => {
    const s = IdleCollect.defaults
    const rows: Array<[busy: number, heap: number, afterLast: number | undefined, collect: boolean]> = [
      [0.001, 30 * MiB, undefined, true], // the first idle check: start-up's garbage
      [0.05, 30 * MiB, undefined, false], // busy: never
      [0.001, 20.5 * MiB, 20 * MiB, false], // grew less than a step
      [0.001, 21 * MiB, 20 * MiB, true], // a step
      [0.02, 40 * MiB, 20 * MiB, false] // grew a lot, but under load V8 collects on its own
    ]
    for (const [busy, heap, afterLast, collect] of rows) expect(IdleCollect.decide(s, busy, heap, afterLast), `${busy} ${heap} ${afterLast}`).toBe(collect)
  })

  it.effect("collects once start-up is over, then only after the heap grew a step while idle", () =>
    Effect.gen(function*() {
      const { gauge, state } = fakeGauge()
      const fiber = yield* Effect.fork(IdleCollect.run(gauge))
      yield* TestClock.adjust("4 seconds")
      expect(state.collections).toEqual([])
      yield* TestClock.adjust("1 second")
      expect(state.collections).toEqual([30 * MiB])

      // A quiet minute with a little growth: nothing to do.
      state.heap = 20.5 * MiB
      yield* TestClock.adjust("60 seconds")
      expect(state.collections).toHaveLength(1)

      // Growth of a step, but the loop was busy: V8 is collecting on its own.
      state.heap = 22 * MiB
      state.busy = 0.3
      yield* TestClock.adjust("60 seconds")
      expect(state.collections).toHaveLength(1)

      // Idle again: collected.
      state.busy = 0.002
      yield* TestClock.adjust("60 seconds")
      expect(state.collections).toEqual([30 * MiB, 22 * MiB])
      // Start-up's is the thorough one; later ones are ordinary.
      expect(state.thorough).toEqual([true, false])
      yield* Fiber.interrupt(fiber)
    }))

  it("a real process has a gauge only under --expose-gc, and its collection frees the heap", async () => {
    const module = pathToFileURL(path.resolve(import.meta.dirname, "../../src/serve/IdleCollect.ts")).href
    const script = `
      const { processGauge } = await import(${JSON.stringify(module)})
      const gauge = processGauge()
      if (gauge === undefined) { console.log("none"); process.exit(0) }
      let junk = Array.from({ length: 200000 }, (_, i) => ({ i, s: "x" + i }))
      const before = gauge.heapUsed()
      junk = undefined
      gauge.collect(true)
      console.log(JSON.stringify({ busy: gauge.busy(), freed: before - gauge.heapUsed() }))
    `
    const run = (flags: Array<string>) =>
      promisify(execFile)(process.execPath, [...flags, "--disable-warning=ExperimentalWarning", "--input-type=module", "-e", script]).then((r) => r.stdout.trim())
    expect(await run([])).toBe("none")
    const exposed = JSON.parse(await run(["--expose-gc"])) as { busy: number; freed: number }
    expect(exposed.freed).toBeGreaterThan(5 * 1024 * 1024)
    expect(exposed.busy).toBeGreaterThanOrEqual(0)
    expect(exposed.busy).toBeLessThanOrEqual(1)
  })
})
