/**
 * sim-llamacpp's agent features through the openai client: tools with fragmented arguments
 * and 32-char ids, string-only tool_choice, response_format in both spellings and a top-level
 * json_schema, reasoning_content, and /v1/embeddings (501 unless started with --embeddings).
 */
import { Ajv } from "ajv"
import OpenAI, { APIError, BadRequestError } from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Agent from "../src/Agent.ts"
import * as Simulator from "../src/Simulator.ts"

let plain: Simulator.Running
let thinker: Simulator.Running

beforeAll(async () => {
  ;[plain, thinker] = await Promise.all([
    Simulator.start("llamacpp", { args: ["--role-chunk"] }),
    Simulator.start("llamacpp", { args: ["--model", "/models/Qwen3-8B-Q4_K_M.gguf", "--embeddings"] })
  ])
})
afterAll(() => Promise.all([plain.stop(), thinker.stop()]))

const client = (s: Simulator.Running) => new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "none", maxRetries: 0 })
const ajv = new Ajv({ strict: false })
const weather: OpenAI.ChatCompletionFunctionTool = {
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" }, hours: { type: "integer", minimum: 1, maximum: 48 } }, required: ["city", "hours"] } }
}

describe("sim-llamacpp agent features", () => {
  it("streams a tool call as header (with the first fragment) then fragments; non-streamed content '' with a 32-char id and no index", async () => {
    const final = await client(plain).chat.completions.stream({ model: "m", messages: [{ role: "user", content: "get_weather city=Bern" }], tools: [weather] }).finalChatCompletion()
    const call = final.choices[0]?.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall
    expect(final.choices[0]?.finish_reason).toBe("tool_calls")
    expect(call.id).toMatch(/^[0-9A-Za-z]{32}$/)
    const args: unknown = JSON.parse(call.function.arguments)
    expect(args).toMatchObject({ city: "Bern" })
    expect(ajv.validate(weather.function.parameters as object, args)).toBe(true)
    const res = await client(plain).chat.completions.create({ model: "m", messages: [{ role: "user", content: "get_weather city=Bern" }], tools: [weather] })
    expect(res.choices[0]?.message.content).toBe("")
    expect(res.choices[0]?.message.tool_calls?.[0]).not.toHaveProperty("index")
  })

  it("reads tool_choice as a string only: an object is auto, an unknown string is a 400", async () => {
    const obj = await client(plain).chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hello" }],
      tools: [weather],
      tool_choice: { type: "function", function: { name: "get_weather" } }
    })
    expect(obj.choices[0]?.message.tool_calls).toBeUndefined()
    const req = await client(plain).chat.completions.create({ model: "m", messages: [{ role: "user", content: "hello" }], tools: [weather], tool_choice: "required" })
    expect(req.choices[0]?.message.tool_calls).toHaveLength(1)
    const bad = await client(plain).chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }], tools: [weather], tool_choice: "sometimes" as "auto" }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(BadRequestError)
    expect((bad as BadRequestError).message).toContain("Invalid tool_choice: sometimes")
  })

  it("honours response_format json_schema (wrapped), json_object with schema, and a top-level json_schema", async () => {
    const schema = { type: "object", properties: { n: { type: "integer", minimum: 5 }, ok: { type: "boolean" } }, required: ["n", "ok"] }
    const a = await client(plain).chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }], response_format: { type: "json_schema", json_schema: { name: "s", schema } } })
    expect(ajv.validate(schema, JSON.parse(a.choices[0]?.message.content ?? ""))).toBe(true)
    const b = await client(plain).chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "x" }],
      // @ts-expect-error llama.cpp's json_object with a schema
      response_format: { type: "json_object", schema }
    })
    expect(ajv.validate(schema, JSON.parse(b.choices[0]?.message.content ?? ""))).toBe(true)
    const c = await fetch(`${plain.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "x" }], json_schema: schema }) })
    const body = (await c.json()) as { choices: Array<{ message: { content: string } }> }
    expect(ajv.validate(schema, JSON.parse(body.choices[0]?.message.content ?? ""))).toBe(true)
  })

  it("a thinking model streams reasoning_content first; reasoning_effort none turns it off", async () => {
    const prompt = "think first"
    const stream = await client(thinker).chat.completions.create({ model: "m", messages: [{ role: "user", content: prompt }], stream: true })
    let reasoning = ""
    for await (const c of stream) reasoning += (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? ""
    expect(reasoning).toBe(Agent.thinking(prompt).join(""))
    const off = await client(thinker).chat.completions.create({ model: "m", messages: [{ role: "user", content: prompt }], reasoning_effort: "none" })
    expect(off.choices[0]?.message).not.toHaveProperty("reasoning_content")
  })

  it("/v1/embeddings: 501 without --embeddings; with it, normalised vectors, base64 items marked, dimensions ignored", async () => {
    const off = await client(plain).embeddings.create({ model: "m", input: "x" }).catch((e: unknown) => e)
    expect(off).toBeInstanceOf(APIError)
    expect((off as APIError).status).toBe(501)
    const emb = await client(thinker).embeddings.create({ model: "m", input: ["a", "b"], dimensions: 16 })
    expect(emb.data.map((d) => d.embedding.length)).toEqual([896, 896])
    expect(Math.hypot(...(emb.data[0]?.embedding ?? []))).toBeCloseTo(1, 5)
    const raw = await fetch(`${thinker.url}/v1/embeddings`, { method: "POST", body: JSON.stringify({ input: "a", encoding_format: "base64" }) })
    expect(((await raw.json()) as { data: Array<{ encoding_format?: string }> }).data[0]?.encoding_format).toBe("base64")
  })
})
