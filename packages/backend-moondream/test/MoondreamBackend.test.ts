/**
 * The Moondream backend against sim-moondream, a real process on an OS-assigned port: the
 * core contract (image-only), the 200-with-error mapping, cut and malformed streams, port
 * drift through a temporary home, detect/point results, the cloud header and the bytes of
 * an image as Station received them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { type Backend, type BackendError, Events } from "@local-router/core"
import { Generated, contractSuite } from "@local-router/core/testing"
import { type Fault, Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { createServer as createHttpServer, type Server as HttpServer } from "node:http"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { MoondreamBackend, MoondreamOptions, StationError } from "../src/index.ts"

const { collect, failureOf, textOf } = Generated

/** A 1x1 PNG. */
const png = Uint8Array.from(Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64"))
const image: Backend.Image = { data: png, mime: "image/png" }
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

let sim: Simulator.Running

beforeAll(async () => {
  sim = await Simulator.start("moondream", { args: ["--tokens", "6"] })
})
afterAll(async () => {
  await sim.stop()
})
beforeEach(async () => {
  await sim.clearFaults()
  await sim.clearRequests()
})

const listen = (port = 0): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy())
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve(server))
  })
const portOf = (server: Server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))
const freePort = async () => {
  const server = await listen()
  const port = portOf(server)
  await close(server)
  return port
}

/** A home directory with no Station config in it, so discovery finds nothing by accident. */
const emptyHome = () => mkdtempSync(join(tmpdir(), "moondream-test-home-"))

const make = (url: string, raw: Record<string, unknown> = {}, apiKey?: string) =>
  MoondreamBackend.make({
    name: "moondream-test",
    url,
    apiKey: apiKey === undefined ? undefined : Redacted.make(apiKey),
    apiKeyEnv: apiKey === undefined ? undefined : "MOONDREAM_API_KEY",
    options: Schema.decodeUnknownSync(MoondreamOptions.MoondreamOptions)({ home: emptyHome(), ...raw }),
    configDir: process.cwd()
  })

const ask = (content: string, images: ReadonlyArray<Backend.Image> = [image], task?: Backend.Task): Backend.GenerateRequest => ({
  model: "moondream-2",
  messages: [{ role: "user", content, images }],
  ...(task ? { task } : {})
})

const withFaults = (faults: ReadonlyArray<Fault>) => Effect.promise(() => sim.setFaults(faults))

const requests = () => Effect.promise(() => sim.requests())

contractSuite("moondream", {
  make: Effect.suspend(() => make(`${sim.url}/v1`)),
  model: "moondream-2",
  missingModel: "nope",
  imageOnly: true,
  image: { model: "moondream-2", image }
  // makeUnreachable is left out: the contract's unreachable check sends text only, which an
  // image-only backend rejects as BadRequest before it connects. Tested below with an image.
})

contractSuite("moondream cloud mode", {
  make: Effect.suspend(() => make(`${sim.url}/v1`, { service: "cloud" }, "md-secret-key-1234")),
  model: "moondream-2",
  missingModel: "nope",
  imageOnly: true,
  image: { model: "moondream-2", image },
  secret: Redacted.make("md-secret-key-1234")
})

describe("moondream: contract 2.0", () => {
  it.effect("declares no tools, JSON schema, reasoning or embeddings (no Moondream endpoint has them); images only, and a caption still answers", () =>
    Effect.gen(function*() {
      const backend = yield* make(`${sim.url}/v1`)
      expect(backend.capabilities).toEqual({ text: false, images: true, streaming: true, pull: false, tools: false, jsonSchema: false, reasoning: false, embeddings: false })
      expect(backend.embed).toBeUndefined()
      expect(backend.modelCapabilities).toBeUndefined()
      const events = yield* collect(backend, ask("", [image], { _tag: "Caption", length: "short" }))
      expect(textOf(events).length).toBeGreaterThan(0)
      expect(events.some((e) => e._tag === "ReasoningDelta" || e._tag === "ToolCallStart")).toBe(false)
    }))
})

describe("moondream: what goes on the wire", () => {
  it.effect("a Caption task calls /v1/caption with the length; the image bytes arrive unchanged", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* make(`${sim.url}/v1`), ask("", [image], { _tag: "Caption", length: "short" }))
      expect(events[0]).toMatchObject({ _tag: "Start", model: "moondream-2" })
      expect(textOf(events).trim().length).toBeGreaterThan(0)
      const [call] = yield* requests()
      expect(call).toMatchObject({ method: "POST", path: "/v1/caption", body: { length: "short", stream: true } })
      expect(call?.images).toEqual([{ at: "image_url", prefix: "data:image/png;base64,", bytes: png.length, sha256: sha(png) }])
    }))

  it.effect("a question about an image calls /v1/query with the question", () =>
    Effect.gen(function*() {
      const backend = yield* make(`${sim.url}/v1`, { requestTimeout: "2m" })
      yield* collect(backend, { ...ask("How many cats?"), options: { temperature: 0.1, maxTokens: 40 } })
      const [call] = yield* requests()
      expect(call).toMatchObject({
        path: "/v1/query",
        body: { question: "How many cats?", stream: true, timeout: 120, settings: { temperature: 0.1, max_tokens: 40 } }
      })
    }))

  it.effect("text without an image is BadRequest and never reaches Station", () =>
    Effect.gen(function*() {
      const { error } = yield* failureOf(yield* make(`${sim.url}/v1`), ask("Hello", []))
      expect(error.reason).toBe("BadRequest")
      expect(yield* requests()).toEqual([])
    }))

  it.effect("cloud mode sends X-Moondream-Auth (the simulator records that it came, never its value)", () =>
    Effect.gen(function*() {
      // The simulator leaves secret headers out of its log; prove the header left us by
      // pointing the backend at a listener of our own.
      const seen: Array<string> = []
      const server = yield* Effect.promise(() =>
        new Promise<HttpServer>((resolve) => {
          const s = createHttpServer((req, res) => {
            seen.push(String(req.headers["x-moondream-auth"]))
            res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ caption: "A dot." }))
          })
          s.listen(0, "127.0.0.1", () => resolve(s))
        })
      )
      yield* Effect.addFinalizer(() => Effect.promise(() => new Promise<void>((r) => server.close(() => r()))))
      const address = server.address() as { port: number }
      const events = yield* collect(yield* make(`http://127.0.0.1:${address.port}/v1`, { service: "cloud" }, "md-secret-key-1234"), ask(""))
      expect(textOf(events)).toBe("A dot.")
      expect(seen).toEqual(["md-secret-key-1234"])
    }))

  it.effect("cloud mode without a key does not start, and says which variable to set", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(MoondreamBackend.make({
        name: "md-cloud",
        url: undefined,
        apiKey: undefined,
        apiKeyEnv: "MOONDREAM_API_KEY",
        options: Schema.decodeUnknownSync(MoondreamOptions.MoondreamOptions)({ service: "cloud" }),
        configDir: process.cwd()
      })))
      expect(error.reason).toBe("Auth")
      expect(error.message).toContain("MOONDREAM_API_KEY")
    }))
})

describe("moondream: failures map to the reason the router acts on", () => {
  it.effect("a bad image (200 with error) is BadRequest, before any Start", () =>
    Effect.gen(function*() {
      const { error, seen } = yield* failureOf(yield* make(`${sim.url}/v1`), ask("What?", [{ data: new TextEncoder().encode("not an image"), mime: "image/png" }]))
      expect(error.reason).toBe("BadRequest")
      expect(error.message).toContain("cannot identify image file")
      expect(seen).toEqual([])
    }))

  it.effect("a stream cut before {completed: true} is StreamCut", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "cutAfterTokens", tokens: 2 }])
      const { error, seen } = yield* failureOf(yield* make(`${sim.url}/v1`), ask("What is it?"))
      expect(error.reason).toBe("StreamCut")
      expect(seen.filter((e) => e._tag === "TextDelta")).toHaveLength(2)
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("a malformed SSE event is Upstream", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "malformedJson" }])
      const { error } = yield* failureOf(yield* make(`${sim.url}/v1`), ask("What is it?"))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("not JSON")
    }))

  it.effect("a 503 from a stopped service is Overloaded; a 500 is Upstream", () =>
    Effect.gen(function*() {
      const backend = yield* make(`${sim.url}/v1`)
      yield* withFaults([{ kind: "status", status: 503, count: 1 }])
      expect((yield* failureOf(backend, ask("What?"))).error.reason).toBe("Overloaded")
      yield* withFaults([{ kind: "status", status: 500, count: 1 }])
      expect((yield* failureOf(backend, ask("What?"))).error.reason).toBe("Upstream")
    }))

  it.effect("nothing listening: the probe is Unreachable and generate (with an image) fails Unreachable", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const backend = yield* make(`http://127.0.0.1:${port}/v1`)
      expect((yield* backend.probe)._tag).toBe("Unreachable")
      const { error } = yield* failureOf(backend, ask("What?"))
      expect(error.reason).toBe("Unreachable")
      expect(error.message).toContain(`127.0.0.1:${port}`)
    }))

  it.effect("a dropped connection before any answer is Unreachable", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "dropConnection", route: "/v1/query" }])
      expect((yield* failureOf(yield* make(`${sim.url}/v1`), ask("What?"))).error.reason).toBe("Unreachable")
    }))

  it.effect("the in-band error texts of Station map to reasons (table)", () =>
    Effect.sync(() => {
      const table: ReadonlyArray<readonly [Record<string, unknown>, BackendError.Reason]> = [
        [{ error: "Queue is full", status: "rejected" }, "Overloaded"],
        [{ error: "Request timeout", status: "timeout" }, "Timeout"],
        [{ error: "image_url and question are required" }, "BadRequest"],
        [{ error: "Model does not support caption length 'huge'." }, "BadRequest"],
        [{ error: "Function 'chat' not available" }, "Upstream"],
        [{ error: "Inference service not started" }, "Upstream"],
        [{ error: "boom", status: "error" }, "Upstream"]
      ]
      expect(table.map(([body]) => StationError.fromBody("md", body)?.reason)).toEqual(table.map(([, reason]) => reason))
    }))
})

describe("moondream: queue and wait limit of a busy Station", () => {
  it.effect("a full queue (200 Queue is full) is Overloaded", () =>
    Effect.gen(function*() {
      const busy = yield* Effect.acquireRelease(
        Effect.promise(() => Simulator.start("moondream", { args: ["--queue-size", "0"] })),
        (s) => Effect.promise(() => s.stop())
      )
      const { error, seen } = yield* failureOf(yield* make(`${busy.url}/v1`), ask("What?"))
      expect(error.reason).toBe("Overloaded")
      expect(error.message).toContain("Queue is full")
      expect(seen).toEqual([])
      const probe = yield* (yield* make(`${busy.url}/v1`)).probe
      expect(probe._tag).toBe("Busy")
    }))

  it.effect("Station's own wait limit (200 Request timeout) while the model loads is Timeout", () =>
    Effect.gen(function*() {
      const cold = yield* Effect.acquireRelease(
        // Station's configured limit: the simulator applies a request's own `timeout` only to
        // non-streamed calls (reported), so the limit is set for the whole server here.
        Effect.promise(() => Simulator.start("moondream", { args: ["--load-ms", "1500", "--timeout-ms", "100"] })),
        (s) => Effect.promise(() => s.stop())
      )
      const { error } = yield* failureOf(yield* make(`${cold.url}/v1`), ask("What?"))
      expect(error.reason).toBe("Timeout")
    }))
})

describe("moondream: detect and point", () => {
  it.effect("detect returns boxes as fractions of the image; point returns points", () =>
    Effect.gen(function*() {
      const backend = yield* make(`${sim.url}/v1`)
      const detected = yield* MoondreamBackend.detect(backend, { image, object: "cat", maxObjects: 2 })
      expect(detected.objects.length).toBeGreaterThan(0)
      expect(detected.objects.length).toBeLessThanOrEqual(2)
      for (const box of detected.objects) {
        expect(box.xMin).toBeGreaterThanOrEqual(0)
        expect(box.xMax).toBeLessThanOrEqual(1)
        expect(box.xMin).toBeLessThan(box.xMax)
      }
      const pointed = yield* MoondreamBackend.point(backend, { image, object: "cat" })
      expect(pointed.points.length).toBeGreaterThan(0)
      const calls = yield* requests()
      expect(calls.map((c) => c.path)).toEqual(["/v1/detect", "/v1/point"])
      expect(calls[0]?.body).toMatchObject({ object: "cat", settings: { max_objects: 2 } })
    }))

  it.effect("a 200-with-error on detect is a typed failure, not an empty result", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "errorBody", route: "/v1/detect", message: "Inference failed: MPS backend out of memory" }])
      const error = yield* Effect.flip(MoondreamBackend.detect(yield* make(`${sim.url}/v1`), { image, object: "cat" }))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("MPS backend out of memory")
    }))

  it.effect("a malformed detect answer is Upstream", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "malformedJson", route: "/v1/detect" }])
      const error = yield* Effect.flip(MoondreamBackend.detect(yield* make(`${sim.url}/v1`), { image, object: "cat" }))
      expect(error.reason).toBe("Upstream")
    }))
})

describe("moondream: port drift", () => {
  it.effect("when the configured port is dead, the port in config.json is used, with a warning in the log", () =>
    Effect.gen(function*() {
      const home = emptyHome()
      // Hold a port, tell Station (via its config) to start there: it drifts to a later port
      // and writes that one back, as the real Station does.
      const held = yield* Effect.promise(() => listen())
      const configured = portOf(held)
      mkdirSync(join(home, ".moondream-station"), { recursive: true })
      writeFileSync(join(home, ".moondream-station", "config.json"), JSON.stringify({ service_port: configured }))
      const drifted = yield* Effect.acquireRelease(
        Effect.promise(() => Simulator.start("moondream", { home, args: ["--port", "auto"] })),
        (s) => Effect.promise(() => s.stop())
      )
      yield* Effect.promise(() => close(held))
      expect(drifted.port).not.toBe(configured)

      const backend = yield* make(`http://127.0.0.1:${configured}/v1`, { home })
      const logged: Array<string> = []
      const probe = yield* backend.probe.pipe(
        // The only logger while the probe runs; a log call passes its arguments as an array.
        Effect.provide(Logger.layer([Logger.make(({ message }) => logged.push((message as ReadonlyArray<unknown>).join(" ")))]))
      )
      expect(probe._tag).toBe("Ready")
      expect(logged).toEqual([`moondream-test: Moondream Station answers on port ${drifted.port}, not ${configured}; using it`])
      const events = yield* collect(backend, ask("What is it?"))
      expect(events.at(-1)?._tag).toBe("Done")
      expect((yield* Effect.promise(() => drifted.requests())).map((r) => r.path)).toContain("/v1/query")
    }))

  it.effect("when neither the URL nor config.json lead to Station, the probe says what it tried", () =>
    Effect.gen(function*() {
      const home = emptyHome()
      const dead = yield* Effect.promise(freePort)
      const probe = yield* (yield* make(`http://127.0.0.1:${dead}/v1`, { home })).probe
      expect(probe._tag).toBe("Unreachable")
      if (probe._tag === "Unreachable") expect(probe.detail).toContain(join(home, ".moondream-station", "config.json"))
    }))
})

describe("moondream: cancellation", () => {
  it.live("interrupting a slow stream ends the Effect at once", () =>
    Effect.gen(function*() {
      yield* withFaults([{ kind: "hangAfterTokens", tokens: 1 }])
      const backend = yield* Effect.scoped(make(`${sim.url}/v1`))
      const seen: Array<string> = []
      const fiber = yield* Effect.forkChild(Stream.runForEach(Events.stream(backend.generate(ask("What?"))), (e) => Effect.sync(() => seen.push(e._tag))))
      yield* Effect.sleep("300 millis")
      expect(seen).toEqual(["Start", "TextDelta"])
      const t0 = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Date.now() - t0).toBeLessThan(500)
    }))
})
