/**
 * The gateway under hostile input and the security promises, over real backends and
 * simulator processes: every hostile request gets a clear 4xx in the caller's dialect and the
 * process stays healthy (heap checked after a full GC before and after); the gateway refuses a
 * public bind without a token and answers 401 without it; and no log line, status output,
 * metrics page, response header or error body produced here carries a configured API key or
 * the gateway token.
 */
import { LiveRouting, Router } from "@local-router/core"
import { Simulator } from "@local-router/simulators"
import { Vision } from "@local-router/vision"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Gateway } from "../../../../packages/gateway/src/index.ts"
import { builtins } from "../../src/Builtins.ts"
import { deepJson, invalidUtf8, pathLikeModels, pdfPageBomb, pngBomb } from "./HostileInput.ts"

const TOKEN = "lr-gw-token-7f3a9c1e5b2d4f60a8c3e1b9d7f5a2c4"
const CLOUD_KEY = "sk-proj-CLOUDKEY-4b9e2f7a1c6d8e3f5a0b9c2d"
const WRONG_KEY = "sk-proj-WRONGKEY-91c3e5a7b2d4f6e8a0c1b3d5"
const secrets = [TOKEN, CLOUD_KEY, WRONG_KEY]
const MAX_BODY = 2 * 1024 * 1024

/** Everything the gateway and the router said during this file: log lines, bodies, headers. */
const seen: Array<string> = []
const logger = Logger.make(({ message }) => {
  seen.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
})

let ollama: Simulator.Running
let cloud: Simulator.Running
let dir: string
let scope: Scope.Closeable
let url: string
let router: Router.Router
let live: LiveRouting.LiveRouting

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromise(effect.pipe(Scope.provide(scope), Effect.provide(Logger.layer([logger]))))

beforeAll(async () => {
  ;[ollama, cloud] = await Promise.all([
    Simulator.start("ollama", { readyTimeoutMs: 30_000 }),
    Simulator.start("openai", { args: ["--api-key", CLOUD_KEY], readyTimeoutMs: 30_000 })
  ])
  process.env.LR_HOSTILE_CLOUD_KEY = CLOUD_KEY
  process.env.LR_HOSTILE_WRONG_KEY = WRONG_KEY
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "lr-hostile-"))
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, `version: 1
backends:
  ollama: { type: ollama, url: "${ollama.url}" }
  cloud: { type: cloud, provider: openai, url: "${cloud.url}/v1", apiKey: env:LR_HOSTILE_CLOUD_KEY }
  stale: { type: cloud, provider: openai, url: "${cloud.url}/v1", apiKey: env:LR_HOSTILE_WRONG_KEY }
priorities:
  text: [ollama, cloud]
  image: [ollama, cloud]
  pdf: [ollama, cloud]
categories:
  fast: { input: text, models: { ollama: "phi3.5:3.8b", cloud: gpt-4o-mini } }
  cloudonly: { input: text, priority: [cloud], models: { cloud: gpt-4o-mini } }
  stalekey: { input: text, priority: [stale], models: { stale: gpt-4o-mini } }
  vision: { input: image, models: { ollama: moondream, cloud: gpt-4o-mini } }
  vision_pdf: { input: pdf, models: { ollama: "llava:7b" } }
`)
  scope = Effect.runSync(Scope.make())
  const started = await run(Effect.gen(function*() {
    const live = yield* LiveRouting.make(file, { builtins, watch: false })
    const router = yield* Router.make(live.snapshot)
    const vision = yield* Vision.make(router, { renderWorkers: 1 })
    const gateway = yield* Gateway.make({ host: "127.0.0.1", port: 0, token: Redacted.make(TOKEN), maxBodyBytes: MAX_BODY, router, routing: live, vision })
    return { gateway, router, live }
  }))
  url = started.gateway.url
  router = started.router
  live = started.live
}, 90_000)

afterAll(async () => {
  if (scope) await Effect.runPromise(Scope.close(scope, Exit.void))
  await Promise.all([ollama?.stop(), cloud?.stop()])
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

interface Reply {
  readonly status: number
  readonly body: string
  readonly headers: Headers
}

const send = async (route: string, init: RequestInit & { readonly auth?: string | null } = {}): Promise<Reply> => {
  const { auth, ...rest } = init
  const headers = new Headers(rest.headers)
  if (auth !== null) headers.set("authorization", `Bearer ${auth ?? TOKEN}`)
  const response = await fetch(`${url}${route}`, { ...rest, headers, signal: AbortSignal.timeout(30_000) })
  const body = await response.text()
  seen.push(body, JSON.stringify([...response.headers]))
  return { status: response.status, body, headers: response.headers }
}

const chat = (body: unknown) => send("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

/** A clear client error: 4xx, JSON in the caller's dialect with a message, no stack trace. */
const expectClear4xx = (reply: Reply, what: string) => {
  expect(reply.status, `${what}: ${reply.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400)
  expect(reply.status, `${what}: ${reply.body.slice(0, 300)}`).toBeLessThan(500)
  const parsed = JSON.parse(reply.body) as { error?: { message?: string } | string }
  const message = typeof parsed.error === "string" ? parsed.error : parsed.error?.message
  expect(message, what).toMatch(/\w{3}/)
  expect(reply.body, what).not.toMatch(/\bat .+\.(ts|js):\d+:\d+/)
  expect(reply.body, what).not.toMatch(/root:x:0:0/)
}

/** Heap in use after a full collection, so what is counted is what the process still holds. */
const heapAfterGc = () => {
  v8.setFlagsFromString("--expose-gc")
  const gc = vm.runInNewContext("gc") as () => void
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

describe("hostile input: every request gets a clear 4xx and the process stays healthy", () => {
  it("oversized bodies, deep JSON, bytes that are not UTF-8, image and PDF bombs, unknown and path-like models", async () => {
    const healthy = await chat({ model: "fast", messages: [{ role: "user", content: "hello" }] })
    expect(healthy.status).toBe(200)
    const heapBefore = heapAfterGc()

    const big = "x".repeat(MAX_BODY + 1024)
    const cases: ReadonlyArray<[string, () => Promise<Reply>]> = [
      ["an OpenAI body over the limit", () => chat({ model: "fast", messages: [{ role: "user", content: big }] })],
      ["an Ollama body over the limit", () => send("/api/chat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: big }] }) })],
      ["a body over the limit with no Content-Length (chunked)", () => send("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode(big)); c.close() } }),
        duplex: "half"
      } as RequestInit)],
      ["an image upload over the limit", () => send("/v1/vision/describe", { method: "POST", headers: { "content-type": "image/png" }, body: Buffer.alloc(MAX_BODY + 1) })],
      ["JSON nested 100,000 deep", () => send("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: deepJson(100_000) })],
      ["Ollama JSON nested 100,000 deep", () => send("/api/chat", { method: "POST", headers: { "content-type": "application/json" }, body: deepJson(100_000) })],
      ["bytes that are not UTF-8 (OpenAI)", () => send("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: invalidUtf8() })],
      ["bytes that are not UTF-8 (Ollama)", () => send("/api/chat", { method: "POST", headers: { "content-type": "application/json" }, body: invalidUtf8() })],
      ["a PNG declaring 60000x60000 pixels", () => send("/v1/vision/describe", { method: "POST", headers: { "content-type": "image/png" }, body: pngBomb(60_000, 60_000) })],
      ["the same PNG as a data URL in a chat message", () => chat({ model: "vision", messages: [{ role: "user", content: [{ type: "text", text: "what is it?" }, { type: "image_url", image_url: { url: `data:image/png;base64,${pngBomb(60_000, 60_000).toString("base64")}` } }] }] })],
      ["a PDF listing 50,000 pages", () => send("/v1/vision/pdf", { method: "POST", headers: { "content-type": "application/pdf" }, body: pdfPageBomb(50_000) })],
      ["a PDF that is not a PDF", () => send("/v1/vision/pdf", { method: "POST", headers: { "content-type": "application/pdf" }, body: Buffer.from("%PDF-1.7\n garbage, no xref, no objects") })],
      ["an image that is not an image", () => send("/v1/vision/describe", { method: "POST", headers: { "content-type": "image/png" }, body: Buffer.from("GIF89a but really nothing") })],
      ["an unknown category", () => chat({ model: "no-such-category", messages: [{ role: "user", content: "hi" }] })],
      ["an unknown category (Ollama)", () => send("/api/chat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "no-such-category", messages: [{ role: "user", content: "hi" }] }) })],
      ["a model pinned on a backend that does not exist", () => chat({ model: "nowhere/phi3.5:3.8b", messages: [{ role: "user", content: "hi" }] })],
      ...pathLikeModels.map((model): [string, () => Promise<Reply>] => [`a path-like model ${JSON.stringify(model)}`, () => chat({ model, messages: [{ role: "user", content: "hi" }] })]),
      ["a path-like model on the Ollama API", () => send("/api/generate", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "../../../../etc/passwd", prompt: "hi", stream: false }) })],
      ["messages of the wrong type", () => chat({ model: "fast", messages: "hello" })],
      ["a body that is not JSON at all", () => send("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: "{\"model\": \"fast\", " })]
    ]
    const failures: Array<string> = []
    for (const [what, request] of cases) {
      const reply = await request()
      try {
        expectClear4xx(reply, what)
      } catch (error) {
        failures.push(`${what}: ${reply.status} ${reply.body.slice(0, 200)}`)
      }
    }
    expect(failures).toEqual([])

    // Still healthy: answers, /health is ok, and the hostile batch left no memory behind.
    const health = await send("/health")
    expect(health.status).toBe(200)
    const after = await chat({ model: "fast", messages: [{ role: "user", content: "hello" }] })
    expect(after.status).toBe(200)
    expect(JSON.parse(after.body).choices[0].message.content).toBe(JSON.parse(healthy.body).choices[0].message.content)
    const grown = heapAfterGc() - heapBefore
    console.log(`hostile input: ${cases.length} requests, heap ${(heapBefore / 1e6).toFixed(1)} MB -> ${((heapBefore + grown) / 1e6).toFixed(1)} MB`)
    expect(grown).toBeLessThan(32 * 1024 * 1024)
  }, 120_000)
})

describe("security: tokens, binds, and secrets that never show", () => {
  it("a request without the token, or with a wrong one, is 401 and the token is not in the answer", async () => {
    for (const auth of [null, "", "wrong-token", TOKEN.slice(0, -1), `${TOKEN}x`]) {
      const reply = await send("/v1/models", { auth })
      expect(reply.status, String(auth)).toBe(401)
    }
    expect((await send("/v1/models")).status).toBe(200)
  })

  it("the gateway refuses to bind anything but loopback without a token, and says why", async () => {
    for (const host of ["0.0.0.0", "::", "192.168.1.10"]) {
      const exit = await Effect.runPromiseExit(Effect.scoped(Gateway.make({ host, port: 0, router, routing: live })))
      expect(Exit.isFailure(exit), host).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        expect(error._tag === "Some" && error.value.reason, host).toBe("UnsafeBind")
      }
    }
  })

  it("an upstream that rejects the key: the error names Auth, never the key", async () => {
    const reply = await chat({ model: "stalekey", messages: [{ role: "user", content: "hi" }] })
    expect(reply.status).toBeGreaterThanOrEqual(400)
    expect(reply.body).toMatch(/Auth/)
    const answered = await chat({ model: "cloudonly", messages: [{ role: "user", content: "hi" }] })
    expect(answered.status).toBe(200)
  })

  it("no log line, status, metrics, header or error body produced in this file holds an API key or the token", async () => {
    const status = await send("/status")
    expect(status.status).toBe(200)
    expect((await send("/metrics")).status).toBe(200)
    seen.push(ollama.stderr(), cloud.stderr())
    // The scan must have something to scan: the hostile batch, the 401s, the status page.
    expect(seen.length).toBeGreaterThan(50)
    const leaks = seen.flatMap((text) => secrets.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 10)}… in ${text.slice(0, 160)}`))
    expect(leaks).toEqual([])
  })
})
