/**
 * The gateway's own behaviour over raw HTTP: who may call it, what it refuses, its native
 * endpoints (health, status, metrics), and what it does when a caller goes away or reads slowly.
 */
import { Router, RoutingConfig } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { EventEmitter } from "node:events"
import * as http from "node:http"
import { afterEach, describe, expect, it } from "vitest"
import * as Exchange from "../src/Exchange.ts"
import { Access, Gateway } from "../src/index.ts"
import { eventually, type Running, start, yaml } from "./TestGateway.ts"

let running: Running | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
})

const post = (r: Running, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${r.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) })

// Response bodies in these tests are checked field by field.
const json = (response: Response): Promise<any> => response.json()

const chat = { model: "fast", messages: [{ role: "user", content: "hi" }] }

describe("binding and tokens", () => {
  it("refuses to listen on a non-loopback host without a token, and says how to fix it", async () => {
    const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))
    const snapshot = Effect.succeed<Router.Snapshot>({ version: 1, config, backends: new Map() })
    const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function*() {
      const router = yield* Router.make(snapshot)
      return yield* Gateway.make({ host: "0.0.0.0", port: 0, router, routing: { snapshot } })
    })))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Result.getOrUndefined(Exit.findError(exit))
    expect(error).toMatchObject({ _tag: "GatewayError", reason: "UnsafeBind" })
    expect(error?.message).toMatch(/LOCAL_ROUTER_TOKEN/)
  })

  it("with a token on a non-loopback host, it listens and every request needs the bearer token", async () => {
    running = await start({}, { host: "0.0.0.0", token: Redacted.make("s3cret") })
    const url = running.url.replace("0.0.0.0", "127.0.0.1")
    const none = await fetch(`${url}/health`)
    expect(none.status).toBe(401)
    const wrong = await fetch(`${url}/v1/models`, { headers: { authorization: "Bearer s3cres" } })
    expect(wrong.status).toBe(401)
    const body = await json(wrong)
    expect(body.error.code).toBe("invalid_api_key")
    expect(JSON.stringify(body)).not.toContain("s3cret")
    const right = await fetch(`${url}/v1/models`, { headers: { authorization: "Bearer s3cret" } })
    expect(right.status).toBe(200)
    const ollama = await fetch(`${url}/api/tags`)
    expect(ollama.status).toBe(401)
    expect(await json(ollama)).toEqual({ error: "missing or wrong token: send Authorization: Bearer <token> (or x-api-key: <token>)" })
  })

  it("the token comparison accepts only the exact token", () => {
    const gate = Access.bearer(Redacted.make("abc"))
    expect(gate.allows("Bearer abc")).toBe(true)
    for (const header of [undefined, "", "abc", "Bearer ab", "Bearer abcd", "Basic abc", "bearer abc"]) {
      expect(gate.allows(header)).toBe(false)
    }
  })

  it("loopback means 127.0.0.0/8, ::1 and localhost only", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"].every(Access.isLoopback)).toBe(true)
    expect(["0.0.0.0", "::", "192.168.1.2", "example.com", "10.0.0.1"].some(Access.isLoopback)).toBe(false)
  })

  it("settings from routing.yaml: the token comes from the named variable, else LOCAL_ROUTER_TOKEN", () => {
    const server = { ...RoutingConfig.defaultServer, host: "0.0.0.0", tokenEnv: "GW_TOKEN", origins: ["http://app.local"] }
    const missing = Gateway.settingsFromConfig(server, {})
    expect(Result.isFailure(missing) && missing.failure.reason).toBe("TokenMissing")
    const fromFile = Result.getOrThrow(Gateway.settingsFromConfig(server, { GW_TOKEN: "t1", LOCAL_ROUTER_TOKEN: "t2" }))
    expect(fromFile.token && Redacted.value(fromFile.token)).toBe("t1")
    expect(fromFile.origins).toEqual(["http://app.local"])
    const fromEnv = Result.getOrThrow(Gateway.settingsFromConfig(RoutingConfig.defaultServer, { LOCAL_ROUTER_TOKEN: "t2" }))
    expect(fromEnv.token && Redacted.value(fromEnv.token)).toBe("t2")
    expect(fromEnv).toMatchObject({ host: "127.0.0.1", port: 4141, origins: [] })
  })

  it("a loopback gateway without a token refuses a foreign Host header (DNS rebinding)", async () => {
    running = await start()
    const { port } = running.gateway.address
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path: "/health", headers: { host }, agent: false }, (res) => {
          res.resume()
          resolve(res.statusCode!)
        }).on("error", reject)
      })
    expect(await status("evil.example.com")).toBe(403)
    expect(await status(`localhost:${port}`)).toBe(200)
    expect(await status(`127.0.0.1:${port}`)).toBe(200)
  })
})

describe("as a layer", () => {
  it("Gateway.layer listens while the layer is in use and says where", async () => {
    const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))
    const snapshot = Effect.succeed<Router.Snapshot>({ version: 1, config, backends: new Map() })
    const health = await Effect.runPromise(Effect.gen(function*() {
      const router = yield* Router.make(snapshot)
      const useIt = Effect.flatMap(Gateway.Gateway, (gateway) => Effect.promise(() => fetch(`${gateway.url}/health`).then((r) => r.status)))
      return yield* Effect.provide(useIt, Gateway.layer({ port: 0, router, routing: { snapshot } }))
    }))
    // It answered: listening. No backend is loaded in this snapshot, so no category can be answered.
    expect(health).toBe(503)
  })
})

describe("what the gateway refuses", () => {
  it("a body over the limit is 413, before the router sees it", async () => {
    running = await start({}, { maxBodyBytes: 1024 })
    const response = await post(running, "/v1/chat/completions", { ...chat, pad: "x".repeat(2000) })
    expect(response.status).toBe(413)
    expect((await json(response)).error.code).toBe("request_too_large")
    expect(running.scripted.mlx.requests).toHaveLength(0)
  })

  it("a body that grows past the limit while streaming in (no Content-Length) is 413 too", async () => {
    running = await start({}, { maxBodyBytes: 1024 })
    const { port } = running.gateway.address
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path: "/api/chat", method: "POST", agent: false }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on("error", reject)
      req.write("x".repeat(800))
      req.end("y".repeat(800))
    })
    expect(status).toBe(413)
  })

  it("broken JSON is a 400 in the caller's dialect, with no stack trace", async () => {
    running = await start()
    const openai = await post(running, "/v1/chat/completions", "{nope")
    expect(openai.status).toBe(400)
    const body = await json(openai)
    expect(body.error).toMatchObject({ type: "invalid_request_error" })
    expect(body.error.message).toMatch(/not valid JSON/)
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/)
    const ollama = await post(running, "/api/chat", "{nope")
    expect(ollama.status).toBe(400)
    expect(Object.keys(await json(ollama))).toEqual(["error"])
  })

  it("a request without a prompt is a 400 that names what is missing", async () => {
    running = await start()
    const response = await post(running, "/v1/chat/completions", { model: "fast", messages: [] })
    expect(response.status).toBe(400)
    expect((await json(response)).error.message).toMatch(/messages must be a non-empty array/)
  })

  it("unknown routes and wrong methods answer like each API does", async () => {
    running = await start()
    const ollama404 = await fetch(`${running.url}/api/nothing`)
    expect([ollama404.status, await ollama404.text()]).toEqual([404, "404 page not found"])
    const ollama405 = await fetch(`${running.url}/api/chat`)
    expect([ollama405.status, await ollama405.text()]).toEqual([405, "405 method not allowed"])
    const openai404 = await fetch(`${running.url}/v1/audio/speech`, { method: "POST" })
    expect(openai404.status).toBe(404)
    expect((await json(openai404)).error.type).toBe("invalid_request_error")
  })

  it("browser origins: this machine's pages and configured origins get CORS, any other origin is refused before any work", async () => {
    running = await start()
    const local = await post(running, "/v1/chat/completions", chat, { origin: "http://localhost:3000" })
    expect(local.status).toBe(200)
    expect(local.headers.get("access-control-allow-origin")).toBe("http://localhost:3000")
    expect(local.headers.get("access-control-expose-headers")).toMatch(/x-local-router-backend/)
    const before = running.scripted.mlx.requests.length
    // A page on another site: a "simple" text/plain POST, which a browser sends without a preflight.
    const foreign = await fetch(`${running.url}/v1/chat/completions`, {
      method: "POST",
      headers: { origin: "http://app.local", "content-type": "text/plain" },
      body: JSON.stringify(chat)
    })
    expect(foreign.status).toBe(403)
    expect((await json(foreign)).error.message).toMatch(/http:\/\/app\.local.*server\.origins/)
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull()
    for (const origin of ["null", "http://localhost.evil.example", "https://evil.example", "http://127.0.0.1.evil.example:80"]) {
      const refused = await post(running, "/api/chat", { ...chat, stream: false }, { origin })
      expect([origin, refused.status]).toEqual([origin, 403])
    }
    const preflightRefused = await fetch(`${running.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: "http://app.local", "access-control-request-method": "POST" }
    })
    expect(preflightRefused.status).toBe(403)
    expect(preflightRefused.headers.get("access-control-allow-origin")).toBeNull()
    expect(running.scripted.mlx.requests.length).toBe(before)
    await running.close()

    running = await start({}, { origins: ["http://app.local"] })
    const preflight = await fetch(`${running.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: "http://app.local", "access-control-request-method": "POST", "access-control-request-headers": "content-type" }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://app.local")
    expect(preflight.headers.get("access-control-allow-methods")).toMatch(/POST/)
    const allowed = await post(running, "/v1/chat/completions", chat, { origin: "http://app.local" })
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://app.local")
    expect((await fetch(`${running.url}/health`, { headers: { origin: "http://evil.example" } })).status).toBe(403)
  })

  it("origin patterns: exact, a * port (digits only), a * host part, and * for any", () => {
    const allows = Access.origins([...Access.defaultOrigins, "https://*.example.com", "chrome-extension://abc"])
    const table: ReadonlyArray<readonly [string, boolean]> = [
      ["http://localhost:3000", true],
      ["http://LOCALHOST:3000", true],
      ["http://127.0.0.1:8080", true],
      ["http://[::1]:5173", true],
      ["https://localhost", true],
      ["app://obsidian.md", true],
      ["file://", true],
      ["tauri://localhost", true],
      ["vscode-webview://1a2b", true],
      ["https://chat.example.com", true],
      ["chrome-extension://abc", true],
      ["chrome-extension://other", false],
      ["https://example.com.evil.net", false],
      ["http://localhost:3000.evil.net", false],
      ["http://localhost.evil.net", false],
      ["http://127.0.0.2:80", false],
      ["null", false],
      ["http://localhost:1, https://evil.example", false],
      ["", false]
    ]
    expect(table.map(([origin]) => [origin, allows(origin)])).toEqual(table)
    expect(Access.origins(["*"])("https://anything.example")).toBe(true)
  })

  it("JSON routes take only JSON bodies: a form post or text/plain is 415, in the route's dialect", async () => {
    running = await start()
    const body = JSON.stringify(chat)
    for (const [path, type] of [["/v1/chat/completions", "text/plain"], ["/api/chat", "application/x-www-form-urlencoded"], ["/api/generate", "multipart/form-data; boundary=x"]] as const) {
      const response = await fetch(`${running.url}${path}`, { method: "POST", headers: { "content-type": type }, body })
      expect([path, response.status]).toEqual([path, 415])
      const error = (await json(response)).error
      expect(typeof error === "string" ? error : error.message).toMatch(/application\/json/)
    }
    expect((await post(running, "/v1/chat/completions", chat, { "content-type": "application/json; charset=utf-8" })).status).toBe(200)
    const untyped = await fetch(`${running.url}/api/chat`, { method: "POST", body: new Blob([JSON.stringify({ ...chat, stream: false })]) })
    expect(untyped.status).toBe(200)
    expect(running.scripted.mlx.requests.length).toBe(2)
  })

  it("GET /v1/models/% and other bad percent-encoding are a 400 that says so, and the gateway keeps serving", async () => {
    running = await start()
    for (const id of ["%", "%E0%A4%A", "%ZZ", "abc%"]) {
      const response = await fetch(`${running.url}/v1/models/${id}`)
      expect([id, response.status]).toEqual([id, 400])
      expect((await json(response)).error.message).toMatch(/percent-encoding/)
    }
    expect((await fetch(`${running.url}/v1/models/ollama%2Fphi3.5%3A3.8b`)).status).toBe(200)
    expect((await fetch(`${running.url}/health`)).status).toBe(200)
  })

  it("a 405 says which methods the path takes; OPTIONS answers them", async () => {
    running = await start()
    const wrong = await fetch(`${running.url}/v1/chat/completions`, { method: "DELETE" })
    expect([wrong.status, wrong.headers.get("allow")]).toEqual([405, "POST, OPTIONS"])
    const options = await fetch(`${running.url}/api/tags`, { method: "OPTIONS" })
    expect([options.status, options.headers.get("allow")]).toEqual([204, "GET, HEAD, OPTIONS"])
  })

  it("HEAD of the status page's event stream answers its headers at once (the stream itself never ends)", async () => {
    running = await start()
    const head = await fetch(`${running.url}/status/events`, { method: "HEAD", signal: AbortSignal.timeout(5_000) })
    expect([head.status, head.headers.get("content-type")]).toEqual([200, "text/event-stream"])
    expect(await head.text()).toBe("")
  })
})

describe("native endpoints", () => {
  it("/health answers ok while every category has a backend to try, degraded (200) naming those that have none", async () => {
    running = await start()
    const response = await fetch(`${running.url}/health`)
    expect(response.status).toBe(200)
    expect(await json(response)).toEqual({ status: "ok", unavailable: [], categories: 3 })
    await running.close()
    // The supervisor's view: mlx is not installed and cloud's server failed, so `code` has no backend left.
    running = await start({}, { status: Effect.succeed({ servers: [{ name: "mlx", phase: "not-installed" }, { name: "cloud", phase: "failed" }] }) })
    const degraded = await fetch(`${running.url}/health`)
    expect(degraded.status).toBe(200)
    expect(await json(degraded)).toEqual({
      status: "degraded",
      unavailable: [{ category: "code", why: "mlx: server not-installed; cloud: server failed" }],
      categories: 3
    })
  })

  it("/status shows the router's config, backends and circuits, and the supervisor's state when plugged in", async () => {
    running = await start({}, { status: Effect.succeed({ servers: { ollama: "ready" } }) })
    const status = await json(await fetch(`${running.url}/status`))
    expect(status.router).toMatchObject({ configVersion: 1, categories: ["fast", "code", "vision"], lastError: null })
    expect(status.router.backends.mlx).toMatchObject({ type: "scripted", enabled: true, loaded: true, circuit: "closed" })
    expect(status.supervisor).toEqual({ servers: { ollama: "ready" } })
  })

  it("/metrics counts requests, attempts by backend and outcome, fallbacks, latency and breaker states", async () => {
    running = await start({ mlx: [{ fail: "Unreachable" }] })
    await post(running, "/v1/chat/completions", chat)
    await post(running, "/api/chat", { ...chat, stream: true }).then((r) => r.text())
    const response = await fetch(`${running.url}/metrics`)
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/)
    const text = await response.text()
    expect(text).toContain(`local_router_requests_total{endpoint="openai_chat",status="200"} 1`)
    expect(text).toContain(`local_router_requests_total{endpoint="ollama_chat",status="200"} 1`)
    expect(text).toContain(`local_router_attempts_total{backend="mlx",outcome="failed",reason="Unreachable"} 2`)
    expect(text).toContain(`local_router_attempts_total{backend="ollama",outcome="answered",reason=""} 2`)
    expect(text).toContain(`local_router_fallbacks_total{from="mlx",reason="Unreachable"} 2`)
    expect(text).toMatch(/local_router_gateway_overhead_seconds_count 2/)
    expect(text).toMatch(/local_router_time_to_first_token_seconds_count\{backend="ollama"\} 1/)
    expect(text).toContain(`local_router_breaker_state{backend="mlx",state="closed"} 1`)
  })
})

describe("a caller that goes away", () => {
  it("non-streaming: closing the connection while the backend works aborts the upstream request", async () => {
    // Still "loading" when the caller leaves: no headers, no token yet.
    running = await start({ mlx: [{ startDelayMs: 10_000 }] })
    const r = running
    const controller = new AbortController()
    const request = fetch(`${r.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chat),
      signal: controller.signal
    })
      .catch((e: Error) => e.name)
    await eventually(() => r.scripted.mlx.requests.length === 1)
    controller.abort()
    expect(await request).toBe("AbortError")
    expect(await eventually(() => r.scripted.mlx.abandoned() === 1)).toBeLessThan(200)
  })

  it("streaming: leaving after the first tokens aborts the upstream request; the frames written carried the CORS headers", async () => {
    running = await start({ mlx: [{ tokens: Array.from({ length: 50 }, (_, i) => `t${i} `), tokenDelayMs: 20 }] }, { origins: ["http://app.local"] })
    const r = running
    const controller = new AbortController()
    const response = await fetch(`${r.url}/v1/chat/completions`, {
      method: "POST",
      headers: { origin: "http://app.local", "content-type": "application/json" },
      body: JSON.stringify({ ...chat, stream: true }),
      signal: controller.signal
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("access-control-allow-origin")).toBe("http://app.local")
    expect(response.headers.get("x-local-router-backend")).toBe("mlx")
    const reader = response.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first).toMatch(/"content":"t0 "/)
    controller.abort()
    expect(await eventually(() => r.scripted.mlx.abandoned() === 1)).toBeLessThan(200)
  })
})

describe("a slow client", () => {
  it("each wait for its socket to drain leaves no listener behind, however many a long answer needs", async () => {
    const res = new EventEmitter()
    for (let i = 0; i < 20; i++) {
      const waited = Effect.runPromise(Exchange.drain(res as unknown as http.ServerResponse))
      await eventually(() => res.listenerCount("drain") === 1)
      res.emit("drain")
      await waited
    }
    expect(res.listenerCount("drain") + res.listenerCount("close")).toBe(0)
  })
})
