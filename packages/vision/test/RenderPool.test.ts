import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { Limits } from "../src/index.ts"
import * as RenderPool from "../src/RenderPool.ts"

describe("RenderPool", () => {
  it.effect("keeps an idle renderer process for the next document for 10 s, then ends it; the next document gets a new one", () =>
    Effect.gen(function*() {
      const pool = yield* RenderPool.make(Limits.defaults, 1)
      const borrow = pool.use((pooled) => Effect.succeed(pooled))
      const first = yield* borrow
      yield* TestClock.adjust("9 seconds")
      expect(yield* borrow).toBe(first)
      // Borrowing again started its 10 s over.
      yield* TestClock.adjust("9 seconds")
      expect(yield* borrow).toBe(first)
      const exited = new Promise<number | null>((resolve) => first.worker.once("exit", resolve))
      yield* TestClock.adjust("11 seconds")
      yield* Effect.promise(() => exited)
      const next = yield* borrow
      expect(next).not.toBe(first)
      expect(next.worker.pid).toBeGreaterThan(0)
      // The ended one is a process that is gone, not a thread of this one.
      expect(() => process.kill(first.worker.pid!, 0)).toThrow()
    }))
})
