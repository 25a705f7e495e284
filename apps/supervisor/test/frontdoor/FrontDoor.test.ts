/**
 * The front door of a real `local-router serve` (started as the service starts it, an Ollama
 * simulator supervised behind it), attacked from outside over raw sockets:
 * - the URL that used to end the process is a named regression test;
 * - thousands of generated hostile requests (seeded, shrunk on failure): every one gets a
 *   status or a clean close, the process never exits, its JavaScript heap stays put, and a real routed
 *   request still answers afterwards;
 * - the connection limits hold against slow and greedy clients, and a long answer is not cut
 *   by the request timeout.
 */
import * as fc from "fast-check"
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as HttpFuzz from "./HttpFuzz.ts"
import * as RealServe from "./RealServe.ts"

const SEED = Number(process.env.FUZZ_SEED ?? 20261206)
const RUNS = Number(process.env.FUZZ_RUNS ?? 5_000)

let serve: RealServe.RealServe

beforeAll(async () => {
  serve = await RealServe.start()
}, 60_000)
afterAll(async () => {
  await serve?.stop()
})

/** serve's own account of its JavaScript heap in use, in MiB (/status). */
const heapUsed = async (url: string): Promise<number> =>
  ((await (await fetch(`${url}/status`)).json()) as { gateway: { memory: { heapUsed: number } } }).gateway.memory.heapUsed

const chat = (url: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "still there?" }] })
  })

describe("the front door of a real serve", () => {
  it("regression: GET /v1/models/% (and %E0%A4%A) is a 400 that names the bad percent-encoding; serve stays up", async () => {
    for (const id of ["%", "%E0%A4%A"]) {
      const reply = await HttpFuzz.exchange(serve.port, { bytes: Buffer.from(`GET /v1/models/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`), halfClose: false }, 5_000)
      expect(reply).toEqual({ status: 400, end: "response" })
      const response = await fetch(`${serve.url}/v1/models/${id}`)
      expect((await response.json() as { error: { message: string } }).error.message).toMatch(/bad percent-encoding/)
    }
    expect(serve.alive()).toBe(true)
    expect((await chat(serve.url)).status).toBe(200)
  })

  it(`${RUNS} generated hostile requests over raw sockets: each gets a status or a clean close, serve never exits, memory holds`, async () => {
    // Warm up first so the baseline includes what any request path loads once (vision, pdf.js),
    // and measure both sides the same way: serve quiet for a minute.
    // A real PDF and image, then 2,000 requests of the same mix (as bench/fuzz warms up with a
    // tenth of its run): the code pages and allocator arenas this load touches once.
    await HttpFuzz.warmUp(serve.port)
    for (const raw of HttpFuzz.sample(serve.port, SEED + 1, 2_000)) await HttpFuzz.exchange(serve.port, raw, 15_000)
    const before = await serve.settledRss(0, 0)
    const heapBefore = await heapUsed(serve.url)
    const ends = new Map<string, number>()
    const statuses = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(HttpFuzz.request(serve.port), async (raw) => {
        const reply = await HttpFuzz.exchange(serve.port, raw, 15_000)
        ends.set(reply.end, (ends.get(reply.end) ?? 0) + 1)
        const status = String(reply.status ?? "none")
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        if (reply.end === "timeout") throw new Error(`no status and no close within 15 s for ${JSON.stringify(raw.bytes.subarray(0, 300).toString("latin1"))}`)
        if (!serve.alive()) throw new Error(`serve exited:\n${serve.output().slice(-3_000)}`)
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: false }
    )
    const burst = serve.rss()
    const after = await serve.settledRss(before + 10 * 2 ** 20, 60_000)
    const heapAfter = await heapUsed(serve.url)
    const mib = (n: number) => (n / 2 ** 20).toFixed(1)
    console.log(
      `front-door fuzz: ${RUNS} requests, ends ${JSON.stringify(Object.fromEntries(ends))}, statuses ${JSON.stringify(Object.fromEntries(statuses))}, ` +
        `RSS ${mib(before)} MiB before, ${mib(burst)} right after, ${mib(after)} settled; JS heap used ${heapBefore} -> ${heapAfter} MiB`
    )
    expect(serve.alive()).toBe(true)
    // Leaks show in serve's JavaScript heap; its resident size also moves with the allocator and
    // the pages this load touched, which under the whole suite's parallel load varied by 15 MB
    // between runs. bench/fuzz checks resident memory at 100,000 requests on a quiet machine.
    expect(heapAfter - heapBefore).toBeLessThan(10)
    const routed = await chat(serve.url)
    expect(routed.status).toBe(200)
    expect(routed.headers.get("x-local-router-backend")).toBe("ollama")
    expect(serve.output()).not.toMatch(/caught an uncaught exception|caught an unhandled promise rejection/)
  }, 300_000)
})

/** Open a raw connection; resolves once connected. */
const open = (port: number): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket))
    socket.once("error", reject)
  })

/** Resolves with what the server sent once it closes the connection (or after `ms`, marked). */
const closed = (socket: net.Socket, ms: number): Promise<{ readonly data: string; readonly closedAfterMs: number | undefined }> =>
  new Promise((resolve) => {
    const t0 = performance.now()
    let data = ""
    socket.on("data", (d) => (data += d.toString("latin1")))
    socket.on("error", () => {})
    const timer = setTimeout(() => resolve({ data, closedAfterMs: undefined }), ms)
    socket.on("close", () => {
      clearTimeout(timer)
      resolve({ data, closedAfterMs: performance.now() - t0 })
    })
  })

describe("connection limits of a real serve", () => {
  let limited: RealServe.RealServe
  beforeAll(async () => {
    // The same limits as the defaults, only shorter and smaller so the test runs in seconds.
    limited = await RealServe.start({ server: { limits: { headersTimeout: "2s", requestTimeout: "3s", maxConnectionsPerClient: 20 } } })
  }, 60_000)
  afterAll(async () => {
    await limited?.stop()
  })

  it("slow-loris clients (headers a byte at a time, a body that never ends) are cut at the timeouts; a greedy client gets 503 past its share; serve keeps answering", async () => {
    const slow = await Promise.all(Array.from({ length: 10 }, () => open(limited.port)))
    const slowEnds = slow.map((s) => closed(s, 8_000))
    const trickle = setInterval(() => slow.forEach((s) => s.write("X")), 200)
    slow.forEach((s) => s.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "))
    const uploads = await Promise.all(Array.from({ length: 5 }, () => open(limited.port)))
    const uploadEnds = uploads.map((s) => closed(s, 8_000))
    uploads.forEach((s) => s.write("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"))
    const drip = setInterval(() => uploads.forEach((s) => s.write(" ")), 200)
    // 15 connections held: the 21st is over the share of 20.
    const more = await Promise.all(Array.from({ length: 6 }, () => open(limited.port)))
    const moreEnds = more.map((s) => closed(s, 8_000))
    const refused = (await Promise.all(moreEnds.slice(5)))[0]!
    expect(refused.data).toMatch(/^HTTP\/1\.1 503 .*too many open connections/s)
    more.slice(0, 5).forEach((s) => s.destroy())
    // While the slow clients hold their connections, a normal request is still answered.
    expect((await fetch(`${limited.url}/health`)).status).toBe(200)
    const slowResults = await Promise.all(slowEnds)
    const uploadResults = await Promise.all(uploadEnds)
    clearInterval(trickle)
    clearInterval(drip)
    for (const r of slowResults) {
      expect(r.closedAfterMs).toBeDefined()
      expect(r.closedAfterMs!).toBeLessThan(2_000 + 1_500)
      expect(r.data).toMatch(/^HTTP\/1\.1 408/)
    }
    for (const r of uploadResults) {
      expect(r.closedAfterMs).toBeDefined()
      expect(r.closedAfterMs!).toBeLessThan(3_000 + 1_500)
    }
    expect(limited.alive()).toBe(true)
    expect((await chat(limited.url)).status).toBe(200)
  }, 30_000)

  it("headers over 16 KiB are refused with 431; the request timeout never cuts an answer that takes longer", async () => {
    const big = await fetch(`${limited.url}/health`, { headers: { "x-big": "v".repeat(17 * 1024) } })
    expect(big.status).toBe(431)
    // A streamed answer slower than the 3 s request timeout: 40 tokens, 100 ms apart, via the simulator.
    const fault = await fetch(`${limited.simulator}/__sim/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ kind: "slowTokens", ms: 100, route: "/api/chat" }])
    })
    expect(fault.status).toBe(200)
    const t0 = performance.now()
    const response = await fetch(`${limited.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "[[tokens:40]] go" }] })
    })
    expect(response.status).toBe(200)
    const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l) as { done: boolean; error?: string })
    expect(lines.at(-1)).toMatchObject({ done: true })
    expect(lines.some((l) => l.error)).toBe(false)
    expect(performance.now() - t0).toBeGreaterThan(3_000)
  }, 30_000)
})
