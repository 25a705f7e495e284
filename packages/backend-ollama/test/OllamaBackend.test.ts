/**
 * The Ollama backend against sim-ollama, a real process on an OS-assigned port: the core
 * contract, every failure mapping, pull with progress, autoPull, cancellation and the bytes
 * of an image as the server received them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { type Backend, Events } from "@local-router/core"
import { Generated, contractSuite } from "@local-router/core/testing"
import { type Fault, Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { createServer } from "node:net"
import { OllamaBackend, OllamaOptions } from "../src/index.ts"

const { collect, failureOf, textOf } = Generated

/** A 1x1 PNG. */
const png = Uint8Array.from(Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64"))

let sim: Simulator.Running

beforeAll(async () => {
  // Each pull test uses a model of its own, so no test depends on another having run.
  const registry = "phi3.5:3.8b,moondream,llava:7b,tinyllama:1.1b-chat,all-minilm,llama3.2:1b,qwen2.5:0.5b,nomic-embed-text,gemma2:2b,smollm:135m,llama3.1:8b"
  sim = await Simulator.start("ollama", { args: ["--pull-ms", "300", "--pull-tick-ms", "20", "--tokens", "6", "--registry", registry] })
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

const make = (url: string, raw: Record<string, unknown> = {}) =>
  OllamaBackend.make({
    name: "ollama-test",
    url,
    apiKey: undefined,
    options: Schema.decodeUnknownSync(OllamaOptions.OllamaOptions)(raw),
    configDir: process.cwd()
  } as Backend.MakeContext<OllamaOptions.OllamaOptions>)

const ask = (model: string, content = "Say hello", images?: ReadonlyArray<Backend.Image>): Backend.GenerateRequest => ({
  model,
  messages: [{ role: "user", content, ...(images ? { images } : {}) }]
})

const withFaults = (faults: ReadonlyArray<Fault>) => Effect.promise(() => sim.setFaults(faults))

contractSuite("ollama", {
  make: Effect.suspend(() => make(sim.url)),
  model: "phi3.5:3.8b",
  missingModel: "nope:1b",
  makeUnreachable: Effect.promise(freePort).pipe(Effect.flatMap((port) => make(`http://127.0.0.1:${port}`))),
  image: { model: "moondream", image: { data: png, mime: "image/png" } }
})

describe("ollama: failures map to the reason the router acts on", () => {
  it.effect("a model the scheduler refuses (404) is ModelMissing", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "refuseModel", model: "phi3.5:3.8b" }])
      const { error, seen } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("ModelMissing")
      expect(error.status).toBe(404)
      expect(seen).toEqual([])
    }))

  it.effect("503 server busy is Overloaded, with the wait the server asked for", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "status", status: 503, route: "/api/chat", retryAfter: 2 }])
      const { error } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("Overloaded")
      expect(error.message).toContain("server busy")
      expect(error.retryAfterMs).toBe(2000)
    }))

  it.effect("a line that is not JSON is Upstream (ollama-js alone would skip it in silence)", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "malformedJson", route: "/api/chat" }])
      const { error, seen } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("not JSON")
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("an unknown route (text 404 page not found) is Upstream, not a missing model", () =>
    Effect.gen(function*() {
      const { error } = yield* failureOf(yield* make(`${sim.url}/not-ollama`), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("Upstream")
      expect(error.status).toBe(404)
    }))

  it.effect("500 runner crash is Upstream", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "status", status: 500, route: "/api/chat" }])
      const { error } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("Upstream")
      expect(error.status).toBe(500)
    }))

  it.effect("400 is BadRequest (the router does not fall back on it)", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "status", status: 400, route: "/api/chat", message: "invalid model name" }])
      const { error } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("BadRequest")
      expect(error.message).toContain("invalid model name")
    }))

  it.effect("an error line mid-stream is Upstream, after the tokens that came before it", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "errorBody", afterTokens: 2, message: "llama runner process has terminated" }])
      const { error, seen } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("llama runner process has terminated")
      expect(seen.map((e) => e._tag)).toEqual(["Start", "TextDelta", "TextDelta"])
    }))

  it.effect("a stream cut without done:true is StreamCut, never a short answer", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "cutAfterTokens", tokens: 2 }])
      const { error, seen } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("StreamCut")
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("a connection dropped before any answer is Unreachable", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "dropConnection", route: "/api/chat" }])
      const { error } = yield* failureOf(yield* make(sim.url), ask("phi3.5:3.8b"))
      expect(error.reason).toBe("Unreachable")
    }))

  it.effect("connection refused: the probe says Unreachable with the address", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const probe = yield* (yield* make(`http://127.0.0.1:${port}`)).probe
      expect(probe._tag).toBe("Unreachable")
      if (probe._tag === "Unreachable") expect(probe.detail).toContain(`127.0.0.1:${port}`)
    }))
})

describe("ollama: requests on the wire", () => {
  it.effect("image bytes reach the server unchanged, as bare base64", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* make(sim.url), ask("moondream", "What is this?", [{ data: png, mime: "image/png" }]))
      expect(textOf(events).length).toBeGreaterThan(0)
      const chat = (yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/chat")
      expect(chat).toHaveLength(1)
      expect(chat[0]?.images).toEqual([
        { at: "messages[0].images[0]", prefix: "", bytes: png.length, sha256: createHash("sha256").update(png).digest("hex") }
      ])
    }))

  it.effect("keepAlive and numCtx from routing.yaml are sent; options map to Ollama's names", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url, { keepAlive: "30m", numCtx: 8192 })
      yield* collect(backend, { ...ask("phi3.5:3.8b"), options: { temperature: 0.2, maxTokens: 64, stop: ["\n\n"] } })
      const [chat] = (yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/chat")
      expect(chat?.body).toMatchObject({
        model: "phi3.5:3.8b",
        stream: true,
        keep_alive: "30m",
        options: { temperature: 0.2, num_predict: 64, stop: ["\n\n"], num_ctx: 8192 }
      })
    }))

  it.effect("the probe lists installed models and, after a request, the loaded one", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      yield* collect(backend, ask("tinyllama:1.1b-chat"))
      const probe = yield* backend.probe
      expect(probe._tag).toBe("Ready")
      if (probe._tag === "Ready") {
        expect(probe.models).toEqual(expect.arrayContaining(["phi3.5:3.8b", "moondream:latest", "llava:7b"]))
        expect(probe.loaded).toContain("tinyllama:1.1b-chat")
      }
      const paths = (yield* Effect.promise(() => sim.requests())).map((r) => r.path)
      expect(paths.slice(-3)).toEqual(["/", "/api/tags", "/api/ps"])
    }))
})

describe("ollama: pulling models", () => {
  it.effect("ensureModel pulls with progress until the model is listed", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      expect(yield* backend.models).not.toContain("llama3.2:1b")
      const progress = yield* Stream.runCollect(backend.ensureModel("llama3.2:1b"))
      expect(progress[0]).toEqual({ status: "pulling manifest" })
      const layer = progress.filter((p) => p.total !== undefined && p.total > 100_000_000)
      expect(layer.length).toBeGreaterThan(3)
      const completed = layer.flatMap((p) => (p.completed === undefined ? [] : [p.completed]))
      expect(completed).toEqual([...completed].sort((a, b) => a - b))
      expect(completed.at(-1)).toBe(layer[0]?.total)
      expect(progress.at(-1)).toEqual({ status: "success" })
      expect(yield* backend.models).toContain("llama3.2:1b")
    }))

  it.effect("ensureModel of an installed model does not go to the registry", () =>
    Effect.gen(function*() {
      const progress = yield* Stream.runCollect((yield* make(sim.url)).ensureModel("Phi3.5:3.8b"))
      expect(progress).toEqual([{ status: "already present" }])
      const paths = (yield* Effect.promise(() => sim.requests())).map((r) => r.path)
      expect(paths).not.toContain("/api/pull")
    }))

  it.effect("ensureModel of a name the registry does not have is ModelMissing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Stream.runDrain((yield* make(sim.url)).ensureModel("no-such-model:9b")))
      expect(error.reason).toBe("ModelMissing")
      expect(error.message).toContain("no-such-model:9b")
    }))

  it.effect("without autoPull a missing model fails with ModelMissing", () =>
    Effect.gen(function*() {
      const { error } = yield* failureOf(yield* make(sim.url), ask("smollm:135m"))
      expect(error.reason).toBe("ModelMissing")
      const paths = (yield* Effect.promise(() => sim.requests())).map((r) => r.path)
      expect(paths).not.toContain("/api/pull")
    }))

  it.effect("with autoPull a missing model is pulled, then the request is answered", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url, { autoPull: true })
      const events = yield* collect(backend, ask("llama3.1:8b"))
      expect(events[0]?._tag).toBe("Start")
      expect(events.at(-1)?._tag).toBe("Done")
      expect(textOf(events).length).toBeGreaterThan(0)
      const paths = (yield* Effect.promise(() => sim.requests())).map((r) => `${r.method} ${r.path}`)
      expect(paths).toEqual(["POST /api/chat", "POST /api/pull", "POST /api/chat"])
    }))
})

describe("ollama: auto-pulls are shared and outlive the request", () => {
  it.effect("two requests for the same missing model share one pull", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url, { autoPull: true })
      const [a, b] = yield* Effect.all([collect(backend, ask("qwen2.5:0.5b")), collect(backend, ask("Qwen2.5:0.5b"))], { concurrency: 2 })
      expect(a.at(-1)?._tag).toBe("Done")
      expect(b.at(-1)?._tag).toBe("Done")
      const pulls = (yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/pull")
      expect(pulls).toHaveLength(1)
    }))

  it.live("a request the router gives up on mid-pull leaves the download running to the end", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url, { autoPull: true })
      const fiber = yield* Effect.forkChild(collect(backend, ask("gemma2:2b")))
      // Give up on the request once the download is under way, as a deadline would.
      yield* Effect.promise(() => sim.requests()).pipe(
        Effect.repeat({ until: (requests) => requests.some((r) => r.path === "/api/pull"), schedule: Schedule.spaced("20 millis") })
      )
      yield* Fiber.interrupt(fiber)
      expect(yield* backend.models).not.toContain("gemma2:2b")
      // The download takes about a second here; wait for it, bounded.
      const installed = yield* backend.models.pipe(
        Effect.repeat({ until: (models) => models.includes("gemma2:2b"), schedule: Schedule.spaced("100 millis") }),
        Effect.timeoutOption("10 seconds")
      )
      expect(Option.isSome(installed)).toBe(true)
      const paths = (yield* Effect.promise(() => sim.requests())).map((r) => r.path)
      expect(paths.filter((p) => p === "/api/pull")).toHaveLength(1)
    }))
})

describe("ollama: cancellation", () => {
  it.live("interrupting while the server holds the headers ends the Effect at once", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "hangBeforeHeaders", route: "/api/chat" }])
      const backend = yield* Effect.scoped(make(sim.url))
      const fiber = yield* Effect.forkChild(Stream.runDrain(Events.stream(backend.generate(ask("phi3.5:3.8b")))))
      yield* Effect.sleep("150 millis")
      const t0 = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Date.now() - t0).toBeLessThan(500)
    }))

  it.live("a consumer that stops mid-pull aborts the download: the server stops writing layer bytes", () =>
    Effect.gen(function*() {
      const backend = yield* Effect.scoped(make(sim.url))
      const taken = yield* Stream.runCollect(Stream.take(backend.ensureModel("all-minilm"), 4))
      expect(taken).toHaveLength(4)
      const downloaded = () =>
        Effect.promise(async () => {
          const state = (await (await fetch(`${sim.url}/__sim/state`)).json()) as { state: { downloaded: Record<string, number> } }
          return state.state.downloaded["all-minilm:latest"]
        })
      yield* Effect.sleep("100 millis")
      const first = yield* downloaded()
      yield* Effect.sleep("200 millis")
      expect(first).toBeGreaterThan(0)
      expect(yield* downloaded()).toBe(first)
      expect(yield* (yield* Effect.scoped(make(sim.url))).models).not.toContain("all-minilm:latest")
    }))
})
