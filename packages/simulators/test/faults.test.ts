/**
 * Every fault observed from the outside, the way a backend under test would meet it.
 */
import { Ollama } from "ollama"
import OpenAI, { NotFoundError } from "openai"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"

let ollama: Simulator.Running
let mlx: Simulator.Running
let client: Ollama

beforeAll(async () => {
  ;[ollama, mlx] = await Promise.all([Simulator.start("ollama"), Simulator.start("mlx")])
  client = new Ollama({ host: ollama.url })
})
afterEach(() => Promise.all([ollama.clearFaults(), mlx.clearFaults()]))
afterAll(() => Promise.all([ollama.stop(), mlx.stop()]))

const chatBody = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "phi3.5:3.8b", messages: [{ role: "user", content }], ...extra })

const ndjsonLines = (text: string) => text.split("\n").filter(Boolean)

describe("faults, observed by a client", () => {
  it("cutAfterTokens ends the stream after N tokens with no done object; the client sees a failure", async () => {
    await ollama.setFaults([{ kind: "cutAfterTokens", tokens: 2 }])
    const stream = await client.chat({ model: "phi3.5:3.8b", messages: [{ role: "user", content: "[[tokens:6]] cut" }], stream: true })
    const got: Array<string> = []
    const consume = async () => {
      for await (const c of stream) got.push(c.message.content)
    }
    await expect(consume()).rejects.toThrow()
    expect(got).toEqual(Answer.make({ prompt: "[[tokens:6]] cut" }).tokens.slice(0, 2))
  })

  it("cutAfterTokens on mlx closes the HTTP/1.0 body without [DONE]", async () => {
    await mlx.setFaults([{ kind: "cutAfterTokens", tokens: 1 }])
    const body = JSON.stringify({ messages: [{ role: "user", content: "[[tokens:5]] x" }], stream: true })
    // Close-delimited: to the client the cut looks like a normal end of body; only [DONE] is missing.
    const text = await (await fetch(`${mlx.url}/v1/chat/completions`, { method: "POST", body })).text()
    expect(text.startsWith(": keepalive")).toBe(true)
    expect(text.match(/^data: /gm)).toHaveLength(1)
    expect(text).not.toContain("[DONE]")
  })

  it("hangBeforeHeaders really withholds the headers (client deadline fires); with ms it only delays them", async () => {
    await ollama.setFaults([{ kind: "hangBeforeHeaders", route: "/api/chat" }])
    const started = performance.now()
    const err = await fetch(`${ollama.url}/api/chat`, { method: "POST", body: chatBody("x"), signal: AbortSignal.timeout(150) }).catch((e: unknown) => e)
    expect((err as Error).name).toBe("TimeoutError")
    expect(performance.now() - started).toBeGreaterThanOrEqual(140)
    // Other routes are unaffected by a route-scoped fault.
    expect((await fetch(`${ollama.url}/api/tags`)).status).toBe(200)

    await ollama.setFaults([{ kind: "hangBeforeHeaders", ms: 80 }])
    const t0 = performance.now()
    const res = await fetch(`${ollama.url}/api/version`)
    expect(res.status).toBe(200)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(75)
  })

  it("hangAfterTokens sends N tokens, then nothing until the client gives up", async () => {
    await ollama.setFaults([{ kind: "hangAfterTokens", tokens: 1 }])
    const ctrl = new AbortController()
    const res = await fetch(`${ollama.url}/api/chat`, { method: "POST", body: chatBody("[[tokens:4]] hang"), signal: ctrl.signal })
    const reader = res.body?.getReader()
    const first = await reader?.read()
    expect(ndjsonLines(Buffer.from(first?.value ?? new Uint8Array()).toString())).toHaveLength(1)
    const timer = setTimeout(() => ctrl.abort(), 120)
    await expect(reader?.read()).rejects.toThrow()
    clearTimeout(timer)
  })

  it("slowTokens spaces the tokens out", async () => {
    await ollama.setFaults([{ kind: "slowTokens", ms: 30 }])
    const t0 = performance.now()
    const text = await (await fetch(`${ollama.url}/api/chat`, { method: "POST", body: chatBody("[[tokens:4]] slow") })).text()
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115)
    expect(JSON.parse(ndjsonLines(text).at(-1) ?? "{}")).toMatchObject({ done: true, eval_count: 4 })
  })

  it("status renders each server's own error: Ollama 503 busy through the client, count-limited", async () => {
    await ollama.setFaults([{ kind: "status", status: 503, count: 1 }])
    const err = await client.list().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: "ResponseError", status_code: 503, error: "server busy, please try again.  maximum pending requests exceeded" })
    await expect(client.list()).resolves.toBeDefined()
  })

  it("errorBody puts an error line after the 200 headers; the client throws it mid-stream", async () => {
    await ollama.setFaults([{ kind: "errorBody", message: "llama runner process has terminated: signal: killed", afterTokens: 2 }])
    const stream = await client.chat({ model: "phi3.5:3.8b", messages: [{ role: "user", content: "x" }], stream: true })
    const consume = async () => {
      for await (const _ of stream) void _
    }
    await expect(consume()).rejects.toThrow("llama runner process has terminated: signal: killed")
  })

  it("malformedJson truncates a non-streamed body", async () => {
    await ollama.setFaults([{ kind: "malformedJson" }])
    const text = await (await fetch(`${ollama.url}/api/chat`, { method: "POST", body: chatBody("x", { stream: false }) })).text()
    expect(() => JSON.parse(text)).toThrow()
  })

  it("refuseModel answers as that server's model-not-found", async () => {
    await ollama.setFaults([{ kind: "refuseModel", model: "llava:7b" }])
    const err = await client.chat({ model: "llava:7b", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)
    expect(err).toMatchObject({ status_code: 404, error: 'model "llava:7b" not found, try pulling it first' })
    await expect(client.chat({ model: "phi3.5:3.8b", messages: [{ role: "user", content: "x" }] })).resolves.toBeDefined()
    await mlx.setFaults([{ kind: "refuseModel", model: "default_model" }])
    const mlxErr = await new OpenAI({ baseURL: `${mlx.url}/v1`, apiKey: "x", maxRetries: 0 }).chat.completions
      .create({ model: "default_model", messages: [{ role: "user", content: "x" }] })
      .catch((e: unknown) => e)
    expect(mlxErr).toBeInstanceOf(NotFoundError)
  })

  it("dropConnection closes the socket without any response", async () => {
    await ollama.setFaults([{ kind: "dropConnection", count: 1 }])
    await expect(fetch(`${ollama.url}/api/tags`)).rejects.toThrow()
  })

  it("the control routes read, replace, validate and clear the fault set; requests are recorded", async () => {
    await ollama.setFaults([{ kind: "slowTokens", ms: 5, model: "moondream" }])
    expect(await ollama.faults()).toEqual([{ kind: "slowTokens", ms: 5, model: "moondream" }])
    const bad = await fetch(`${ollama.url}/__sim/faults`, { method: "POST", body: JSON.stringify([{ kind: "explode" }]) })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: expect.stringContaining("unknown fault kind") })
    await ollama.clearFaults()
    expect(await ollama.faults()).toEqual([])
    await ollama.clearRequests()
    await fetch(`${ollama.url}/api/chat`, { method: "POST", headers: { authorization: "Bearer secret" }, body: chatBody("logged", { stream: false }) })
    const [req] = await ollama.requests()
    expect(req).toMatchObject({ method: "POST", path: "/api/chat", body: { model: "phi3.5:3.8b" } })
    expect(req?.headers["authorization"]).toBeUndefined()
  })
})

describe("process faults", () => {
  it("crashAfter (set at run time) exits the process after N more requests", async () => {
    const sim = await Simulator.start("ollama")
    try {
      expect((await fetch(`${sim.url}/`)).status).toBe(200)
      await sim.setFaults([{ kind: "crashAfter", requests: 2 }])
      expect((await fetch(`${sim.url}/`)).status).toBe(200)
      expect((await fetch(`${sim.url}/`)).status).toBe(200)
      const exit = await sim.exited
      expect(exit.code).toBe(1)
      expect(sim.stderr()).toContain("crashAfter")
      await expect(fetch(`${sim.url}/`)).rejects.toThrow()
    } finally {
      await sim.stop()
    }
  })

  it("slowStart delays listening; --ignore-sigterm makes stop() escalate to SIGKILL", async () => {
    const t0 = performance.now()
    const sim = await Simulator.start("anthropic", { faults: [{ kind: "slowStart", ms: 250 }], args: ["--ignore-sigterm"] })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250)
    const exit = await sim.stop(100)
    expect(exit.signal).toBe("SIGKILL")
  })

  it("a start failure is reported with the simulator's stderr", async () => {
    await expect(Simulator.start("ollama", { args: ["--no-such-flag"] })).rejects.toThrow(/no-such-flag/)
  })
})
