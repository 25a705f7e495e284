/**
 * The Router's deadlines over the real transport: sim-mlx as a real process, time from the
 * TestClock. The code under test is the one path production runs (HttpCall.events read by the
 * Router's attempt); only the clock is the test's.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { Router, RoutingConfig } from "@local-router/core"
import { Simulator } from "@local-router/simulators"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { definition, MlxOptions } from "../src/index.ts"

const model = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"

let sim: Simulator.Running

beforeAll(async () => {
  sim = await Simulator.start("mlx", { args: ["--model", model, "--tokens", "4"] })
})
afterAll(async () => {
  await sim.stop()
})
beforeEach(async () => {
  await sim.clearFaults()
  await sim.clearRequests()
})

/** Two routing.yaml entries for the one simulator: `first` is tried, then `second`. */
const routerOf = Effect.gen(function*() {
  const yaml = `backends:
  first: { type: mlx, url: "${sim.url}" }
  second: { type: mlx, url: "${sim.url}" }
defaults:
  timeouts: { connect: 5s, firstToken: 10s, idle: 2s, total: 60s }
priorities:
  text: [first, second]
categories:
  code:
    input: text
    models: { first: "${model}", second: "${model}" }
`
  const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))
  const slot = (name: string) =>
    Effect.map(
      definition.make({ name, url: sim.url, apiKey: undefined, apiKeyEnv: undefined, options: Schema.decodeUnknownSync(MlxOptions.MlxOptions)({}), configDir: process.cwd() }),
      (backend) => [name, Router.Slot.Ready({ backend, timeouts: {} })] as const
    )
  const backends = new Map(yield* Effect.all([slot("first"), slot("second")]))
  return yield* Router.make(Effect.succeed({ version: 1, config, backends }))
})

/** Wait, in real time, until the simulator has seen `n` chat requests. */
const requestsSeen = (n: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500; i++) {
      if ((await sim.requests()).filter((r) => r.path.endsWith("/chat/completions")).length >= n) return
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error(`the simulator never saw ${n} chat requests`)
  })

describe("mlx: the Router's deadlines over a real connection (TestClock)", () => {
  it.effect("a server that holds its headers past the connect deadline is left for the next backend", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => sim.setFaults([{ kind: "hangBeforeHeaders", count: 1 }]))
      const router = yield* routerOf
      const fiber = yield* Effect.forkChild(router.run({ category: "code", prompt: "Say hello" }))
      yield* requestsSeen(1)
      yield* TestClock.adjust(Duration.seconds(5))
      const answer = yield* Fiber.join(fiber)
      expect(answer.backend).toBe("second")
      expect(answer.text.length).toBeGreaterThan(0)
      expect(answer.trace.attempts.map((a) => [a.backend, a.outcome, a.reason])).toEqual([
        ["first", "failed", "Timeout"],
        ["second", "answered", undefined]
      ])
      expect(answer.trace.attempts[0]?.message).toContain("connect deadline 5s")
    }))

  it.effect("a server that stops mid-answer is cut at the idle deadline, and the caller sees a failure, never a clean end", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => sim.setFaults([{ kind: "hangAfterTokens", tokens: 2 }]))
      const router = yield* routerOf
      const answer = router.pull({ category: "code", prompt: "Say hello" })
      yield* Effect.addFinalizer(() => Effect.sync(answer.close))
      let deltas = 0
      while (deltas < 2) {
        const chunk = yield* Effect.mapError(answer.pull, (e) => new Error(`the stream failed early: ${e.message}`))
        if (chunk === undefined) return expect.fail("the stream ended early")
        deltas += chunk.filter((event) => event._tag === "TextDelta").length
      }
      const next = yield* Effect.forkChild(Effect.result(answer.pull))
      yield* TestClock.adjust(Duration.seconds(2))
      const ended = yield* Fiber.join(next)
      expect(Result.isFailure(ended)).toBe(true)
      const error = Result.isFailure(ended) ? ended.failure : undefined
      expect(error?.reason).toBe("StreamFailed")
      expect(error?.message).toContain("idle deadline 2s")
    }))
})
