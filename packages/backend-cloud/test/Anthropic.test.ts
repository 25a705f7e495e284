/**
 * Anthropic's translation, as tables and recorded streams (protocols.md Part 2 §E): the
 * request body for tools, tool results, tool choice and thinking, and the SSE reader fed the
 * SDK's recorded tool_use stream one byte at a time. The same paths against sim-anthropic, a
 * real process, are in CloudBackend.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Backend, type BackendError, Sse } from "@local-router/core"
import { Generated } from "@local-router/core/testing"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Anthropic } from "../src/index.ts"

const client: Anthropic.Client = {
  backend: "claude",
  baseUrl: "http://127.0.0.1:1",
  apiKey: Redacted.make("sk-ant-x"),
  version: Anthropic.DEFAULT_VERSION,
  defaultMaxTokens: 1000
}
const source = { backend: "claude", model: "claude-sonnet-4-5" }

const decode = (wire: string): Effect.Effect<ReadonlyArray<Backend.GenerateEvent>, BackendError.BackendError> =>
  Effect.suspend(() => {
    const reader = Sse.reader<Backend.GenerateEvent>(source, [], Anthropic.protocol(source))
    const events: Array<Backend.GenerateEvent> = []
    for (const piece of [...Array.from(Buffer.from(wire), (b) => Buffer.of(b)), undefined]) {
      const read = reader.read(piece)
      events.push(...read.events)
      if (read.failure) return Effect.fail(read.failure)
      if (read.done) break
    }
    return Effect.succeed(events)
  })

const frame = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

// The SDK's recorded tool_use stream (tests/lib/streaming/fixtures/tool_use_response.txt), with
// its fragments as recorded: text block, ping, a tool_use block starting with `input: {}` and
// an empty first partial_json, stop_reason tool_use.
const toolUseStream = [
  frame("message_start", {
    message: { id: "msg_019Q1hrJbZG26Fb9BQhrkHEr", type: "message", role: "assistant", model: "claude-sonnet-4-20250514", content: [], stop_reason: null, usage: { input_tokens: 377, output_tokens: 1 } }
  }),
  frame("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
  frame("ping", {}),
  frame("content_block_delta", { index: 0, delta: { type: "text_delta", text: "I'll check the current weather in Paris for you." } }),
  frame("content_block_stop", { index: 0 }),
  frame("content_block_start", { index: 1, content_block: { type: "tool_use", id: "toolu_01NRLabsLyVHZPKxbKvkfSMn", name: "get_weather", input: {} } }),
  frame("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "" } }),
  frame("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "{\"locati" } }),
  frame("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "on\": \"P" } }),
  frame("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "ar" } }),
  frame("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "is\"}" } }),
  frame("content_block_stop", { index: 1 }),
  frame("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 65 } }),
  frame("message_stop", {})
].join("")

// A thinking block (stream-a-refusal.sse's shape): thinking_deltas, then a signature_delta
// before its stop, then the text.
const thinkingStream = [
  frame("message_start", { message: { content: [], usage: { input_tokens: 10, output_tokens: 1 } } }),
  frame("content_block_start", { index: 0, content_block: { type: "thinking", thinking: "", signature: "" } }),
  frame("content_block_delta", { index: 0, delta: { type: "thinking_delta", thinking: "The user asks" } }),
  frame("content_block_delta", { index: 0, delta: { type: "thinking_delta", thinking: " for 2+2." } }),
  frame("content_block_delta", { index: 0, delta: { type: "signature_delta", signature: "EqQBCgIYAhIM" } }),
  frame("content_block_stop", { index: 0 }),
  frame("content_block_start", { index: 1, content_block: { type: "text", text: "" } }),
  frame("content_block_delta", { index: 1, delta: { type: "text_delta", text: "4" } }),
  frame("content_block_stop", { index: 1 }),
  frame("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 12 } }),
  frame("message_stop", {})
].join("")

describe("Anthropic.protocol: tool_use and thinking blocks", () => {
  it.effect("the recorded tool_use stream: text, then Start with Anthropic's id, the fragments joined, End at the block's stop, Done tool_calls", () =>
    Effect.map(decode(toolUseStream), (events) => {
      expect(Generated.textOf(events)).toBe("I'll check the current weather in Paris for you.")
      expect(Generated.toolCallsOf(events)).toEqual([{ id: "toolu_01NRLabsLyVHZPKxbKvkfSMn", name: "get_weather", arguments: `{"location": "Paris"}` }])
      const tags = events.map((e) => e._tag)
      // The empty first partial_json is no delta.
      expect(tags.filter((t) => t === "ToolCallDelta")).toHaveLength(4)
      expect(tags.slice(-4)).toEqual(["ToolCallDelta", "ToolCallEnd", "Usage", "Done"])
      expect(events.at(-2)).toMatchObject({ usage: { inputTokens: 377, outputTokens: 65 } })
      expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" })
    }))

  it.effect("thinking_delta is reasoning, apart from the text; the signature is not text", () =>
    Effect.map(decode(thinkingStream), (events) => {
      expect(Generated.reasoningOf(events)).toBe("The user asks for 2+2.")
      expect(Generated.textOf(events)).toBe("4")
      expect(events.map((e) => e._tag)).toEqual(["ReasoningDelta", "ReasoningDelta", "TextDelta", "Usage", "Done"])
    }))

  it.effect("llama-server's Anthropic route defers every block stop to the end: a call still ends before the next one starts", () =>
    Effect.map(
      decode([
        frame("message_start", { message: { content: [] } }),
        frame("content_block_start", { index: 0, content_block: { type: "tool_use", id: "a", name: "f" } }),
        frame("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "{}" } }),
        frame("content_block_start", { index: 1, content_block: { type: "tool_use", id: "b", name: "g" } }),
        frame("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "{\"x\":1}" } }),
        frame("content_block_stop", { index: 0 }),
        frame("content_block_stop", { index: 1 }),
        frame("message_delta", { delta: { stop_reason: "tool_use" } }),
        frame("message_stop", {})
      ].join("")),
      (events) => {
        expect(events.filter((e) => e._tag.startsWith("ToolCall")).map((e) => `${e._tag}:${(e as { index: number }).index}`)).toEqual([
          "ToolCallStart:0",
          "ToolCallDelta:0",
          "ToolCallEnd:0",
          "ToolCallStart:1",
          "ToolCallDelta:1",
          "ToolCallEnd:1"
        ])
        expect(Generated.toolCallsOf(events).map((c) => c.id)).toEqual(["a", "b"])
      }
    ))

  it.effect("a stream cut inside a tool_use block is StreamCut saying so, after the fragments that came", () =>
    Effect.gen(function*() {
      const cut = toolUseStream.slice(0, toolUseStream.indexOf("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1"))
      const error = yield* Effect.flip(decode(cut))
      expect(error.reason).toBe("StreamCut")
      expect(error.message).toContain("in the middle of a tool call")
    }))

  it.effect("tool input for a block that is not an open tool_use is Upstream", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(
        frame("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
          frame("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "{" } })
      ))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("not an open tool_use block")
    }))

  it("stop reasons: tool_use -> tool_calls, end_turn/stop_sequence -> stop, max_tokens -> length, refusal/pause_turn -> other", () => {
    expect(["tool_use", "end_turn", "stop_sequence", "max_tokens", "refusal", "pause_turn"].map(Anthropic.finishReasonOf))
      .toEqual(["tool_calls", "stop", "stop", "length", "other", "other"])
  })
})

describe("Anthropic.body: tools, results, tool choice, thinking", () => {
  const weather: Backend.Tool = { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] } }
  const conversation: ReadonlyArray<Backend.Message> = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Weather in Paris and Rome?" },
    {
      role: "assistant",
      content: "Checking.",
      reasoning: "two calls",
      toolCalls: [
        { id: "toolu_01A", name: "get_weather", arguments: `{"location":"Paris"}` },
        // mlx_lm's uuid is fine; a foreign character is not.
        { id: "call.2", name: "get_weather", arguments: "" }
      ]
    },
    { role: "tool", content: "18C sunny", toolCallId: "toolu_01A", toolName: "get_weather" },
    { role: "tool", content: "21C", toolCallId: "call.2", toolName: "get_weather" },
    { role: "user", content: "And tomorrow?" }
  ]

  it("tool_use blocks with object input, every result in one user turn before its text, ids fitted to Anthropic's pattern", () => {
    const body = Anthropic.body(client, { model: "claude-sonnet-4-5", messages: conversation, tools: [weather] })
    expect(body["system"]).toBe("Be brief.")
    expect(body["messages"]).toEqual([
      { role: "user", content: "Weather in Paris and Rome?" },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Checking." },
          { type: "tool_use", id: "toolu_01A", name: "get_weather", input: { location: "Paris" } },
          { type: "tool_use", id: "call_2", name: "get_weather", input: {} }
        ]
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_01A", content: "18C sunny" },
          { type: "tool_result", tool_use_id: "call_2", content: "21C" },
          { type: "text", text: "And tomorrow?" }
        ]
      }
    ])
    expect(body["tools"]).toEqual([{ name: "get_weather", description: "Weather", input_schema: weather.parameters }])
    expect(body).not.toHaveProperty("tool_choice")
  })

  it("tool choice: auto, none, any (required), tool (named); parallelToolCalls false adds disable_parallel_tool_use", () => {
    const choice = (toolChoice?: Backend.ToolChoice, parallelToolCalls?: boolean) =>
      Anthropic.body(client, {
        model: "m",
        messages: [{ role: "user", content: "x" }],
        tools: [weather],
        ...(toolChoice === undefined ? {} : { toolChoice }),
        ...(parallelToolCalls === undefined ? {} : { parallelToolCalls })
      })["tool_choice"]
    expect(choice({ _tag: "Auto" })).toEqual({ type: "auto" })
    expect(choice({ _tag: "None" })).toEqual({ type: "none" })
    expect(choice({ _tag: "Required" }, false)).toEqual({ type: "any", disable_parallel_tool_use: true })
    expect(choice({ _tag: "Named", name: "get_weather" })).toEqual({ type: "tool", name: "get_weather" })
    expect(choice(undefined, false)).toEqual({ type: "auto", disable_parallel_tool_use: true })
    expect(choice(undefined)).toBeUndefined()
  })

  it("thinking: a budget from the effort on top of the answer's limit, temperature dropped (Anthropic refuses it with thinking)", () => {
    const on = Anthropic.body(client, {
      model: "m",
      messages: [{ role: "user", content: "x" }],
      reasoning: { _tag: "On", effort: "low" },
      options: { maxTokens: 500, temperature: 0.2 }
    })
    expect(on["thinking"]).toEqual({ type: "enabled", budget_tokens: 2048 })
    expect(on["max_tokens"]).toBe(2548)
    expect(on).not.toHaveProperty("temperature")
    expect(Anthropic.thinkingBudget({ _tag: "On", effort: "minimal" })).toBe(1024)
    expect(Anthropic.thinkingBudget({ _tag: "On" })).toBe(8192)
    const off = Anthropic.body(client, { model: "m", messages: [{ role: "user", content: "x" }], reasoning: { _tag: "Off" }, options: { temperature: 0.2 } })
    expect(off).not.toHaveProperty("thinking")
    expect(off["temperature"]).toBe(0.2)
    expect(off["max_tokens"]).toBe(1000)
  })

  it("a forced tool (any / tool) goes without thinking: Anthropic refuses the two together", () => {
    const body = Anthropic.body(client, {
      model: "m",
      messages: [{ role: "user", content: "x" }],
      tools: [weather],
      toolChoice: { _tag: "Required" },
      reasoning: { _tag: "On", effort: "high" }
    })
    expect(body["tool_choice"]).toEqual({ type: "any" })
    expect(body).not.toHaveProperty("thinking")
    expect(body["max_tokens"]).toBe(1000)
  })

  it("a JSON Schema (only for a model routing.yaml declares it for) goes as output_config.format", () => {
    const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false }
    const body = Anthropic.body(client, { model: "m", messages: [{ role: "user", content: "x" }], responseFormat: { _tag: "JsonSchema", name: "a", schema } })
    expect(body["output_config"]).toEqual({ format: { type: "json_schema", schema } })
  })
})

describe("Anthropic.protocol: hostile streams", () => {
  const random = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const pick = <A>(next: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!
  const frames = (next: () => number): string => {
    const index = Math.floor(next() * 3)
    return pick(next, [
      frame("content_block_start", { index, content_block: pick(next, [{ type: "tool_use", id: `t${index}`, name: "f", input: {} }, { type: "text", text: "" }, { type: "thinking" }, { type: "tool_use" }, null]) }),
      frame("content_block_delta", { index, delta: pick(next, [{ type: "input_json_delta", partial_json: "{\"a\":" }, { type: "text_delta", text: "x" }, { type: "thinking_delta", thinking: "t" }, { type: "input_json_delta" }, "d"]) }),
      frame("content_block_stop", { index }),
      frame("message_delta", { delta: { stop_reason: pick(next, ["tool_use", "end_turn", "max_tokens", 3]) } }),
      frame("ping", {}),
      frame("message_stop", {}),
      "event: content_block_delta\ndata: {\n\n",
      frame("error", { error: { type: pick(next, ["overloaded_error", "api_error"]), message: "m" } })
    ])
  }

  it.effect("1000 random event sequences: never a throw; one Done or one BackendError; every started call ended once, numbered 0..n-1", () =>
    Effect.gen(function*() {
      const next = random(7)
      for (let n = 0; n < 1000; n++) {
        const wire = Array.from({ length: 1 + Math.floor(next() * 10) }, () => frames(next)).join("")
        const result = yield* Effect.result(decode(wire))
        if (result._tag === "Failure") {
          expect(["Upstream", "StreamCut", "Overloaded"]).toContain(result.failure.reason)
          continue
        }
        const events = result.success
        expect(events.filter((e) => e._tag === "Done")).toHaveLength(1)
        const started = events.flatMap((e) => (e._tag === "ToolCallStart" ? [e.index] : []))
        expect(events.flatMap((e) => (e._tag === "ToolCallEnd" ? [e.index] : []))).toEqual(started)
        expect(started).toEqual(started.map((_, i) => i))
      }
    }))
})
