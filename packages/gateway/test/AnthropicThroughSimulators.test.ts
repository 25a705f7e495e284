/**
 * End to end for agents: `@anthropic-ai/sdk`, unchanged -> the gateway's /v1/messages -> the
 * real MLX and Ollama backends -> sim-mlx and sim-ollama as real processes. What Claude Code
 * does with ANTHROPIC_BASE_URL pointed at local-router: text, streams, a tool call and its
 * tool_result turn, thinking, images, a tool call falling back from a dead server, and a
 * stream cut after the commit thrown by the SDK rather than passed off as a complete answer.
 *
 * The simulators decide from the request alone (packages/simulators README, "Agent features"):
 * an offered tool named in the last user message is called, `key=value` pins an argument, and a
 * turn ending in tool results is answered "Result of <tool>: <text>".
 */
import Anthropic from "@anthropic-ai/sdk"
import { type Fault } from "@local-router/simulators"
import { describe, expect, it } from "vitest"
import * as SimulatedGateway from "./SimulatedGateway.ts"

const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")
const mlxModel = "mlx-community/Qwen3-8B-4bit"

const e2e = SimulatedGateway.use({
  mlx: ["--model", mlxModel],
  ollama: ["--models", "qwen3:8b,phi3.5:3.8b,llava:7b"],
  routing: `defaults:
  timeouts: { connect: 5s, firstToken: 5s, idle: 2s, total: 30s }
  breaker: { failures: 100, cooldown: 1s }
priorities:
  text: [mlx, ollama]
  image: [ollama]
categories:
  agent:
    input: text
    models: { mlx: ${mlxModel}, ollama: "qwen3:8b" }
  local:
    input: text
    models: { ollama: "qwen3:8b" }
  tiny:
    input: text
    models: { ollama: "phi3.5:3.8b" }
  vision:
    input: image
    models: { ollama: "llava:7b" }
`
})

const anthropic = () => new Anthropic({ baseURL: e2e.url, apiKey: "unused", maxRetries: 0 })

const weather: Anthropic.Tool = {
  name: "get_weather",
  description: "Weather for a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

const thrown = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (e: unknown) => e)

describe("@anthropic-ai/sdk -> gateway -> backends -> simulators", () => {
  it("a message answered by sim-mlx, and the same streamed", async () => {
    const client = anthropic()
    const { data, response } = await client.messages
      .create({ model: "agent", max_tokens: 256, thinking: { type: "disabled" }, messages: [{ role: "user", content: "Say hello" }] })
      .withResponse()
    expect(response.headers.get("x-local-router-backend")).toBe("mlx")
    expect(data.stop_reason).toBe("end_turn")
    expect(data.content).toHaveLength(1)
    expect(data.content[0]!.type).toBe("text")
    const text = (data.content[0] as Anthropic.TextBlock).text
    expect(text.length).toBeGreaterThan(0)

    const stream = client.messages.stream({ model: "agent", max_tokens: 256, thinking: { type: "disabled" }, messages: [{ role: "user", content: "Say hello" }] })
    const pieces: Array<string> = []
    stream.on("text", (piece) => pieces.push(piece))
    const final = await stream.finalMessage()
    expect(pieces.length).toBeGreaterThan(1)
    expect(pieces.join("")).toBe(text)
    expect(final.content).toEqual([{ type: "text", text }])
    expect(final.usage.output_tokens).toBeGreaterThan(0)
  })

  for (const category of ["agent", "local"] as const) {
    it(`tools (${category}): a tool_use with its input object, then the tool_result turn answered from the result`, async () => {
      const client = anthropic()
      const request = { model: category, max_tokens: 512, tools: [weather], thinking: { type: "disabled" as const } }
      const ask: Anthropic.MessageParam = { role: "user", content: "use get_weather city=Paris" }
      const { data: first, response } = await client.messages.create({ ...request, messages: [ask] }).withResponse()
      expect(response.headers.get("x-local-router-backend")).toBe(category === "agent" ? "mlx" : "ollama")
      expect(first.stop_reason).toBe("tool_use")
      const calls = first.content.filter((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")
      expect(calls).toHaveLength(1)
      expect(calls[0]!.name).toBe("get_weather")
      expect(calls[0]!.input).toEqual({ city: "Paris" })

      const second = await client.messages.stream({
        ...request,
        messages: [ask, { role: "assistant", content: first.content }, {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: calls[0]!.id, content: "18C sunny" }]
        }]
      }).finalMessage()
      expect(second.stop_reason).toBe("end_turn")
      expect(second.content).toEqual([{ type: "text", text: "Result of get_weather: 18C sunny" }])
    })
  }

  it("parallel tools: two tool_use blocks, both results in one user turn; disable_parallel_tool_use keeps one call", async () => {
    const client = anthropic()
    const time: Anthropic.Tool = { name: "get_time", description: "Time in a city", input_schema: { type: "object", properties: { city: { type: "string" } } } }
    const ask: Anthropic.MessageParam = { role: "user", content: "use get_weather and get_time city=Paris" }
    const request = { model: "local", max_tokens: 512, tools: [weather, time], thinking: { type: "disabled" as const } }
    const both = await client.messages.stream({ ...request, messages: [ask] }).finalMessage()
    const calls = both.content.filter((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")
    expect(calls.map((c) => c.name)).toEqual(["get_weather", "get_time"])
    expect(new Set(calls.map((c) => c.id)).size).toBe(2)
    const answer = await client.messages.create({
      ...request,
      messages: [ask, { role: "assistant", content: both.content }, {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: calls[0]!.id, content: "18C" },
          { type: "tool_result", tool_use_id: calls[1]!.id, content: [{ type: "text", text: "noon" }] }
        ]
      }]
    })
    expect(answer.content).toEqual([{ type: "text", text: "Result of get_weather: 18C Result of get_time: noon" }])
    const one = await client.messages.create({ ...request, tool_choice: { type: "auto", disable_parallel_tool_use: true }, messages: [ask] })
    expect(one.content.filter((b) => b.type === "tool_use").map((b) => (b as Anthropic.ToolUseBlock).name)).toEqual(["get_weather"])
  })

  it("tools streamed: the SDK assembles the tool_use block from input_json_delta", async () => {
    const stream = anthropic().messages.stream({
      model: "local",
      max_tokens: 512,
      tools: [weather],
      thinking: { type: "disabled" },
      messages: [{ role: "user", content: "use get_weather city=Oslo" }]
    })
    const json: Array<string> = []
    stream.on("inputJson", (delta) => json.push(delta))
    const final = await stream.finalMessage()
    expect(final.stop_reason).toBe("tool_use")
    expect(final.content).toMatchObject([{ type: "tool_use", name: "get_weather", input: { city: "Oslo" } }])
    expect(JSON.parse(json.join(""))).toEqual({ city: "Oslo" })
  })

  it("a tool call falls back from a dead MLX server to Ollama, and the trace says so", async () => {
    await e2e.sims.mlx.setFaults([{ kind: "status", status: 503 }])
    const { data, response } = await anthropic().messages
      .create({ model: "agent", max_tokens: 512, tools: [weather], thinking: { type: "disabled" }, messages: [{ role: "user", content: "use get_weather city=Rome" }] })
      .withResponse()
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    expect(response.headers.get("x-local-router-attempts")).toBe("2")
    expect(data.content).toMatchObject([{ type: "tool_use", name: "get_weather", input: { city: "Rome" } }])
    const trace = (data as unknown as { local_router: { trace: { attempts: ReadonlyArray<{ backend: string; outcome: string }> } } }).local_router.trace
    expect(trace.attempts.map((a) => `${a.backend} ${a.outcome}`)).toEqual(["mlx failed", "ollama answered"])
  })

  it("thinking: a thinking block (thinking_delta, then a signature) before the text", async () => {
    const stream = anthropic().messages.stream({
      model: "local",
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [{ role: "user", content: "Why is the sky blue" }]
    })
    const thoughts: Array<string> = []
    stream.on("thinking", (delta) => thoughts.push(delta))
    const final = await stream.finalMessage()
    expect(thoughts.length).toBeGreaterThan(0)
    expect(final.content.map((b) => b.type)).toEqual(["thinking", "text"])
    const block = final.content[0] as Anthropic.ThinkingBlock
    expect(block.thinking).toBe(thoughts.join(""))
    expect(block.signature).not.toBe("")
  })

  it("images: a base64 image block reaches llava through the vision category", async () => {
    const { data, response } = await anthropic().messages.create({
      model: "vision",
      max_tokens: 256,
      messages: [{
        role: "user",
        content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: png.toString("base64") } }, { type: "text", text: "What is in this picture?" }]
      }]
    }).withResponse()
    expect(response.headers.get("x-local-router-model")).toBe("llava:7b")
    expect(data.content[0]!.type).toBe("text")
    const sent = (await e2e.sims.ollama.requests()).at(-1)!
    expect(JSON.stringify(sent)).toContain(png.toString("base64"))
  })

  it("tools against a category whose model has none: a 400 that says why it was skipped", async () => {
    const error = await thrown(anthropic().messages.create({
      model: "tiny",
      max_tokens: 64,
      tools: [weather],
      messages: [{ role: "user", content: "use get_weather city=Paris" }]
    }))
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    const body = (error as InstanceType<typeof Anthropic.APIError>).error as { error: { type: string; message: string } }
    expect(body.error.type).toBe("invalid_request_error")
    expect(body.error.message).toMatch(/ollama.*phi3\.5:3\.8b.*no tool support/)
  })

  const streams: ReadonlyArray<readonly [string, Anthropic.MessageStreamParams]> = [
    ["text", { model: "local", max_tokens: 512, thinking: { type: "disabled" }, messages: [{ role: "user", content: "Tell me a story about a fox" }] }],
    ["thinking", { model: "local", max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "Why is the sky blue" }] }],
    ["tool call", { model: "local", max_tokens: 4096, tools: [weather], thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "use get_weather city=Paris" }] }]
  ]

  // Faults after the commit: the SDK must throw, and never see message_stop.
  const after: ReadonlyArray<Fault> = [
    { kind: "cutAfterTokens", tokens: 2 },
    { kind: "hangAfterTokens", tokens: 2 },
    { kind: "errorBody", message: "model runner crashed", afterTokens: 2 },
    // The simulators break a stream's last line with it, after the tokens.
    { kind: "malformedJson" }
  ]
  for (const fault of after) {
    for (const [name, params] of streams) {
      it(`${fault.kind} in a ${name} stream: the SDK throws an APIError, it never sees message_stop`, async () => {
        await e2e.sims.ollama.setFaults([fault])
        const stream = anthropic().messages.stream(params)
        const events: Array<string> = []
        stream.on("streamEvent", (event) => events.push(event.type))
        const error = await thrown(stream.finalMessage())
        expect(error).toBeInstanceOf(Anthropic.APIError)
        expect((error as Error).message).toMatch(/failed after the answer had started/)
        expect(events[0]).toBe("message_start")
        expect(events).not.toContain("message_stop")
      })
    }
  }

  // Faults before the commit: MLX fails, Ollama answers, and the stream looks as if nothing happened.
  const before: ReadonlyArray<Fault> = [
    { kind: "status", status: 503 },
    { kind: "status", status: 500 },
    { kind: "dropConnection" },
    { kind: "cutAfterTokens", tokens: 0 },
    { kind: "errorBody", message: "out of memory", afterTokens: 0 }
  ]
  for (const fault of before) {
    it(`${fault.kind}${"status" in fault ? ` ${fault.status}` : ""} on MLX before the first token: a streamed tool call comes from Ollama instead`, async () => {
      await e2e.sims.mlx.setFaults([fault])
      const stream = anthropic().messages.stream({
        model: "agent",
        max_tokens: 512,
        tools: [weather],
        thinking: { type: "disabled" },
        messages: [{ role: "user", content: "use get_weather city=Lima" }]
      })
      const final = await stream.finalMessage()
      expect(final.content).toMatchObject([{ type: "tool_use", name: "get_weather", input: { city: "Lima" } }])
      expect(final.stop_reason).toBe("tool_use")
      const headers = (await stream.withResponse()).response.headers
      expect(headers.get("x-local-router-backend")).toBe("ollama")
    })
  }

  // Last: the servers' Retry-After may rest their circuits for a moment.
  it("every server answering 429: the SDK gets a RateLimitError (429 rate_limit_error)", async () => {
    await Promise.all([e2e.sims.mlx.setFaults([{ kind: "status", status: 429, retryAfter: 0 }]), e2e.sims.ollama.setFaults([{ kind: "status", status: 429, retryAfter: 0 }])])
    const error = await thrown(anthropic().messages.create({ model: "agent", max_tokens: 64, messages: [{ role: "user", content: "hi" }] }))
    expect(error).toBeInstanceOf(Anthropic.RateLimitError)
    const body = (error as InstanceType<typeof Anthropic.APIError>).error as { error: { type: string; message: string } }
    expect(body.error.type).toBe("rate_limit_error")
    expect(body.error.message).toMatch(/mlx failed/)
    expect(body.error.message).toMatch(/ollama failed/)
  })
})
