/**
 * Wire details of HttpCall against a small real HTTP server (status mapping, headers, abort).
 * Protocol behaviour of real model servers is tested in the backend packages against the
 * simulators.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Events, HttpCall } from "../src/index.ts"

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** A server on an OS-assigned port, closed with the test's scope. */
const serve = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.callback<http.Server>((resume) => {
      const server = http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

const answer = (status: number, body: string, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(body)
}

const secret = Redacted.make("sk-test-THE-SECRET-123")

const failWith = (handler: Handler, model: string | undefined) =>
  Effect.gen(function*() {
    const url = yield* serve(handler)
    return yield* Effect.flip(
      HttpCall.send({
        backend: "cloud",
        ...(model === undefined ? {} : { model }),
        url: `${url}/v1/chat/completions`,
        headers: { authorization: Redacted.make(`Bearer ${Redacted.value(secret)}`) },
        body: { hello: 1 }
      })
    )
  })

describe("HttpCall.send", () => {
  it.effect("sends JSON with Content-Length and unwraps Redacted headers only on the wire", () =>
    Effect.gen(function*() {
      let seen: { headers: http.IncomingHttpHeaders; body: string } | undefined
      const url = yield* serve((req, res) => {
        let body = ""
        req.on("data", (c) => (body += c))
        req.on("end", () => {
          seen = { headers: req.headers, body }
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{\"ok\":true}")
        })
      })
      const json = yield* HttpCall.json({ backend: "mlx", url, headers: { "x-api-key": secret }, body: { a: "é" } })
      expect(json).toEqual({ ok: true })
      expect(seen?.headers["content-length"]).toBe(String(Buffer.byteLength("{\"a\":\"é\"}")))
      expect(seen?.headers["content-type"]).toBe("application/json")
      expect(seen?.headers["x-api-key"]).toBe(Redacted.value(secret))
      expect(seen?.body).toBe("{\"a\":\"é\"}")
    }))

  it.effect("connection refused is Unreachable", () =>
    Effect.gen(function*() {
      // Bind then close to get a port that nothing listens on.
      const url = yield* Effect.scoped(serve(answer(200, "{}")))
      const error = yield* Effect.flip(HttpCall.send({ backend: "mlx", url }))
      expect(error.reason).toBe("Unreachable")
      expect(error.backend).toBe("mlx")
      expect(error.message).toContain("ECONNREFUSED")
    }))

  it.effect("a connection dropped without a status line is Unreachable (mlx_lm on a bad parameter)", () =>
    Effect.gen(function*() {
      const error = yield* failWith((req) => req.socket.destroy(), "m1")
      expect(error.reason).toBe("Unreachable")
    }))

  it.effect("401 and 403 are Auth, quoting the server and never the key it echoed", () =>
    Effect.gen(function*() {
      const echo = JSON.stringify({ error: { message: `Incorrect API key provided: ${Redacted.value(secret)}`, type: "invalid_request_error", code: "invalid_api_key" } })
      for (const status of [401, 403]) {
        const error = yield* failWith(answer(status, echo), "m1")
        expect(error.reason).toBe("Auth")
        expect(error.status).toBe(status)
        expect(error.message).toContain("Incorrect API key provided")
        expect(error.message).toContain("invalid_api_key")
        expect(JSON.stringify(error) + error.message).not.toContain(Redacted.value(secret))
      }
    }))

  it.effect("429 with Retry-After seconds is Overloaded with retryAfterMs", () =>
    Effect.gen(function*() {
      const error = yield* failWith(answer(429, "{\"error\":{\"message\":\"Rate limit reached\",\"code\":\"rate_limit_exceeded\"}}", { "retry-after": "7" }), "m1")
      expect(error.reason).toBe("Overloaded")
      expect(error.retryAfterMs).toBe(7000)
      expect(error.message).toContain("Rate limit reached")
    }))

  it.effect("retry-after-ms wins over retry-after", () =>
    Effect.gen(function*() {
      const error = yield* failWith(answer(429, "{}", { "retry-after": "7", "retry-after-ms": "1250" }), "m1")
      expect(error.retryAfterMs).toBe(1250)
    }))

  it.effect("429 insufficient_quota is Auth (billing: waiting will not help)", () =>
    Effect.gen(function*() {
      const error = yield* failWith(answer(429, "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}"), "m1")
      expect(error.reason).toBe("Auth")
    }))

  it.effect("503 and Anthropic's 529 are Overloaded; Ollama's \"server busy\" text too", () =>
    Effect.gen(function*() {
      const e529 = yield* failWith(answer(529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"), "m1")
      expect(e529.reason).toBe("Overloaded")
      expect(e529.message).toContain("Overloaded (overloaded_error)")
      const e503 = yield* failWith(answer(503, "{\"error\":\"server busy, please try again.  maximum pending requests exceeded\"}", { "retry-after": "2" }), "m1")
      expect(e503.reason).toBe("Overloaded")
      expect(e503.retryAfterMs).toBe(2000)
      const queue = yield* failWith(answer(500, "{\"error\":\"Queue is full\",\"status\":\"rejected\"}"), "m1")
      expect(queue.reason).toBe("Overloaded")
    }))

  it.effect("400, 413 and 422 are BadRequest; FastAPI's detail is quoted", () =>
    Effect.gen(function*() {
      for (const status of [400, 413, 422]) {
        const error = yield* failWith(answer(status, "{\"detail\":\"messages: field required\"}"), "m1")
        expect(error.reason).toBe("BadRequest")
        expect(error.message).toContain("messages: field required")
      }
    }))

  it.effect("404 for a model is ModelMissing; a 404 `Not Found` page without a model is Upstream", () =>
    Effect.gen(function*() {
      const missing = yield* failWith(answer(404, "{\"error\":\"Repository Not Found for url: https://huggingface.co/nope\"}"), "m1")
      expect(missing.reason).toBe("ModelMissing")
      expect(missing.model).toBe("m1")
      expect(missing.message).toContain("Repository Not Found")
      const route = yield* failWith(answer(404, "Not Found"), undefined)
      expect(route.reason).toBe("Upstream")
    }))

  it.effect("other 5xx are Upstream; long error text is truncated", () =>
    Effect.gen(function*() {
      const error = yield* failWith(answer(500, `{"error":"${"x".repeat(5000)}"}`), "m1")
      expect(error.reason).toBe("Upstream")
      expect(error.status).toBe(500)
      expect(error.message.length).toBeLessThan(HttpCall.maxErrorText + 100)
    }))

  it.effect("interrupting the call before headers aborts the request: the server sees the connection close", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const url = yield* serve((req) => {
        Deferred.doneUnsafe(arrived, Effect.void)
        req.socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
      })
      const fiber = yield* Effect.forkChild(HttpCall.send({ backend: "mlx", url, body: {} }))
      yield* Deferred.await(arrived)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed).pipe(Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail("the server never saw the close") }))
    }))
})

describe("HttpCall redirects (local http: servers)", () => {
  /** Records what reached each path; `/old` redirects with `status`, `/new` echoes the request. */
  const redirecting = (status: number, location = "/new") => {
    const seen: Array<{ path: string; method: string; body: string }> = []
    const handler: Handler = (req, res) => {
      let body = ""
      req.on("data", (d: Buffer) => (body += d.toString()))
      req.on("end", () => {
        seen.push({ path: req.url ?? "", method: req.method ?? "", body })
        if (req.url === "/old") {
          res.writeHead(status, { location })
          res.end()
        } else answer(200, JSON.stringify({ method: req.method, body }))(req, res)
      })
    }
    return { seen, handler }
  }

  it.effect("a 307 is followed with the same method and body; a 302 after a POST becomes a GET without one", () =>
    Effect.gen(function*() {
      for (const [status, method, body] of [[307, "POST", "{\"hello\":1}"], [302, "GET", ""]] as const) {
        const { handler, seen } = redirecting(status)
        const url = yield* serve(handler)
        const json = yield* HttpCall.json({ backend: "mlx", method: "POST", url: `${url}/old`, body: { hello: 1 } })
        expect(json).toEqual({ method, body })
        expect(seen.map((s) => s.path)).toEqual(["/old", "/new"])
      }
    }))

  it.effect("a redirect to https: is an error that names where it points", () =>
    Effect.gen(function*() {
      const { handler } = redirecting(301, "https://example.invalid/v1")
      const url = yield* serve(handler)
      const error = yield* Effect.flip(HttpCall.send({ backend: "mlx", url: `${url}/old` }))
      expect(error.reason).toBe("Unreachable")
      expect(error.message).toContain("https://example.invalid")
    }))

  it.effect("a streamed answer (events) follows redirects and maps statuses as send does", () =>
    Effect.gen(function*() {
      const { handler } = redirecting(308)
      const url = yield* serve(handler)
      const reader = (): HttpCall.Reader<string> => {
        const parts: Array<string> = []
        return { events: ["start"], read: (bytes) => bytes ? (parts.push(bytes.toString()), { events: [] }) : { events: [parts.join("")], done: true } }
      }
      const got = yield* Events.stream(HttpCall.events({ backend: "mlx", method: "POST", url: `${url}/old`, body: { hello: 1 } }, reader)).pipe(Stream.runCollect)
      expect(got).toEqual(["start", JSON.stringify({ method: "POST", body: "{\"hello\":1}" })])
      const missing = yield* serve(answer(404, "{\"error\":\"model 'm1' not found\"}"))
      const error = yield* Events.stream(HttpCall.events({ backend: "mlx", model: "m1", method: "POST", url: missing, body: {} }, reader)).pipe(Stream.runDrain, Effect.flip)
      expect(error.reason).toBe("ModelMissing")
    }))
})

describe("HttpCall.events", () => {
  /** Lines until "end": the events a reader makes of them, Start first. */
  const lines = (): HttpCall.Reader<string> => ({
    events: ["start"],
    read: (bytes) => {
      const got = (bytes?.toString() ?? "").split("\n").filter((line) => line.length > 0)
      return got.includes("end") ? { events: got.slice(0, got.indexOf("end")), done: true } : { events: got }
    }
  })

  it.effect("an answer read to its end marker keeps the connection for the next; one closed mid-answer is cut at once", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      let connections = 0
      const server = yield* Effect.acquireRelease(
        Effect.callback<http.Server>((resume) => {
          const created = http.createServer((req, res) => {
            res.writeHead(200, { "content-type": "text/plain" })
            if (req.url !== "/endless") return void res.end("a\nb\nend\n")
            req.socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
            const timer = setInterval(() => res.write("tick\n"), 10)
            res.on("close", () => clearInterval(timer))
          })
          created.on("connection", () => connections++)
          created.listen(0, "127.0.0.1", () => resume(Effect.succeed(created)))
        }),
        (created) => Effect.callback<void>((resume) => {
          created.closeAllConnections()
          created.close(() => resume(Effect.void))
        })
      )
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const twice = yield* Effect.forEach([1, 2], () => Stream.runCollect(Events.stream(HttpCall.events({ backend: "t", url: `${url}/answer` }, lines))))
      expect(twice).toEqual([["start", "a", "b"], ["start", "a", "b"]])
      expect(connections).toBe(1)
      const first = yield* Stream.runCollect(Stream.take(Events.stream(HttpCall.events({ backend: "t", url: `${url}/endless` }, lines)), 2))
      expect(first).toEqual(["start", "tick"])
      yield* Deferred.await(closed).pipe(Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail("the server never saw the close") }))
    }))
})

describe("HttpCall.body", () => {
  it.effect("a connection broken mid-body is StreamCut, after the bytes that did arrive", () =>
    Effect.gen(function*() {
      const url = yield* serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write("data: one\n\n")
        setTimeout(() => res.socket?.destroy(), 50)
      })
      const call = { backend: "mlx", model: "m1", url }
      const response = yield* HttpCall.send(call)
      const got: Array<string> = []
      const error = yield* HttpCall.body(call, response).pipe(
        Stream.runForEach((bytes) => Effect.sync(() => got.push(new TextDecoder().decode(bytes)))),
        Effect.flip
      )
      expect(got.join("")).toBe("data: one\n\n")
      expect(error.reason).toBe("StreamCut")
      expect(error.model).toBe("m1")
    }))

  it.effect("closing the body stream early closes the connection", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      const url = yield* serve((req, res) => {
        req.socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
        res.writeHead(200, { "content-type": "text/event-stream" })
        const timer = setInterval(() => res.write("data: tick\n\n"), 10)
        res.on("close", () => clearInterval(timer))
      })
      const call = { backend: "mlx", url }
      const response = yield* HttpCall.send(call)
      const first = yield* HttpCall.body(call, response).pipe(Stream.take(1), Stream.runCollect)
      expect(first.length).toBe(1)
      yield* Deferred.await(closed).pipe(Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail("the server never saw the close") }))
    }))
})

describe("HttpCall.retryAfterMs", () => {
  it("reads seconds, milliseconds and HTTP dates", () => {
    const now = Date.parse("2026-01-01T00:00:00Z")
    expect(HttpCall.retryAfterMs(new Headers({ "retry-after": "1.5" }), now)).toBe(1500)
    expect(HttpCall.retryAfterMs(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:30 GMT" }), now)).toBe(30_000)
    expect(HttpCall.retryAfterMs(new Headers({ "retry-after": "soon" }), now)).toBeUndefined()
    expect(HttpCall.retryAfterMs(new Headers(), now)).toBeUndefined()
  })
})
