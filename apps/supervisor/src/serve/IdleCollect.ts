/**
 * `serve` gives back between bursts what it piled up while waiting.
 *
 * V8 collects its old generation only once it has grown by a step of several MB since the last
 * full collection, and its memory reducer runs only after such a collection. A `serve` that
 * mostly waits promotes a little of every health check's garbage, so it can go tens of minutes
 * without a full collection, its resident memory creeping up all the while (measured: +4.5 MB
 * over ten idle minutes, with no end in sight). So once start-up is over (5 s), serve runs the
 * collection V8 runs under memory pressure (compacting, new space shrunk; 50-100 ms of CPU on a
 * loaded 2-core VM), and after that, each minute the event loop is idle (under 1 % busy over
 * the last 3 s) and the heap grew by 1 MB since the last collection, one ordinary full
 * collection (35-50 ms): one every two or three idle minutes (~0.03 % CPU), never under load,
 * and within a minute after a burst of requests. Measured over seven idle minutes: RSS flat at
 * 79.0 MB from the third on, where a 4 MB step let it reach 81 MB.
 *
 * It needs Node's `--expose-gc`, which the service and `./run start` pass; without it there is
 * nothing to call and serve runs as V8 alone would have it.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

export interface Gauge {
  /** Share of the time since the last call that the event loop was busy, 0..1. */
  readonly busy: () => number
  readonly heapUsed: () => number
  /** One full collection; `thorough` also compacts and shrinks, as under memory pressure. */
  readonly collect: (thorough: boolean) => void
}

export interface Settings {
  /** When idleness starts to be measured for the first check (start-up work done by then). */
  readonly first: Duration.DurationInput
  /** How long each check measures idleness, just before it decides. */
  readonly window: Duration.DurationInput
  /** Between later checks. */
  readonly every: Duration.DurationInput
  /** Busier than this (share of the time) is not idle. */
  readonly maxBusy: number
  /** Heap growth since the last collection worth collecting for, in bytes. */
  readonly step: number
}

export const defaults: Settings = { first: "2 seconds", window: "3 seconds", every: "60 seconds", maxBusy: 0.01, step: 1024 * 1024 }

/** Collect now? The first idle check always does (start-up leaves the most garbage). */
export const decide = (settings: Settings, busy: number, heapUsed: number, afterLast: number | undefined): boolean =>
  busy < settings.maxBusy && (afterLast === undefined || heapUsed - afterLast >= settings.step)

/** The checks, for as long as the scope that forks this lives. */
export const run = (gauge: Gauge, settings: Settings = defaults): Effect.Effect<never> =>
  Effect.gen(function*() {
    let afterLast: number | undefined
    // Idleness is measured over the window just before each check, so a burst that ended
    // before it does not put the check off another minute.
    const between = Duration.subtract(Duration.decode(settings.every), Duration.decode(settings.window))
    yield* Effect.sleep(settings.first)
    while (true) {
      gauge.busy()
      yield* Effect.sleep(settings.window)
      if (decide(settings, gauge.busy(), gauge.heapUsed(), afterLast)) {
        gauge.collect(afterLast === undefined)
        afterLast = gauge.heapUsed()
      }
      yield* Effect.sleep(between)
    }
  })

/** This process's gauge, when Node was started with `--expose-gc`. */
export const processGauge = (): Gauge | undefined => {
  const gc = (globalThis as { gc?: (options: { type: "major"; execution: "sync"; flavor: "regular" | "last-resort" }) => void }).gc
  if (typeof gc !== "function") return undefined
  let last = performance.eventLoopUtilization()
  return {
    busy: () => {
      const now = performance.eventLoopUtilization()
      const share = performance.eventLoopUtilization(now, last).utilization
      last = now
      return share
    },
    heapUsed: () => process.memoryUsage().heapUsed,
    collect: (thorough) => gc({ type: "major", execution: "sync", flavor: thorough ? "last-resort" : "regular" })
  }
}
