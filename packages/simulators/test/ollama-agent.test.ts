/**
 * sim-ollama's agent features against the official `ollama` client (and the openai client on
 * Ollama's /v1): tool calls as current Ollama sends them, a tool-result turn, `format` with a
 * JSON Schema, `think`, `/api/show` capabilities, `/api/embed` and the legacy `/api/embeddings`.
 */
import { Ajv } from "ajv"
import { Ollama, type Tool } from "ollama"
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Agent from "../src/Agent.ts"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"

let sim: Simulator.Running
let client: Ollama

beforeAll(async () => {
  sim = await Simulator.start("ollama", {
    args: ["--models", "qwen3:8b,llama3.2:3b,phi3.5:3.8b,all-minilm,nomic-embed-text", "--capabilities", "phi3.5:3.8b=completion+vision"]
  })
  client = new Ollama({ host: sim.url })
})
afterAll(() => sim.stop())

const weather: Tool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city"] }
  }
}
const time: Tool = { type: "function", function: { name: "get_time", description: "Time in a zone", parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] } } }

const ajv = new Ajv({ strict: false })

describe("sim-ollama tools", () => {
  it("sends a named tool's call whole, with a call_ id, function.index and object arguments, and done_reason stop", async () => {
    const stream = await client.chat({
      model: "llama3.2:3b",
      messages: [{ role: "user", content: "use get_weather city=Tokyo and get_time please" }],
      tools: [weather, time],
      stream: true
    })
    const chunks = []
    for await (const c of stream) chunks.push(c)
    const calls = chunks.flatMap((c) => c.message.tool_calls ?? [])
    expect(calls.map((c) => c.function.name)).toEqual(["get_weather", "get_time"])
    // Every call arrives in one chunk, never as fragments.
    expect(chunks.filter((c) => (c.message.tool_calls ?? []).length > 0)).toHaveLength(2)
    const raw = calls as unknown as Array<{ id: string; function: { index: number; arguments: Record<string, unknown> } }>
    expect(raw.map((c) => c.function.index)).toEqual([0, 1])
    for (const c of raw) expect(c.id).toMatch(/^call_[a-z0-9]{8}$/)
    expect(calls[0]?.function.arguments).toMatchObject({ city: "Tokyo" })
    expect(ajv.validate(weather.function.parameters as object, calls[0]?.function.arguments)).toBe(true)
    expect(ajv.validate(time.function.parameters as object, calls[1]?.function.arguments)).toBe(true)
    const last = chunks.at(-1)
    expect(last?.done).toBe(true)
    expect(last?.done_reason).toBe("stop")
    expect(chunks.every((c) => c.message.content === "")).toBe(true)
  })

  it("answers the tool-result turn (matched by tool_name) with text that uses the result", async () => {
    const first = await client.chat({ model: "llama3.2:3b", messages: [{ role: "user", content: "get_weather city=Paris" }], tools: [weather] })
    const call = first.message.tool_calls?.[0]
    expect(call?.function.name).toBe("get_weather")
    const second = await client.chat({
      model: "llama3.2:3b",
      tools: [weather],
      messages: [
        { role: "user", content: "get_weather city=Paris" },
        first.message,
        { role: "tool", tool_name: "get_weather", content: "18 degrees and sunny" }
      ]
    })
    expect(second.message.tool_calls ?? []).toEqual([])
    expect(second.message.content).toBe("Result of get_weather: 18 degrees and sunny")
  })

  it("keeps the plain answer when no offered tool is named, and refuses tools for a model without the capability", async () => {
    const res = await client.chat({ model: "llama3.2:3b", messages: [{ role: "user", content: "hello there" }], tools: [weather] })
    expect(res.message.content).toBe(Answer.make({ prompt: "hello there" }).text)
    const err = await client.chat({ model: "phi3.5:3.8b", messages: [{ role: "user", content: "get_weather" }], tools: [weather] }).catch((e: unknown) => e)
    expect(err).toMatchObject({ status_code: 400, error: "registry.ollama.ai/library/phi3.5:3.8b does not support tools" })
  })

  it("refuses arguments sent back as a string (Ollama's history wants an object)", async () => {
    const res = await fetch(`${sim.url}/api/chat`, {
      method: "POST",
      body: JSON.stringify({
        model: "llama3.2:3b",
        stream: false,
        messages: [{ role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] }]
      })
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: string }).error).toContain("arguments")
  })
})

describe("sim-ollama format and think", () => {
  const schema = {
    type: "object",
    properties: {
      name: { type: "string" },
      age: { type: "integer", minimum: 18, maximum: 99 },
      tags: { type: "array", items: { type: "string" }, minItems: 2 },
      role: { enum: ["admin", "user"] },
      address: { type: "object", properties: { city: { type: "string" }, zip: { type: "string", minLength: 5 } }, required: ["city", "zip"] }
    },
    required: ["name", "age", "tags", "role", "address"]
  }

  it("answers format with JSON that matches the schema, streamed in pieces that join to it", async () => {
    const res = await client.chat({ model: "llama3.2:3b", messages: [{ role: "user", content: "describe a user" }], format: schema })
    const value: unknown = JSON.parse(res.message.content)
    expect(ajv.validate(schema, value)).toBe(true)
    const stream = await client.chat({ model: "llama3.2:3b", messages: [{ role: "user", content: "describe a user" }], format: schema, stream: true })
    const pieces: Array<string> = []
    for await (const c of stream) if (c.message.content) pieces.push(c.message.content)
    expect(pieces.length).toBeGreaterThan(5)
    expect(pieces.join("")).toBe(res.message.content)
    const json = await client.generate({ model: "llama3.2:3b", prompt: "anything", format: "json" })
    expect(JSON.parse(json.response ?? "")).toEqual({ answer: Answer.make({ prompt: "anything" }).text })
  })

  it("rejects a format that is neither json nor a schema with the runner's 500", async () => {
    const res = await fetch(`${sim.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", stream: false, format: "yaml", messages: [{ role: "user", content: "x" }] }) })
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: 'invalid format: "\\"yaml\\""; expected "json" or a valid JSON Schema object' })
  })

  it("a thinking model thinks by default (thinking chunks before content), not with think:false", async () => {
    const prompt = "how many r in strawberry"
    const stream = await client.chat({ model: "qwen3:8b", messages: [{ role: "user", content: prompt }], stream: true })
    const order: Array<string> = []
    let thinking = ""
    let content = ""
    for await (const c of stream) {
      if (c.message.thinking) {
        order.push("thinking")
        thinking += c.message.thinking
      }
      if (c.message.content) {
        order.push("content")
        content += c.message.content
      }
    }
    expect(thinking).toBe(Agent.thinking(prompt).join(""))
    expect(content).toBe(Answer.make({ prompt }).text)
    expect(order.indexOf("content")).toBeGreaterThan(order.lastIndexOf("thinking"))
    const off = await client.chat({ model: "qwen3:8b", messages: [{ role: "user", content: prompt }], think: false })
    expect(off.message.thinking).toBeUndefined()
    const gen = await client.generate({ model: "qwen3:8b", prompt, think: true })
    expect(gen.thinking).toBe(Agent.thinking(prompt).join(""))
  })

  it("answers think on a model that cannot think, and a bad think value, with Ollama's 400s", async () => {
    const err = await client.chat({ model: "llama3.2:3b", messages: [{ role: "user", content: "x" }], think: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ status_code: 400, error: '"llama3.2:3b" does not support thinking' })
    const res = await fetch(`${sim.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "qwen3:8b", think: "extreme", messages: [{ role: "user", content: "x" }] }) })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: string }).error).toBe('invalid think value: "extreme" (must be "high", "medium", "low", "max", true, or false)')
  })
})

describe("sim-ollama capabilities and embeddings", () => {
  it("/api/show and /api/tags report per-model capabilities, with --capabilities overriding", async () => {
    expect((await client.show({ model: "qwen3:8b" })).capabilities).toEqual(["completion", "tools", "thinking"])
    expect((await client.show({ model: "llama3.2:3b" })).capabilities).toEqual(["completion", "tools"])
    expect((await client.show({ model: "all-minilm" })).capabilities).toEqual(["embedding"])
    expect((await client.show({ model: "phi3.5:3.8b" })).capabilities).toEqual(["completion", "vision"])
    const tags = (await client.list()).models as unknown as Array<{ name: string; capabilities?: Array<string> }>
    expect(tags.find((m) => m.name === "nomic-embed-text:latest")?.capabilities).toEqual(["embedding"])
  })

  it("/api/embed gives L2-normalised vectors of the model's size, equal for equal text, different per model", async () => {
    const a = await client.embed({ model: "all-minilm", input: ["Why is the sky blue?", "Why is the grass green?"] })
    expect(a.embeddings).toHaveLength(2)
    for (const v of a.embeddings) {
      expect(v).toHaveLength(384)
      expect(Math.hypot(...v)).toBeCloseTo(1, 5)
    }
    const again = await client.embed({ model: "all-minilm", input: "Why is the sky blue?" })
    expect(again.embeddings[0]).toEqual(a.embeddings[0])
    const nomic = await client.embed({ model: "nomic-embed-text", input: "Why is the sky blue?" })
    expect(nomic.embeddings[0]).toHaveLength(768)
    expect(nomic.embeddings[0]?.slice(0, 8)).not.toEqual(a.embeddings[0]?.slice(0, 8))
    const short = await client.embed({ model: "all-minilm", input: "Why is the sky blue?", dimensions: 64 })
    expect(short.embeddings[0]).toHaveLength(64)
    expect(Math.hypot(...(short.embeddings[0] ?? []))).toBeCloseTo(1, 5)
    // The prefix of the full vector, renormalised: same direction.
    const full = a.embeddings[0]?.slice(0, 64) ?? []
    const scale = Math.hypot(...full)
    short.embeddings[0]?.forEach((x, i) => expect(x).toBeCloseTo((full[i] ?? 0) / scale, 5))
  })

  it("refuses to embed with a chat model (501, the embedded llama-server's text), and token arrays (400)", async () => {
    const err = await client.embed({ model: "llama3.2:3b", input: "x" }).catch((e: unknown) => e)
    expect(err).toMatchObject({ status_code: 501, error: "This server does not support embeddings. Start it with `--embeddings`" })
    const res = await fetch(`${sim.url}/api/embed`, { method: "POST", body: JSON.stringify({ model: "all-minilm", input: [[1, 2, 3]] }) })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: "invalid input type" })
    const chat = await client.chat({ model: "all-minilm", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)
    expect(chat).toMatchObject({ status_code: 400, error: '"all-minilm" does not support chat' })
  })

  it("legacy /api/embeddings answers one raw (unnormalised) vector", async () => {
    const res = await client.embeddings({ model: "all-minilm", prompt: "Why is the sky blue?" })
    expect(res.embedding).toHaveLength(384)
    expect(Math.abs(Math.hypot(...res.embedding) - 1)).toBeGreaterThan(0.01)
  })
})

describe("sim-ollama /v1 agent features (openai client)", () => {
  const openai = () => new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "ollama", maxRetries: 0 })

  it("streams each tool call whole in one chunk, reasoning as `reasoning`, finish tool_calls", async () => {
    const stream = await openai().chat.completions.create({
      model: "qwen3:8b",
      messages: [{ role: "user", content: "get_weather city=Oslo" }],
      tools: [weather as OpenAI.ChatCompletionTool],
      stream: true
    })
    const deltas = []
    let finish: string | null | undefined
    for await (const c of stream) {
      if (c.choices[0]?.delta) deltas.push(c.choices[0].delta as Record<string, unknown>)
      finish = c.choices[0]?.finish_reason ?? finish
    }
    const calls = deltas.flatMap((d) => (d["tool_calls"] as Array<{ function: { arguments: string } }> | undefined) ?? [])
    expect(calls).toHaveLength(1)
    expect(JSON.parse(calls[0]?.function.arguments ?? "")).toMatchObject({ city: "Oslo" })
    expect(deltas.map((d) => d["reasoning"] ?? "").join("")).toBe(Agent.thinking("get_weather city=Oslo").join(""))
    expect(finish).toBe("tool_calls")
  })

  it("honours response_format json_schema and serves /v1/embeddings (float and base64)", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" }, n: { type: "integer" } }, required: ["ok", "n"] }
    const res = await openai().chat.completions.create({
      model: "llama3.2:3b",
      messages: [{ role: "user", content: "json please" }],
      response_format: { type: "json_schema", json_schema: { name: "x", schema } }
    })
    expect(ajv.validate(schema, JSON.parse(res.choices[0]?.message.content ?? ""))).toBe(true)
    const emb = await openai().embeddings.create({ model: "all-minilm", input: ["a", "b"] })
    expect(emb.data.map((d) => d.embedding.length)).toEqual([384, 384])
    const native = await client.embed({ model: "all-minilm", input: "a" })
    emb.data[0]?.embedding.forEach((x, i) => expect(x).toBeCloseTo(native.embeddings[0]?.[i] ?? 0, 6))
  })
})

describe("sim-ollama native path (--tool-calls-on-done)", () => {
  it("sends every call at once on the done line, with llama-server's 32-character ids", async () => {
    const native = await Simulator.start("ollama", { args: ["--models", "llama3.2:3b", "--tool-calls-on-done"] })
    try {
      const stream = await new Ollama({ host: native.url }).chat({
        model: "llama3.2:3b",
        messages: [{ role: "user", content: "get_weather city=Tokyo and get_time" }],
        tools: [weather, time],
        stream: true
      })
      const chunks = []
      for await (const c of stream) chunks.push(c)
      expect(chunks.slice(0, -1).every((c) => (c.message.tool_calls ?? []).length === 0)).toBe(true)
      const last = chunks.at(-1)
      expect(last?.done).toBe(true)
      expect(last?.done_reason).toBe("stop")
      const calls = (last?.message.tool_calls ?? []) as unknown as Array<{ id: string; function: { index: number; name: string } }>
      expect(calls.map((c) => [c.function.index, c.function.name])).toEqual([[0, "get_weather"], [1, "get_time"]])
      for (const c of calls) expect(c.id).toMatch(/^[0-9A-Za-z]{32}$/)
    } finally {
      await native.stop()
    }
  })
})
