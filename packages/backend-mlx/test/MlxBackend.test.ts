/**
 * The mlx backend against sim-mlx (a fake mlx_lm.server run as a real process on an
 * OS-assigned port): the core contract, the layered probe, and every failure the Router
 * acts on.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { type Backend, Events, RoutingConfig } from "@local-router/core"
import { Generated, contractSuite } from "@local-router/core/testing"
import { type Fault, Simulator } from "@local-router/simulators"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { createHash } from "node:crypto"
import { createServer } from "node:net"
import * as path from "node:path"
import { definition, MlxBackend, MlxOptions } from "../src/index.ts"

const { collect, failureOf, textOf } = Generated

const launch = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"
const other = "mlx-community/Phi-3.5-mini-instruct-4bit"

let sim: Simulator.Running

beforeAll(async () => {
  sim = await Simulator.start("mlx", { args: ["--model", launch, "--models", `${launch},${other}`, "--tokens", "6", "--keepalive", "2"] })
})
afterAll(async () => {
  await sim.stop()
})
beforeEach(async () => {
  await sim.clearFaults()
  await sim.clearRequests()
})

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const contextOf = (url: string, raw: Record<string, unknown> = {}): Backend.MakeContext<MlxOptions.MlxOptions> => ({
  name: "mlx-test",
  url,
  apiKey: undefined,
  apiKeyEnv: undefined,
  options: Schema.decodeUnknownSync(MlxOptions.MlxOptions)(raw),
  configDir: process.cwd()
})

const make = (url: string, raw: Record<string, unknown> = {}) => definition.make(contextOf(url, raw))

const ask = (model: string, content = "Say hello", options?: Backend.Options): Backend.GenerateRequest => ({
  model,
  messages: [{ role: "user", content }],
  ...(options ? { options } : {})
})

const withFaults = (faults: ReadonlyArray<Fault>) => Effect.promise(() => sim.setFaults(faults))

contractSuite("mlx", {
  make: Effect.suspend(() => make(sim.url)),
  model: launch,
  missingModel: "mlx-community/does-not-exist-4bit",
  makeUnreachable: Effect.promise(freePort).pipe(Effect.flatMap((port) => make(`http://127.0.0.1:${port}`)))
})

describe("mlx: answers", () => {
  it.effect("keepalive comments are skipped; usage and the finish reason come through", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const events = yield* collect(backend, ask(launch))
      expect(events.map((e) => e._tag)).toEqual(["Start", ...Array(6).fill("TextDelta"), "Usage", "Done"])
      expect(events[0]).toMatchObject({ model: launch })
      expect(events.at(-2)).toMatchObject({ usage: { outputTokens: 6 } })
      expect(events.at(-1)).toMatchObject({ finishReason: "stop" })
    }))

  it.effect("sends the model string as written, a token limit, options, and asks for usage", () =>
    Effect.gen(function*() {
      const backend = yield* make(`${sim.url}/v1/`, { maxTokens: 777 })
      yield* collect(backend, ask(other, "hi", { temperature: 0.3, topP: 0.5, stop: ["END"], seed: 1 }))
      const [request] = yield* Effect.promise(() => sim.requests())
      expect(request?.path).toBe("/v1/chat/completions")
      expect(request?.headers["content-length"]).toBeDefined()
      expect(request?.body).toMatchObject({
        model: other,
        max_tokens: 777,
        temperature: 0.3,
        top_p: 0.5,
        stop: ["END"],
        seed: 1,
        stream: true,
        stream_options: { include_usage: true }
      })
    }))

  it.effect("a request's own token limit wins, and hitting it finishes with `length`", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const events = yield* collect(backend, ask(launch, "Say hello", { maxTokens: 2 }))
      expect(events.at(-1)).toMatchObject({ finishReason: "length" })
      const [request] = yield* Effect.promise(() => sim.requests())
      expect(request?.body).toMatchObject({ max_tokens: 2 })
    }))

  it.effect("an out-of-range option is BadRequest before anything is sent (mlx_lm would drop the connection)", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const { error } = yield* failureOf(backend, ask(launch, "hi", { topP: 1.5 }))
      expect(error.reason).toBe("BadRequest")
      expect(yield* Effect.promise(() => sim.requests())).toHaveLength(0)
    }))

  it.effect("models lists the fake Hugging Face cache; ensureModel never downloads", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      expect([...(yield* backend.models)].sort()).toEqual([launch, other].sort())
      const present = yield* Stream.runCollect(backend.ensureModel(other))
      expect(present).toHaveLength(1)
      const missing = yield* Effect.flip(Stream.runDrain(backend.ensureModel("mlx-community/nope")))
      expect(missing.reason).toBe("ModelMissing")
      expect(missing.message).toContain("huggingface-cli download mlx-community/nope")
    }))
})

describe("mlx: failures map to the reason the router acts on", () => {
  it.effect("a stream cut after tokens (no [DONE]) is StreamCut, after the tokens that arrived", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "cutAfterTokens", tokens: 2 }])
      const backend = yield* make(sim.url)
      const { error, seen } = yield* failureOf(backend, ask(launch))
      expect(error.reason).toBe("StreamCut")
      expect(error.backend).toBe("mlx-test")
      expect(seen.filter((e) => e._tag === "TextDelta")).toHaveLength(2)
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("a failure after the headers (mlx_lm just closes the stream) is StreamCut, never a clean end", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "errorBody", afterTokens: 3 }])
      const backend = yield* make(sim.url)
      const { error, seen } = yield* failureOf(backend, ask(launch))
      expect(error.reason).toBe("StreamCut")
      expect(textOf(seen).length).toBeGreaterThan(0)
    }))

  it.effect("a dropped connection without a status line is Unreachable", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "dropConnection" }])
      const backend = yield* make(sim.url)
      const { error, seen } = yield* failureOf(backend, ask(launch))
      expect(error.reason).toBe("Unreachable")
      expect(seen).toHaveLength(0)
    }))

  it.effect("a malformed SSE line is Upstream", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "malformedJson" }])
      const backend = yield* make(sim.url)
      const { error } = yield* failureOf(backend, ask(launch))
      expect(error.reason).toBe("Upstream")
    }))

  it.effect("HTTP 500 is Upstream and 503 is Overloaded, each quoting the server", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      yield* withFaults([{ kind: "status", status: 500, message: "[metal::malloc] out of memory" }])
      const e500 = (yield* failureOf(backend, ask(launch))).error
      expect(e500.reason).toBe("Upstream")
      expect(e500.status).toBe(500)
      expect(e500.message).toContain("out of memory")
      yield* withFaults([{ kind: "status", status: 503, retryAfter: 3 }])
      const e503 = (yield* failureOf(backend, ask(launch))).error
      expect(e503.reason).toBe("Overloaded")
    }))

  it.effect("a model the server cannot load is ModelMissing quoting its error", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const { error } = yield* failureOf(backend, ask("mlx-community/not-on-the-hub"))
      expect(error.reason).toBe("ModelMissing")
      expect(error.model).toBe("mlx-community/not-on-the-hub")
      expect(error.message).toContain("Repository Not Found")
    }))

  it.effect("an image sent to a text-only mlx_lm is refused by the server and falls back (not BadRequest)", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      expect(backend.capabilities.images).toBe(false)
      const { error } = yield* failureOf(backend, {
        model: launch,
        messages: [{ role: "user", content: "what is it?", images: [{ data: Uint8Array.of(1, 2, 3), mime: "image/png" }] }]
      })
      expect(error.reason).toBe("ModelMissing")
      expect(error.message).toContain("Only 'text' content type is supported")
    }))
})

describe("mlx: cancellation reaches the server", () => {
  // Live clock: the timeouts here bound real network waits.
  it.live("a consumer that stops mid-answer frees mlx_lm's single generation thread", () =>
    Effect.gen(function*() {
      // The simulator, like mlx_lm, serves one request at a time: if the first connection stayed
      // open, the second request would wait behind it.
      yield* withFaults([{ kind: "hangAfterTokens", tokens: 1, count: 1 }])
      const backend = yield* make(sim.url)
      const first = yield* Stream.runCollect(Stream.take(Events.stream(backend.generate(ask(launch))), 2))
      expect(first.map((e) => e._tag)).toEqual(["Start", "TextDelta"])
      const second = yield* collect(backend, ask(launch)).pipe(Effect.timeout(Duration.seconds(10)))
      expect(second.at(-1)?._tag).toBe("Done")
    }))

  it.live("interrupting a request whose headers never come ends it promptly", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "hangBeforeHeaders", count: 1 }])
      const backend = yield* make(sim.url)
      const fiber = yield* Effect.forkChild(collect(backend, ask(launch)))
      yield* Effect.promise(() => sim.requests()).pipe(
        Effect.repeat({ until: (requests) => requests.length > 0, schedule: Schedule.spaced("20 millis") })
      )
      yield* Fiber.interrupt(fiber).pipe(Effect.timeout(Duration.seconds(5)))
      expect((yield* Fiber.await(fiber))._tag).toBe("Failure")
    }))
})

describe("mlx: layered probe", () => {
  it.effect("Ready lists the models", () =>
    Effect.gen(function*() {
      const probe = yield* (yield* make(sim.url)).probe
      expect(probe._tag).toBe("Ready")
      if (probe._tag === "Ready") expect([...probe.models].sort()).toEqual([launch, other].sort())
    }))

  it.effect("503 while loading (llama-server's `Loading model`) is Busy, not dead", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "status", status: 503, message: "Loading model", route: "/health" }])
      const probe = yield* (yield* make(sim.url)).probe
      expect(probe._tag).toBe("Busy")
    }))

  it.effect("a server without /health (404) is judged by /v1/models", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "status", status: 404, message: "Not Found", route: "/health" }])
      expect((yield* (yield* make(sim.url)).probe)._tag).toBe("Ready")
    }))

  it.effect("a server that listens but does not answer is Starting", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "hangBeforeHeaders", route: "/health" }])
      const backend = yield* make(sim.url, { probeTimeout: 300 })
      const fiber = yield* Effect.forkChild(backend.probe)
      yield* TestClock.adjust(Duration.millis(300))
      const probe = yield* Fiber.join(fiber)
      expect(probe._tag).toBe("Starting")
    }))

  it.effect("a model list the server cannot produce is Starting with its error", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "status", status: 500, message: "cache scan failed", route: "/v1/models" }])
      const probe = yield* (yield* make(sim.url)).probe
      expect(probe).toMatchObject({ _tag: "Starting" })
      if (probe._tag === "Starting") expect(probe.detail).toContain("cache scan failed")
    }))
})

describe("mlx: definition", () => {
  it("is a contract 2 plugin with long connect/first-token deadlines for model loads", () => {
    expect(definition.name).toBe("mlx")
    expect(definition.contract).toBe("2.0")
    expect(definition.timeouts?.connect).toBeGreaterThanOrEqual(120_000)
    expect(definition.timeouts?.firstToken).toBeGreaterThanOrEqual(definition.timeouts?.connect ?? 0)
  })

  it("supervises mlx_lm.server on the entry's host and port, or mlx_vlm.server for vision", () => {
    expect(definition.supervise?.(contextOf("http://127.0.0.1:11435", { model: launch }))).toEqual({
      command: "mlx_lm.server",
      args: ["--host", "127.0.0.1", "--port", "11435", "--model", launch],
      port: 11435,
      installHint: "pip install mlx-lm"
    })
    const vlm = definition.supervise?.(contextOf("http://127.0.0.1:8081/v1", { vision: true }))
    expect(vlm?.command).toBe("mlx_vlm.server")
    expect(vlm?.args).toEqual(["--host", "127.0.0.1", "--port", "8081"])
  })

  it("rejects options a user could get wrong", () => {
    const decode = Schema.decodeUnknownExit(MlxOptions.MlxOptions)
    expect(Exit.isFailure(decode({ maxTokens: 0 }))).toBe(true)
    expect(Exit.isFailure(decode({ vision: "yes" }))).toBe(true)
    expect(Exit.isSuccess(decode({ vision: true, maxTokens: 8192, model: launch }))).toBe(true)
  })

  it("accepts the url with or without /v1", () => {
    expect(MlxBackend.originOf("http://127.0.0.1:11435/v1/")).toBe("http://127.0.0.1:11435")
    expect(MlxBackend.originOf(undefined)).toBe(MlxBackend.DEFAULT_URL)
  })
})

describe("mlx: vision (mlx_vlm.server or any server that reads image_url parts)", () => {
  // sim-openai stands in for mlx_vlm: it reads OpenAI image_url parts, which is all this needs.
  let vlm: Simulator.Running
  beforeAll(async () => {
    vlm = await Simulator.start("openai", { args: ["--models", "*", "--tokens", "4"] })
  })
  afterAll(async () => {
    await vlm.stop()
  })

  it.effect("with `vision: true` images go as data-URL image_url parts and the answer streams", () =>
    Effect.gen(function*() {
      const png = Uint8Array.from(Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64"))
      const backend = yield* definition.make({ ...contextOf(vlm.url, { vision: true }), apiKey: Redacted.make("local") })
      expect(backend.capabilities.images).toBe(true)
      const events = yield* collect(backend, {
        model: "mlx-community/Qwen2.5-VL-7B-Instruct-4bit",
        messages: [{ role: "user", content: "Describe this image", images: [{ data: png, mime: "image/png" }] }]
      })
      expect(events[0]?._tag).toBe("Start")
      expect(events.at(-1)?._tag).toBe("Done")
      const [request] = yield* Effect.promise(() => vlm.requests())
      expect(request?.images).toEqual([
        expect.objectContaining({ prefix: "data:image/png;base64,", sha256: createHash("sha256").update(png).digest("hex") })
      ])
    }))
})

describe("mlx: the repo's routing.yaml", () => {
  it.effect("its mlx entries are valid options for this backend", () =>
    Effect.gen(function*() {
      const file = path.resolve(import.meta.dirname, "../../../routing.yaml")
      const config = yield* RoutingConfig.load(file, { optionsSchemaFor: (type) => (type === "mlx" ? definition.options : undefined) })
      const entries = Object.values(config.backends).filter((b) => b.type === "mlx")
      expect(entries.length).toBeGreaterThan(0)
      for (const entry of entries) expect(Exit.isSuccess(Schema.decodeUnknownExit(MlxOptions.MlxOptions)(entry.options))).toBe(true)
    }))
})

describe("mlx: against llama.cpp's llama-server (protocol, not simulator details)", () => {
  let llama: Simulator.Running
  beforeAll(async () => {
    llama = await Simulator.start("llamacpp", { args: ["--load-ms", "1500", "--alias", "tiny", "--ctx-size", "256", "--no-context-shift", "--tokens", "4"] })
  })
  afterAll(async () => {
    await llama.stop()
  })

  it.live("loading (503 on every route) probes Busy, then Ready; the answer streams", () =>
    Effect.gen(function*() {
      const backend = yield* make(llama.url)
      expect((yield* backend.probe)._tag).toBe("Busy")
      yield* backend.probe.pipe(
        Effect.repeat({ until: (p) => p._tag === "Ready", schedule: Schedule.spaced("100 millis") }),
        Effect.timeout(Duration.seconds(10))
      )
      expect(yield* backend.probe).toMatchObject({ _tag: "Ready", models: ["tiny"] })
      const events = yield* collect(backend, ask("tiny"))
      expect(events[0]?._tag).toBe("Start")
      expect(events.at(-1)?._tag).toBe("Done")
      expect(textOf(events).length).toBeGreaterThan(0)
    }))

  it.live("its in-stream `error:` line (context overflow) fails the stream instead of an empty clean answer", () =>
    Effect.gen(function*() {
      const backend = yield* make(llama.url)
      yield* backend.probe.pipe(Effect.repeat({ until: (p) => p._tag === "Ready", schedule: Schedule.spaced("100 millis") }))
      const { error } = yield* failureOf(backend, ask("tiny", "word ".repeat(2000)))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("context")
    }))
})
