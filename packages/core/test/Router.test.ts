import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { Router, RoutingConfig } from "../src/index.ts"
import { ScriptedBackend } from "../src/testing/index.ts"

const yaml = `backends:
  mlx: { type: scripted }
  ollama: { type: scripted }
  cloud: { type: scripted }
  vision: { type: scripted }
defaults:
  timeouts: { connect: 1s, firstToken: 2s, idle: 500ms, total: 10s }
  breaker: { failures: 2, cooldown: 30s }
priorities:
  text: [mlx, ollama, cloud]
  image: [mlx, vision, cloud]
categories:
  fast:
    input: text
    models: { mlx: m-mlx, ollama: "phi3.5:3.8b", cloud: gpt }
  tiny:
    input: text
    models: { ollama: "tinyllama:1.1b-chat", cloud: gpt }
  vision:
    input: image
    models: { mlx: m-mlx, vision: moondream, cloud: gpt }
`
const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))

type Scripts = Partial<Record<"mlx" | "ollama" | "cloud" | "vision", ScriptedBackend.Options["script"]>>

const setup = (scripts: Scripts, extra: { readonly images?: ReadonlyArray<string> } = {}) => {
  const scripted = Object.fromEntries(
    (["mlx", "ollama", "cloud", "vision"] as const).map((name) => [
      name,
      ScriptedBackend.make({
        name,
        script: scripts[name] ?? [{}],
        capabilities: { images: (extra.images ?? ["vision", "cloud"]).includes(name), text: name !== "vision" }
      })
    ])
  ) as Record<"mlx" | "ollama" | "cloud" | "vision", ScriptedBackend.Scripted>
  const snapshot: Router.Snapshot = {
    version: 1,
    config,
    backends: new Map(Object.entries(scripted).map(([name, s]) => [name, Router.Slot.Ready({ backend: s.backend, timeouts: {} })]))
  }
  return Effect.map(Router.make(Effect.succeed(snapshot)), (router) => ({ router, scripted }))
}

const textOf = (events: ReadonlyArray<Router.Event>) =>
  events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")

describe("Router: fallback order and reasons", () => {
  it.effect("answers from the first backend of the category's priority list", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({})
      const answer = yield* router.run({ category: "fast", prompt: "hi" })
      expect(answer).toMatchObject({ text: "Hello, world", backend: "mlx", model: "m-mlx", finishReason: "stop" })
      expect(answer.trace.attempts.map((a) => [a.backend, a.outcome])).toEqual([["mlx", "answered"]])
      expect(scripted.mlx.requests[0]!.messages).toEqual([{ role: "user", content: "hi" }])
    }))

  for (const reason of ["Unreachable", "Timeout", "Overloaded", "ModelMissing", "Upstream", "StreamCut", "Auth"] as const) {
    it.effect(`falls back on ${reason}, and the trace says why`, () =>
      Effect.gen(function*() {
        const { router } = yield* setup({ mlx: [{ fail: reason }] })
        const answer = yield* router.run({ category: "fast", prompt: "hi" })
        expect(answer.backend).toBe("ollama")
        expect(answer.model).toBe("phi3.5:3.8b")
        expect(answer.trace.attempts.map((a) => [a.backend, a.outcome, a.reason])).toEqual([
          ["mlx", "failed", reason],
          ["ollama", "answered", undefined]
        ])
      }))
  }

  it.effect("does not fall back on the caller's own bad request", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: [{ fail: "BadRequest" }] })
      const error = yield* Effect.flip(router.run({ category: "fast", prompt: "hi" }))
      expect(error.reason).toBe("BadRequest")
      expect(scripted.ollama.requests).toHaveLength(0)
      expect(error.trace.attempts).toHaveLength(1)
    }))

  it.effect("skips backends without a model for the category, with the reason in the trace", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({})
      const answer = yield* router.run({ category: "tiny", prompt: "hi" })
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]).toMatchObject({ backend: "mlx", outcome: "skipped", reason: "no model for this category" })
    }))

  it.effect("an image is never sent to a backend without image input", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({})
      const image = { data: new Uint8Array([1, 2, 3]), mime: "image/png" }
      const answer = yield* router.run({ category: "vision", messages: [{ role: "user", content: "what is this?", images: [image] }] })
      expect(answer.backend).toBe("vision")
      expect(scripted.mlx.requests).toHaveLength(0)
      expect(answer.trace.attempts[0]).toMatchObject({ backend: "mlx", outcome: "skipped", reason: "no image input" })
      expect(scripted.vision.requests[0]!.messages[0]!.images![0]!.data).toEqual(image.data)
    }))

  it.effect("when all fail, the error lists every attempt", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ fail: "Unreachable" }], ollama: [{ fail: "ModelMissing" }], cloud: [{ fail: "Auth" }] })
      const error = yield* Effect.flip(router.run({ category: "fast", prompt: "hi" }))
      expect(error.reason).toBe("AllFailed")
      expect(error.trace.attempts.map((a) => a.reason)).toEqual(["Unreachable", "ModelMissing", "Auth"])
      expect(error.message).toMatch(/mlx failed \(Unreachable\)[\s\S]*ollama failed \(ModelMissing\)[\s\S]*cloud failed \(Auth\)/)
    }))

  it.effect("an unknown category is an error that lists the known ones", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({})
      const error = yield* Effect.flip(router.run({ category: "fats", prompt: "hi" }))
      expect(error.reason).toBe("UnknownCategory")
      expect(error.known).toEqual(["fast", "tiny", "vision"])
      expect(error.message).toContain(`did you mean "fast"`)
    }))

  it.effect("a pinned backend/model skips routing", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({})
      const answer = yield* router.run({ pin: { backend: "cloud", model: "gpt-4o" }, prompt: "hi" })
      expect(answer).toMatchObject({ backend: "cloud", model: "gpt-4o" })
      expect(scripted.cloud.requests[0]!.model).toBe("gpt-4o")
      const error = yield* Effect.flip(router.run({ pin: { backend: "clod", model: "x" }, prompt: "hi" }))
      expect(error.reason).toBe("UnknownBackend")
    }))

  it.effect("a request without a prompt is rejected before any backend sees it", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({})
      const error = yield* Effect.flip(router.run({ category: "fast" }))
      expect(error.reason).toBe("InvalidRequest")
      expect(scripted.mlx.requests).toHaveLength(0)
    }))

  it.effect("a backend that crashes inside its stream is a misbehaving backend, not a crash", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ end: "defect" }] })
      const answer = yield* router.run({ category: "fast", prompt: "hi" })
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]).toMatchObject({ outcome: "failed", reason: "Upstream" })
      expect(answer.trace.attempts[0]!.message).toContain("scripted defect")
    }))

  it.effect("prepare adapts the messages to each backend tried", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: [{ fail: "Unreachable" }] })
      yield* router.run({
        category: "fast",
        prompt: "hi",
        prepare: (backend) => Effect.succeed([{ role: "user", content: `for ${backend.name}` }])
      })
      expect(scripted.mlx.requests[0]!.messages[0]!.content).toBe("for mlx")
      expect(scripted.ollama.requests[0]!.messages[0]!.content).toBe("for ollama")
    }))
})

describe("Router: deadlines (TestClock)", () => {
  it.effect("a backend that never sends headers times out at the connect deadline and the next answers", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ hangBeforeStart: true }] })
      const fiber = yield* Effect.forkChild(router.run({ category: "fast", prompt: "hi" }))
      yield* TestClock.adjust("999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const answer = yield* Fiber.join(fiber)
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]).toMatchObject({ reason: "Timeout", durationMs: 1000 })
      expect(answer.trace.attempts[0]!.message).toContain("connect deadline 1s")
    }))

  it.effect("first-token deadline: headers came but no token", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ tokens: ["late"], tokenDelayMs: 5_000 }] })
      const fiber = yield* Effect.forkChild(router.run({ category: "fast", prompt: "hi" }))
      yield* TestClock.adjust("2 seconds")
      const answer = yield* Fiber.join(fiber)
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]!.message).toContain("first-token deadline 2s")
    }))

  it.effect("idle deadline between tokens; non-streaming still falls back invisibly", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ tokens: ["a", "b"], end: "hang" }] })
      const fiber = yield* Effect.forkChild(router.run({ category: "fast", prompt: "hi" }))
      yield* TestClock.adjust("500 millis")
      const answer = yield* Fiber.join(fiber)
      expect(answer.text).toBe("Hello, world")
      expect(answer.trace.attempts[0]!.message).toContain("idle deadline 500ms")
    }))

  it.effect("total deadline bounds a slow but steady stream", () =>
    Effect.gen(function*() {
      const tokens = Array.from({ length: 100 }, () => "x")
      const { router } = yield* setup({ mlx: [{ tokens, tokenDelayMs: 400 }] })
      const fiber = yield* Effect.forkChild(router.run({ category: "fast", prompt: "hi" }))
      for (let i = 0; i < 26; i++) yield* TestClock.adjust("400 millis")
      const answer = yield* Fiber.join(fiber)
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]!.message).toContain("total deadline 10s")
    }))

  it.effect("a category's own timeouts override the defaults", () =>
    Effect.gen(function*() {
      const custom = Result.getOrThrow(RoutingConfig.parse(yaml.replace("    models: { mlx: m-mlx, ollama", "    timeouts: { connect: 5s, firstToken: 6s }\n    models: { mlx: m-mlx, ollama"), "routing.yaml"))
      const mlx = ScriptedBackend.make({ name: "mlx", script: [{ startDelayMs: 3_000 }] })
      const router = yield* Router.make(Effect.succeed({
        version: 1,
        config: custom,
        backends: new Map([["mlx", Router.Slot.Ready({ backend: mlx.backend, timeouts: {} })]])
      }))
      const fiber = yield* Effect.forkChild(router.run({ category: "fast", prompt: "hi" }))
      yield* TestClock.adjust("3 seconds")
      expect((yield* Fiber.join(fiber)).backend).toBe("mlx")
    }))
})

describe("Router: commit gate for streams", () => {
  it.effect("a failure before the first token is replaced invisibly", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ tokens: [], end: "cut" }] })
      const events = yield* Stream.runCollect(router.stream({ category: "fast", prompt: "hi" }))
      expect(events[0]).toMatchObject({ _tag: "Routed", backend: "ollama", attempt: 2 })
      expect(textOf(events)).toBe("Hello, world")
      const done = events.at(-1)
      expect(done?._tag).toBe("Done")
      if (done?._tag === "Done") expect(done.trace.attempts.map((a) => a.outcome)).toEqual(["failed", "answered"])
    }))

  it.effect("nothing reaches the caller before the first token", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ tokens: ["a"], tokenDelayMs: 1_500 }] })
      const seen: Array<string> = []
      const fiber = yield* Effect.forkChild(Stream.runForEach(router.stream({ category: "fast", prompt: "hi" }), (e) => Effect.sync(() => seen.push(e._tag))))
      yield* TestClock.adjust("1 second")
      expect(seen).toEqual([])
      yield* TestClock.adjust("500 millis")
      yield* Fiber.join(fiber)
      expect(seen).toEqual(["Routed", "TextDelta", "Usage", "Done"])
    }))

  for (const end of ["cut", "hang", "Upstream"] as const) {
    it.effect(`after the first token, a ${end} ends the stream with an explicit error, never a clean end`, () =>
      Effect.gen(function*() {
        const { router, scripted } = yield* setup({ mlx: [{ tokens: ["par", "tial"], end }] })
        const seen: Array<Router.Event> = []
        const fiber = yield* Effect.forkChild(Stream.runForEach(router.stream({ category: "fast", prompt: "hi" }), (e) => Effect.sync(() => seen.push(e))))
        yield* TestClock.adjust("500 millis")
        const exit = yield* Fiber.await(fiber)
        expect(exit._tag).toBe("Failure")
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error.reason).toBe("StreamFailed")
        expect(error.trace.attempts[0]).toMatchObject({ backend: "mlx", outcome: "failed", committed: true })
        expect(textOf(seen)).toBe("partial")
        expect(seen.some((e) => e._tag === "Done")).toBe(false)
        expect(scripted.ollama.requests).toHaveLength(0)
      }))
  }

  it.effect("the caller cancelling aborts the upstream stream", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: [{ tokens: ["a", "b", "c", "d"], tokenDelayMs: 100 }] })
      const events = yield* Stream.runCollect(Stream.take(router.stream({ category: "fast", prompt: "hi" }), 2)).pipe(
        Effect.forkChild,
        Effect.tap(() => TestClock.adjust("200 millis")),
        Effect.flatMap(Fiber.join)
      )
      expect(events.length).toBe(2)
      expect(scripted.mlx.abandoned()).toBe(1)
    }))

  it.effect("interrupting a non-streaming run aborts the backend", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: [{ hangBeforeStart: false, tokens: ["a"], tokenDelayMs: 800 }] })
      const fiber = yield* Effect.forkChild(router.run({ category: "fast", prompt: "hi" }))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(fiber)
      expect(scripted.mlx.abandoned()).toBe(1)
    }))
})

describe("Router: circuit breaker", () => {
  it.effect("opens after repeated failures, skips the backend, half-opens after the cool-down, closes on success", () =>
    Effect.gen(function*() {
      let mlxUp = false
      const { router, scripted } = yield* setup({ mlx: () => (mlxUp ? {} : { fail: "Unreachable" }) })
      yield* router.run({ category: "fast", prompt: "1" })
      yield* router.run({ category: "fast", prompt: "2" })
      expect((yield* router.circuits).mlx).toBe("open")
      const skipped = yield* router.run({ category: "fast", prompt: "3" })
      expect(skipped.trace.attempts[0]).toMatchObject({ backend: "mlx", outcome: "skipped", reason: "circuit open" })
      expect(scripted.mlx.requests).toHaveLength(2)

      yield* TestClock.adjust("30 seconds")
      expect((yield* router.circuits).mlx).toBe("half-open")
      // The trial fails: open again for another cool-down.
      yield* router.run({ category: "fast", prompt: "4" })
      expect(scripted.mlx.requests).toHaveLength(3)
      expect((yield* router.circuits).mlx).toBe("open")

      yield* TestClock.adjust("30 seconds")
      mlxUp = true
      const back = yield* router.run({ category: "fast", prompt: "5" })
      expect(back.backend).toBe("mlx")
      expect((yield* router.circuits).mlx).toBe("closed")
    }))

  it.effect("a missing model or a bad request does not count against the backend", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: [{ fail: "ModelMissing" }] })
      for (let i = 0; i < 5; i++) yield* router.run({ category: "fast", prompt: "x" })
      expect((yield* router.circuits).mlx).toBe("closed")
    }))
})

describe("Router: as a service", () => {
  it.effect("Router.layer provides Router.Router, routing over the snapshots it is given", () => {
    const mlx = ScriptedBackend.make({ name: "mlx", script: [{ tokens: ["from", " the", " layer"] }] })
    const snapshot: Router.Snapshot = { version: 3, config, backends: new Map([["mlx", Router.Slot.Ready({ backend: mlx.backend, timeouts: {} })]]) }
    return Effect.gen(function*() {
      const router = yield* Router.Router
      const answer = yield* router.run({ category: "fast", prompt: "hi" })
      expect(answer).toMatchObject({ text: "from the layer", backend: "mlx" })
      expect(answer.trace.configVersion).toBe(3)
    }).pipe(Effect.provide(Router.layer(Effect.succeed(snapshot))))
  })
})

describe("Router: a server's Retry-After (TestClock)", () => {
  it.effect("a backend that answered Overloaded with Retry-After 30s is skipped for 30s, saying so, then tried again", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: [{ fail: "Overloaded", retryAfterMs: 30_000 }, {}] })
      const first = yield* router.run({ category: "fast", prompt: "1" })
      expect(first.backend).toBe("ollama")
      expect(first.trace.attempts[0]).toMatchObject({ backend: "mlx", outcome: "failed", reason: "Overloaded" })
      // One failure opened the circuit (the policy alone needs two): the server asked for 30 s.
      expect((yield* router.circuits).mlx).toBe("open")

      yield* TestClock.adjust("18 seconds")
      const during = yield* router.run({ category: "fast", prompt: "2" })
      expect(during.backend).toBe("ollama")
      expect(during.trace.attempts[0]).toEqual({
        backend: "mlx",
        model: "m-mlx",
        outcome: "skipped",
        reason: "circuit open: the server asked to retry after 30s (Retry-After), 12s left",
        durationMs: 0
      })
      yield* TestClock.adjust("11999 millis")
      const streamed = yield* Stream.runCollect(router.stream({ category: "fast", prompt: "3" }))
      expect(streamed[0]).toMatchObject({ _tag: "Routed", backend: "ollama", attempt: 2 })
      expect(scripted.mlx.requests).toHaveLength(1)

      yield* TestClock.adjust("1 millis")
      const after = yield* router.run({ category: "fast", prompt: "4" })
      expect(after.backend).toBe("mlx")
      expect(scripted.mlx.requests).toHaveLength(2)
      expect((yield* router.circuits).mlx).toBe("closed")
    }))

  it.effect("a Retry-After longer than the cool-down keeps the backend out past the cool-down", () =>
    Effect.gen(function*() {
      // breaker: 2 failures, 30 s cool-down; the second failure asks for 90 s.
      const { router, scripted } = yield* setup({ mlx: [{ fail: "Unreachable" }, { fail: "Overloaded", retryAfterMs: 90_000 }, {}] })
      yield* router.run({ category: "fast", prompt: "1" })
      yield* router.run({ category: "fast", prompt: "2" })
      yield* TestClock.adjust("60 seconds")
      const skipped = yield* router.run({ category: "fast", prompt: "3" })
      expect(skipped.trace.attempts[0]?.reason).toBe("circuit open: the server asked to retry after 90s (Retry-After), 30s left")
      expect(scripted.mlx.requests).toHaveLength(2)
      yield* TestClock.adjust("30 seconds")
      expect((yield* router.run({ category: "fast", prompt: "4" })).backend).toBe("mlx")
    }))

  it.effect("without a Retry-After, one overload only counts towards the breaker: the next request tries it again", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: [{ fail: "Overloaded" }, {}] })
      expect((yield* router.run({ category: "fast", prompt: "1" })).backend).toBe("ollama")
      expect((yield* router.circuits).mlx).toBe("closed")
      expect((yield* router.run({ category: "fast", prompt: "2" })).backend).toBe("mlx")
      expect(scripted.mlx.requests).toHaveLength(2)
    }))
})
