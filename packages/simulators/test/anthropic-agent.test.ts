/**
 * The official `@anthropic-ai/sdk` against sim-anthropic for the agent features: tool_use
 * blocks streamed as input_json_delta fragments (the SDK's MessageStream rebuilds `input`), a
 * tool_result turn, tool_choice, thinking blocks with their signature, and the API's 400s.
 */
import Anthropic, { BadRequestError } from "@anthropic-ai/sdk"
import { Ajv } from "ajv"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Agent from "../src/Agent.ts"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"

let sim: Simulator.Running
let client: Anthropic

beforeAll(async () => {
  sim = await Simulator.start("anthropic")
  client = new Anthropic({ baseURL: sim.url, apiKey: "sk-ant-test", maxRetries: 0 })
})
afterAll(() => sim.stop())

const weather: Anthropic.Tool = {
  name: "get_weather",
  description: "Weather for a location",
  input_schema: { type: "object", properties: { location: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } }, required: ["location", "unit"] }
}
const time: Anthropic.Tool = { name: "get_time", input_schema: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] } }
const ajv = new Ajv({ strict: false })

describe("sim-anthropic tools", () => {
  it("streams a tool_use block (start with input {}, empty then partial input_json_delta, stop), stop_reason tool_use; the SDK assembles input", async () => {
    const raw = await fetch(`${sim.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-test", max_tokens: 1024, stream: true, tools: [weather], messages: [{ role: "user", content: "get_weather location=Paris" }] })
    })
    const frames = (await raw.text()).split("\n\n").filter(Boolean).map((f) => ({ event: /^event: (.*)$/m.exec(f)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(f)?.[1] ?? "null") as Record<string, any> }))
    for (const f of frames) expect(f.event).toBe(f.data["type"])
    const start = frames.find((f) => f.event === "content_block_start")
    expect(start?.data["content_block"]).toMatchObject({ type: "tool_use", name: "get_weather", input: {} })
    expect(start?.data["content_block"].id).toMatch(/^toolu_01/)
    const deltas = frames.filter((f) => f.event === "content_block_delta").map((f) => f.data["delta"])
    expect(deltas[0]).toEqual({ type: "input_json_delta", partial_json: "" })
    expect(deltas.length).toBeGreaterThan(3)
    expect(JSON.parse(deltas.map((d) => d.partial_json).join(""))).toMatchObject({ location: "Paris" })
    expect(frames.find((f) => f.event === "message_delta")?.data["delta"].stop_reason).toBe("tool_use")
    expect(frames.at(-1)?.event).toBe("message_stop")

    const stream = client.messages.stream({ model: "claude-test", max_tokens: 1024, tools: [weather, time], messages: [{ role: "user", content: "get_weather location=Paris then get_time" }] })
    const final = await stream.finalMessage()
    expect(final.stop_reason).toBe("tool_use")
    const uses = final.content.filter((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")
    expect(uses.map((u) => u.name)).toEqual(["get_weather", "get_time"])
    expect(uses[0]?.input).toMatchObject({ location: "Paris" })
    expect(ajv.validate(weather.input_schema, uses[0]?.input)).toBe(true)
    expect(ajv.validate(time.input_schema, uses[1]?.input)).toBe(true)
  })

  it("answers the tool_result turn in text that uses the results", async () => {
    const first = await client.messages.create({ model: "claude-test", max_tokens: 1024, tools: [weather], messages: [{ role: "user", content: "get_weather location=Oslo" }] })
    const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")
    expect(use).toBeDefined()
    const stream = client.messages.stream({
      model: "claude-test",
      max_tokens: 1024,
      tools: [weather],
      messages: [
        { role: "user", content: "get_weather location=Oslo" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use?.id ?? "", content: "-3 and snowing" }] }
      ]
    })
    const final = await stream.finalMessage()
    expect(final.stop_reason).toBe("end_turn")
    expect(final.content).toEqual([{ type: "text", text: "Result of get_weather: -3 and snowing" }])
  })

  it("honours tool_choice (none, any, tool, disable_parallel_tool_use) and refuses an unanswered tool_use", async () => {
    const none = await client.messages.create({ model: "m", max_tokens: 100, tools: [weather], tool_choice: { type: "none" }, messages: [{ role: "user", content: "get_weather" }] })
    expect(none.stop_reason).toBe("end_turn")
    const any = await client.messages.create({ model: "m", max_tokens: 100, tools: [weather, time], tool_choice: { type: "any" }, messages: [{ role: "user", content: "hi" }] })
    expect(any.content.map((b) => (b.type === "tool_use" ? b.name : b.type))).toEqual(["get_weather"])
    const named = await client.messages.create({ model: "m", max_tokens: 100, tools: [weather, time], tool_choice: { type: "tool", name: "get_time" }, messages: [{ role: "user", content: "get_weather" }] })
    expect(named.content.map((b) => (b.type === "tool_use" ? b.name : b.type))).toEqual(["get_time"])
    const one = await client.messages.create({
      model: "m",
      max_tokens: 100,
      tools: [weather, time],
      tool_choice: { type: "auto", disable_parallel_tool_use: true },
      messages: [{ role: "user", content: "get_weather get_time" }]
    })
    expect(one.content.filter((b) => b.type === "tool_use")).toHaveLength(1)
    const err = await client.messages
      .create({
        model: "m",
        max_tokens: 100,
        messages: [
          { role: "user", content: "x" },
          { role: "assistant", content: [{ type: "tool_use", id: "toolu_01abc", name: "get_weather", input: {} }] },
          { role: "user", content: "forgot the result" }
        ]
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BadRequestError)
    expect((err as BadRequestError).message).toContain("toolu_01abc")
  })
})

describe("sim-anthropic thinking", () => {
  it("streams a thinking block (thinking_delta, then signature_delta before its stop) ahead of the text; not without `thinking`", async () => {
    const prompt = "why is the sky blue"
    const stream = client.messages.stream({ model: "m", max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 2048 }, messages: [{ role: "user", content: prompt }] })
    const kinds: Array<string> = []
    stream.on("streamEvent", (e) => {
      if (e.type === "content_block_delta") kinds.push(e.delta.type)
    })
    const final = await stream.finalMessage()
    expect(final.content[0]).toMatchObject({ type: "thinking", thinking: Agent.thinking(prompt).join("") })
    expect((final.content[0] as Anthropic.ThinkingBlock).signature.length).toBeGreaterThan(20)
    expect(final.content[1]).toMatchObject({ type: "text", text: Answer.make({ prompt }).text })
    const sig = kinds.indexOf("signature_delta")
    expect(kinds.slice(0, sig).every((k) => k === "thinking_delta")).toBe(true)
    expect(kinds.slice(sig + 1).every((k) => k === "text_delta")).toBe(true)
    const plain = await client.messages.create({ model: "m", max_tokens: 100, messages: [{ role: "user", content: prompt }] })
    expect(plain.content.map((b) => b.type)).toEqual(["text"])
  })

  it("thinks before a tool call, and refuses a budget under 1024 or at max_tokens", async () => {
    const res = await client.messages.create({ model: "m", max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 1024 }, tools: [weather], messages: [{ role: "user", content: "get_weather" }] })
    expect(res.content.map((b) => b.type)).toEqual(["thinking", "tool_use"])
    const low = await client.messages.create({ model: "m", max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 100 }, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)
    expect(low).toBeInstanceOf(BadRequestError)
    const high = await client.messages.create({ model: "m", max_tokens: 2000, thinking: { type: "enabled", budget_tokens: 2000 }, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)
    expect(high).toBeInstanceOf(BadRequestError)
  })
  it("with thinking on, the tool_result turn needs the thinking block that began the tool call: sent back it answers, left out it is the API's 400", async () => {
    const thinking = { type: "enabled", budget_tokens: 1024 } as const
    const first = await client.messages.create({ model: "m", max_tokens: 4096, thinking, tools: [weather], messages: [{ role: "user", content: "get_weather" }] })
    const use = first.content.find((b) => b.type === "tool_use")!
    const result: Anthropic.MessageParam = { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "22 C" }] }
    const kept = await client.messages.create({ model: "m", max_tokens: 4096, thinking, tools: [weather], messages: [{ role: "user", content: "get_weather" }, { role: "assistant", content: first.content }, result] })
    expect(kept.stop_reason).toBe("end_turn")
    const dropped = await client.messages
      .create({ model: "m", max_tokens: 4096, thinking, tools: [weather], messages: [{ role: "user", content: "get_weather" }, { role: "assistant", content: [use] }, result] })
      .catch((e: unknown) => e)
    expect(dropped).toBeInstanceOf(BadRequestError)
    expect((dropped as BadRequestError).message).toContain(
      "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block"
    )
    // Without thinking, the same history is fine.
    const off = await client.messages.create({ model: "m", max_tokens: 4096, tools: [weather], messages: [{ role: "user", content: "get_weather" }, { role: "assistant", content: [use] }, result] })
    expect(off.stop_reason).toBe("end_turn")
  })
})

describe("sim-anthropic count_tokens", () => {
  it("counts a request's input tokens without max_tokens, more with tools than without", async () => {
    const bare = await client.messages.countTokens({ model: "m", messages: [{ role: "user", content: "what is the weather in Paris" }] })
    const withTools = await client.messages.countTokens({ model: "m", system: "Be brief.", tools: [weather], messages: [{ role: "user", content: "what is the weather in Paris" }] })
    expect(bare.input_tokens).toBeGreaterThanOrEqual(6)
    expect(withTools.input_tokens).toBeGreaterThan(bare.input_tokens)
  })
})
