/**
 * The official `openai` client against sim-openai and sim-mlx for the agent features: tool
 * calls streamed (the SDK's own accumulator rebuilds them) and not, the tool-result turn,
 * `tool_choice`, `response_format`, reasoning fields, and `/v1/embeddings`; plus mlx_lm's own
 * shapes (whole calls, json.dumps spacing, `reasoning`, no response_format, no embeddings).
 */
import { Ajv } from "ajv"
import OpenAI, { BadRequestError, NotFoundError } from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Agent from "../src/Agent.ts"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"

let openai: Simulator.Running
let reasoner: Simulator.Running
let deepseek: Simulator.Running
let mlx: Simulator.Running

beforeAll(async () => {
  ;[openai, reasoner, deepseek, mlx] = await Promise.all([
    Simulator.start("openai"),
    Simulator.start("openai", { args: ["--models", "o4-mini"] }),
    Simulator.start("openai", { args: ["--models", "deepseek-reasoner", "--reasoning-field", "reasoning_content"] }),
    Simulator.start("mlx", { args: ["--models", "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit,mlx-community/Qwen3-8B-4bit"] })
  ])
})
afterAll(() => Promise.all([openai.stop(), reasoner.stop(), deepseek.stop(), mlx.stop()]))

const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "sk-test", maxRetries: 0 })
const ajv = new Ajv({ strict: false })

const weather: OpenAI.ChatCompletionFunctionTool = {
  type: "function",
  function: {
    name: "get_weather",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] }, days: { type: "integer", minimum: 1, maximum: 7 } },
      required: ["city", "unit", "days"],
      additionalProperties: false
    }
  }
}
const time: OpenAI.ChatCompletionFunctionTool = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] } } }
const user = (content: string) => ({ role: "user" as const, content })

describe("sim-openai tools", () => {
  it("non-streamed: content null, tool_calls with call_ ids and JSON-string arguments matching the schema, finish tool_calls", async () => {
    const res = await client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: [user("call get_weather city=Lisbon")], tools: [weather, time] })
    const msg = res.choices[0]?.message
    expect(res.choices[0]?.finish_reason).toBe("tool_calls")
    expect(msg?.content).toBeNull()
    expect(msg?.tool_calls).toHaveLength(1)
    const call = msg?.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall
    expect(call.id).toMatch(/^call_/)
    expect(call.function.name).toBe("get_weather")
    const args: unknown = JSON.parse(call.function.arguments)
    expect(args).toMatchObject({ city: "Lisbon" })
    expect(ajv.validate(weather.function.parameters as object, args)).toBe(true)
  })

  it("streamed: a header delta then argument fragments per index, which the SDK's stream helper reassembles; then the tool-result turn", async () => {
    const raw = await fetch(`${openai.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [user("get_weather city=Rome and get_time zone=CET")], tools: [weather, time] })
    })
    const events = (await raw.text())
      .split("\n\n")
      .filter((e) => e.startsWith("data: {"))
      .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { tool_calls?: Array<Record<string, unknown>> }; finish_reason: string | null }> })
    const toolDeltas = events.flatMap((e) => e.choices[0]?.delta.tool_calls ?? [])
    expect(toolDeltas[0]).toMatchObject({ index: 0, type: "function", function: { name: "get_weather", arguments: "" } })
    expect(toolDeltas.filter((d) => d["id"] !== undefined).map((d) => d["index"])).toEqual([0, 1])
    expect(toolDeltas.filter((d) => d["id"] === undefined).length).toBeGreaterThan(2)
    expect(events.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls")

    const stream = client(openai.url).chat.completions.stream({ model: "gpt-4o-mini", messages: [user("get_weather city=Rome and get_time zone=CET")], tools: [weather, time] })
    const final = await stream.finalChatCompletion()
    const calls = (final.choices[0]?.message.tool_calls ?? []) as Array<OpenAI.ChatCompletionMessageFunctionToolCall>
    expect(calls.map((c) => c.function.name)).toEqual(["get_weather", "get_time"])
    expect(JSON.parse(calls[0]?.function.arguments ?? "")).toMatchObject({ city: "Rome" })
    expect(JSON.parse(calls[1]?.function.arguments ?? "")).toEqual({ zone: "CET" })

    const next = await client(openai.url).chat.completions.create({
      model: "gpt-4o-mini",
      tools: [weather, time],
      messages: [
        user("get_weather city=Rome and get_time zone=CET"),
        { role: "assistant", content: null, tool_calls: calls },
        { role: "tool", tool_call_id: calls[0]?.id ?? "", content: "21C" },
        { role: "tool", tool_call_id: calls[1]?.id ?? "", content: "14:05" }
      ]
    })
    expect(next.choices[0]?.message.content).toBe("Result of get_weather: 21C Result of get_time: 14:05")
    expect(next.choices[0]?.finish_reason).toBe("stop")
  })

  it("honours tool_choice none / required / named and parallel_tool_calls:false; rejects a dangling tool turn as OpenAI does", async () => {
    const c = client(openai.url)
    const none = await c.chat.completions.create({ model: "gpt-4o-mini", messages: [user("get_weather please")], tools: [weather], tool_choice: "none" })
    expect(none.choices[0]?.message.tool_calls).toBeUndefined()
    const required = await c.chat.completions.create({ model: "gpt-4o-mini", messages: [user("hello")], tools: [weather, time], tool_choice: "required" })
    expect((required.choices[0]?.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall).function.name).toBe("get_weather")
    const named = await c.chat.completions.create({ model: "gpt-4o-mini", messages: [user("get_weather")], tools: [weather, time], tool_choice: { type: "function", function: { name: "get_time" } } })
    expect((named.choices[0]?.message.tool_calls ?? []).map((t) => (t as OpenAI.ChatCompletionMessageFunctionToolCall).function.name)).toEqual(["get_time"])
    const single = await c.chat.completions.create({ model: "gpt-4o-mini", messages: [user("get_weather get_time")], tools: [weather, time], parallel_tool_calls: false })
    expect(single.choices[0]?.message.tool_calls).toHaveLength(1)
    const dangling = await c.chat.completions.create({ model: "gpt-4o-mini", messages: [user("x"), { role: "tool", tool_call_id: "call_nope", content: "1" }] }).catch((e: unknown) => e)
    expect(dangling).toBeInstanceOf(BadRequestError)
    expect((dangling as BadRequestError).message).toContain("must be a response to a preceeding message with 'tool_calls'")
  })
})

describe("sim-openai response_format, reasoning and embeddings", () => {
  it("answers json_schema with a matching instance and json_object with JSON (which needs 'json' in the messages)", async () => {
    const schema = { type: "object", properties: { title: { type: "string" }, score: { type: "number", minimum: 0, maximum: 1 }, tags: { type: "array", items: { enum: ["a", "b"] } } }, required: ["title", "score", "tags"], additionalProperties: false }
    const res = await client(openai.url).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [user("rate this")],
      response_format: { type: "json_schema", json_schema: { name: "rating", schema, strict: true } }
    })
    expect(ajv.validate(schema, JSON.parse(res.choices[0]?.message.content ?? ""))).toBe(true)
    const obj = await client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: [user("answer in json")], response_format: { type: "json_object" } })
    expect(JSON.parse(obj.choices[0]?.message.content ?? "")).toEqual({ answer: Answer.make({ prompt: "answer in json" }).text })
    const bad = await client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: [user("hello")], response_format: { type: "json_object" } }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(BadRequestError)
  })

  it("OpenAI counts a reasoning model's reasoning tokens without showing them and refuses reasoning_effort for other models; reasoning_content streams first when configured (DeepSeek-style)", async () => {
    const prompt = "think hard"
    const res = await client(reasoner.url).chat.completions.create({ model: "o4-mini", messages: [user(prompt)], reasoning_effort: "low" })
    expect(res.usage?.completion_tokens_details?.reasoning_tokens).toBe(Agent.thinking(prompt).length)
    expect(Object.keys(res.choices[0]?.message ?? {})).not.toContain("reasoning_content")
    expect(Object.keys(res.choices[0]?.message ?? {})).not.toContain("reasoning")
    const refused = await client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: [user(prompt)], reasoning_effort: "low" }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(BadRequestError)
    expect(refused).toMatchObject({ param: "reasoning_effort", code: "unsupported_parameter" })
    const stream = await client(deepseek.url).chat.completions.create({ model: "deepseek-reasoner", messages: [user(prompt)], reasoning_effort: "high", stream: true })
    const order: Array<string> = []
    let reasoning = ""
    for await (const c of stream) {
      const d = c.choices[0]?.delta as { reasoning_content?: string; content?: string } | undefined
      if (d?.reasoning_content) {
        reasoning += d.reasoning_content
        order.push("r")
      }
      if (d?.content) order.push("c")
    }
    expect(reasoning).toBe(Agent.thinking(prompt).join(""))
    expect(order.indexOf("c")).toBeGreaterThan(order.lastIndexOf("r"))
  })

  it("/v1/embeddings: the SDK's default base64 and explicit float agree; dimensions shorten and renormalise; ada-002 refuses dimensions", async () => {
    const c = client(openai.url)
    const b64 = await c.embeddings.create({ model: "text-embedding-3-small", input: ["alpha", "beta"] })
    const flt = await c.embeddings.create({ model: "text-embedding-3-small", input: ["alpha", "beta"], encoding_format: "float" })
    expect(b64.data.map((d) => d.embedding.length)).toEqual([1536, 1536])
    b64.data[0]?.embedding.forEach((x, i) => expect(x).toBeCloseTo(flt.data[0]?.embedding[i] ?? NaN, 6))
    expect(flt.data[0]?.embedding).not.toEqual(flt.data[1]?.embedding)
    const short = await c.embeddings.create({ model: "text-embedding-3-small", input: "alpha", dimensions: 256, encoding_format: "float" })
    expect(short.data[0]?.embedding).toHaveLength(256)
    expect(Math.hypot(...(short.data[0]?.embedding ?? []))).toBeCloseTo(1, 5)
    expect(short.usage.prompt_tokens).toBe(1)
    const err = await c.embeddings.create({ model: "text-embedding-ada-002", input: "x", dimensions: 8 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BadRequestError)
    const missing = await c.embeddings.create({ model: "gpt-4o-mini", input: "x" }).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(NotFoundError)
  })
})

describe("sim-mlx (mlx_lm.server) agent features", () => {
  it("streams each tool call whole when it closes: index, uuid4 id, json.dumps spacing, role on every delta, finish tool_calls", async () => {
    const raw = await fetch(`${mlx.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stream: true, messages: [user("get_weather city=Kyoto")], tools: [weather] })
    })
    const chunks = (await raw.text())
      .split("\n\n")
      .filter((e) => e.startsWith("data: {"))
      .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }> })
    expect(chunks.every((c) => c.choices[0]?.delta["role"] === "assistant")).toBe(true)
    const calls = chunks.flatMap((c) => (c.choices[0]?.delta["tool_calls"] as Array<{ index: number; id: string; function: { arguments: string } }> | undefined) ?? [])
    expect(calls).toHaveLength(1)
    expect(calls[0]?.index).toBe(0)
    expect(calls[0]?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(calls[0]?.function.arguments).toMatch(/^\{"city": "Kyoto", "unit": "/)
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls")
    // Through the SDK as well: whole calls are one delta each, nothing to concatenate.
    const res = await client(mlx.url).chat.completions.create({ model: "default_model", messages: [user("get_weather city=Kyoto")], tools: [weather] })
    expect(res.choices[0]?.message.content).toBeNull()
    expect(res.choices[0]?.message.tool_calls?.[0]).not.toHaveProperty("index")
  })

  it("a thinking model reasons in `reasoning` (never reasoning_content) unless enable_thinking is false; response_format is ignored", async () => {
    const prompt = "plan the trip"
    const res = await client(mlx.url).chat.completions.create({ model: "mlx-community/Qwen3-8B-4bit", messages: [user(prompt)] })
    const msg = res.choices[0]?.message as unknown as Record<string, unknown>
    expect(msg["reasoning"]).toBe(Agent.thinking(prompt).join(""))
    expect(msg).not.toHaveProperty("reasoning_content")
    expect(msg["content"]).toBe(Answer.make({ prompt }).text)
    const off = await client(mlx.url).chat.completions.create({
      model: "mlx-community/Qwen3-8B-4bit",
      messages: [user(prompt)],
      // @ts-expect-error mlx_lm's own request field
      chat_template_kwargs: { enable_thinking: false }
    })
    expect(off.choices[0]?.message).not.toHaveProperty("reasoning")
    const fmt = await client(mlx.url).chat.completions.create({ model: "default_model", messages: [user("json please")], response_format: { type: "json_object" } })
    expect(fmt.choices[0]?.message.content).toBe(Answer.make({ prompt: "json please" }).text)
  })

  it("answers a tool-result turn, refuses object arguments in history (json.loads) with its 404, and has no embeddings route", async () => {
    const res = await client(mlx.url).chat.completions.create({
      model: "default_model",
      messages: [
        user("get_weather"),
        { role: "assistant", content: null, tool_calls: [{ id: "a1", type: "function", function: { name: "get_weather", arguments: '{"city": "Kyoto"}' } }] },
        { role: "tool", tool_call_id: "a1", content: "rain" }
      ]
    })
    expect(res.choices[0]?.message.content).toBe("Result of get_weather: rain")
    const bad = await fetch(`${mlx.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: { city: "x" } } }] }, user("x")] })
    })
    expect(bad.status).toBe(404)
    expect(await bad.json()).toEqual({ error: "the JSON object must be str, bytes or bytearray, not dict" })
    const emb = await client(mlx.url).embeddings.create({ model: "default_model", input: "x" }).catch((e: unknown) => e)
    expect(emb).toBeInstanceOf(NotFoundError)
  })
})

describe("sim-mlx --no-tool-parser", () => {
  it("leaves the call as <tool_call> text in content, finish stop, as server.py does for a model without a parser", async () => {
    const bare = await Simulator.start("mlx", { args: ["--no-tool-parser"] })
    try {
      const res = await client(bare.url).chat.completions.create({ model: "default_model", messages: [user("get_weather city=Oslo")], tools: [weather] })
      expect(res.choices[0]?.finish_reason).toBe("stop")
      expect(res.choices[0]?.message.tool_calls).toBeUndefined()
      const text = res.choices[0]?.message.content ?? ""
      expect(text.startsWith("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"")).toBe(true)
      expect(text.endsWith("</tool_call>")).toBe(true)
    } finally {
      await bare.stop()
    }
  })
})

describe("sim-mlx --legacy-tool-call", () => {
  it("ends a tool turn with the old singular finish_reason tool_call", async () => {
    const old = await Simulator.start("mlx", { args: ["--legacy-tool-call"] })
    try {
      const res = await client(old.url).chat.completions.create({ model: "default_model", messages: [user("get_weather")], tools: [weather] })
      expect(res.choices[0]?.finish_reason).toBe("tool_call")
    } finally {
      await old.stop()
    }
  })
})
