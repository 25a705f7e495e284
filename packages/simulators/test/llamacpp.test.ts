/**
 * sim-llamacpp against protocols.md §6: 503 on every route while the model loads, one model
 * with any name echoed, the stream quirks, llama-server's error bodies and statuses, the
 * in-stream `error:` line, and slots that queue instead of rejecting. The official `openai`
 * client reads its stream as it reads the real server's.
 */
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"

let sim: Simulator.Running
let keyed: Simulator.Running

beforeAll(async () => {
  ;[sim, keyed] = await Promise.all([
    Simulator.start("llamacpp", { args: ["--parallel", "2", "--ctx-size", "64", "--no-context-shift"], readyTimeoutMs: 30_000 }),
    Simulator.start("llamacpp", { args: ["--alias", "qwen-0.5b", "--api-key", "secret-key-1", "--role-chunk"], readyTimeoutMs: 30_000 })
  ])
})
afterAll(() => Promise.all([sim.stop(), keyed.stop()]))

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

/** The SSE body as its raw lines without blanks: `data: …` and llama's own `error: …`. */
const lines = async (res: Response) => (await res.text()).split("\n").filter((l) => l !== "")

const chunks = (raw: ReadonlyArray<string>) =>
  raw.filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)) as { choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }>; usage?: unknown; timings?: unknown; model: string })

describe("sim-llamacpp", () => {
  it("binds the port first and answers 503 Loading model on every route until the model is loaded", async () => {
    const loading = await Simulator.start("llamacpp", { args: ["--load-ms", "2500"], readyTimeoutMs: 30_000 })
    try {
      const health = await fetch(`${loading.url}/health`)
      expect(health.status).toBe(503)
      expect(await health.json()).toEqual({ error: { code: 503, message: "Loading model", type: "unavailable_error" } })
      expect((await fetch(`${loading.url}/v1/models`)).status).toBe(503)
      expect((await post(loading.url, { messages: [{ role: "user", content: "hi" }] })).status).toBe(503)
      const page = await fetch(`${loading.url}/`)
      expect([page.status, page.headers.get("content-type")]).toEqual([503, "text/html; charset=utf-8"])
      const deadline = Date.now() + 20_000
      let status = 503
      while (status === 503 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
        status = (await fetch(`${loading.url}/health`)).status
      }
      expect(status).toBe(200)
      expect(await (await fetch(`${loading.url}/health`)).json()).toEqual({ status: "ok" })
    } finally {
      await loading.stop()
    }
  })

  it("lists the one model by path (or alias) and accepts and echoes any model name", async () => {
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: Array<{ id: string; owned_by: string }> }
    expect(models.data.map((m) => [m.id, m.owned_by])).toEqual([["/models/qwen2.5-0.5b-instruct-q4_k_m.gguf", "llamacpp"]])
    expect(((await (await fetch(`${keyed.url}/models`)).json()) as { data: Array<{ id: string }> }).data[0]?.id).toBe("qwen-0.5b")
    const named = (await (await post(sim.url, { model: "anything-at-all", messages: [{ role: "user", content: "hi" }] })).json()) as { model: string; timings: unknown }
    expect(named.model).toBe("anything-at-all")
    expect(named.timings).toMatchObject({ predicted_n: Answer.make({ prompt: "hi" }).tokens.length })
    const unnamed = (await (await post(sim.url, { messages: [{ role: "user", content: "hi" }] })).json()) as { model: string }
    expect(unnamed.model).toBe("gpt-3.5-turbo")
  })

  it("streams one token per event, an empty chunk before a natural stop, and usage with timings in the last chunk", async () => {
    const raw = await lines(await post(sim.url, { messages: [{ role: "user", content: "stream me" }], stream: true }))
    expect(raw.at(-1)).toBe("data: [DONE]")
    const events = chunks(raw)
    expect(events[0]?.choices[0]?.delta).not.toHaveProperty("role")
    const text = events.flatMap((e) => (typeof e.choices[0]?.delta["content"] === "string" ? [e.choices[0].delta["content"]] : []))
    expect(text).toEqual([...Answer.make({ prompt: "stream me" }).tokens, ""])
    const last = events.at(-1)!
    expect(last.choices[0]).toMatchObject({ finish_reason: "stop", delta: {} })
    expect(last.usage).toMatchObject({ completion_tokens: text.length - 1 })
    expect(last.timings).toHaveProperty("predicted_per_second")
  })

  it("reads with the openai client; newer builds' role chunk comes first with --role-chunk", async () => {
    const client = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: "secret-key-1", maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: "qwen-0.5b", messages: [{ role: "user", content: "hello" }], stream: true })
    const deltas: Array<string> = []
    let first: unknown
    for await (const chunk of stream) {
      first ??= chunk.choices[0]?.delta
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content)
    }
    expect(first).toMatchObject({ role: "assistant" })
    expect(deltas.join("")).toBe(Answer.make({ prompt: "hello" }).text)
  })

  it("answers errors in its own shape: 500 for a malformed body, 400 for bad sampling, 404, 401 (but /health stays open)", async () => {
    const malformed = await post(sim.url, "{not json")
    expect(malformed.status).toBe(500)
    expect(((await malformed.json()) as { error: { type: string } }).error.type).toBe("server_error")
    expect((await post(sim.url, { model: "x" })).status).toBe(500)
    const sampling = await post(sim.url, { messages: [{ role: "user", content: "x" }], top_p: 3 })
    expect(sampling.status).toBe(400)
    expect(((await sampling.json()) as { error: { code: number; type: string } }).error).toMatchObject({ code: 400, type: "invalid_request_error" })
    const unknown = await fetch(`${sim.url}/v1/health`)
    expect([unknown.status, ((await unknown.json()) as { error: { type: string } }).error.type]).toEqual([404, "not_found_error"])
    const denied = await post(keyed.url, { messages: [{ role: "user", content: "x" }] }, { authorization: "Bearer wrong" })
    expect([denied.status, ((await denied.json()) as { error: { type: string } }).error.type]).toEqual([401, "authentication_error"])
    expect((await fetch(`${keyed.url}/health`)).status).toBe(200)
  })

  it("reports an error inside a stream as an `error:` line before [DONE], never as content", async () => {
    const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(" ")
    const res = await post(sim.url, { messages: [{ role: "user", content: long }], stream: true })
    expect(res.status).toBe(200)
    const raw = await lines(res)
    expect(raw[0]).toMatch(/^error: \{"code":400,.*"type":"exceed_context_size_error"\}$/)
    expect(raw.at(-1)).toBe("data: [DONE]")
    expect(chunks(raw)).toEqual([])
    const whole = await post(sim.url, { messages: [{ role: "user", content: long }] })
    expect(whole.status).toBe(400)
  })

  it("runs --parallel requests at once and queues the rest; /slots and /props show it", async () => {
    const props = (await (await fetch(`${sim.url}/props`)).json()) as { total_slots: number; model_path: string; default_generation_settings: { n_ctx: number } }
    expect(props).toMatchObject({ total_slots: 2, model_path: "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf", default_generation_settings: { n_ctx: 32 } })
    await sim.setFaults([{ kind: "slowTokens", ms: 150 }])
    try {
      const started = [1, 2, 3].map((i) => post(sim.url, { messages: [{ role: "user", content: `[[tokens:4]] request ${i}` }], stream: true }))
      const deadline = Date.now() + 10_000
      let slots: Array<{ is_processing: boolean }> = []
      while (Date.now() < deadline) {
        slots = (await (await fetch(`${sim.url}/slots`)).json()) as Array<{ is_processing: boolean }>
        if (slots.every((s) => s.is_processing)) break
        await new Promise((r) => setTimeout(r, 20))
      }
      expect(slots.map((s) => s.is_processing)).toEqual([true, true])
      const state = (await (await fetch(`${sim.url}/__sim/state`)).json()) as { state: { busy: number; queued: number } }
      expect(state.state).toMatchObject({ busy: 2, queued: 1 })
      const done = await Promise.all(started.map(async (r) => (await lines(await r)).at(-1)))
      expect(done).toEqual(["data: [DONE]", "data: [DONE]", "data: [DONE]"])
    } finally {
      await sim.clearFaults()
    }
  })
})
