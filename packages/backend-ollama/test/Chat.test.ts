/** The pure translation to and from /api/chat, as tables. */
import { describe, expect, it } from "@effect/vitest"
import type { Backend } from "@local-router/core"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { Chat, Embed, OllamaOptions, Show } from "../src/index.ts"

const options = (raw: Record<string, unknown> = {}) => Schema.decodeUnknownSync(OllamaOptions.OllamaOptions)(raw)
const image = { data: new Uint8Array([1, 2, 3]), mime: "image/png" }

const final = (extra: Partial<Chat.ChatChunk>): Chat.ChatChunk & Record<string, unknown> => ({
  message: { role: "assistant", content: "" },
  done: true,
  done_reason: "stop",
  total_duration: 1,
  load_duration: 1,
  prompt_eval_count: 26,
  prompt_eval_duration: 1,
  eval_count: 3,
  eval_duration: 1,
  ...extra
})

describe("Chat.toChatRequest", () => {
  it("a caption task with no words asks the vision model for a caption of that length", () => {
    const request = Result.getOrThrow(Chat.toChatRequest(
      { model: "moondream", messages: [{ role: "user", content: "", images: [image] }], task: { _tag: "Caption", length: "short" } },
      options()
    ))
    expect(request.messages).toEqual([{ role: "user", content: "Describe this image in one short sentence.", images: [image.data] }])
  })

  it("a caption task keeps the user's own words", () => {
    const request = Result.getOrThrow(Chat.toChatRequest(
      { model: "moondream", messages: [{ role: "user", content: "What breed?", images: [image] }], task: { _tag: "Caption", length: "long" } },
      options()
    ))
    expect(request.messages[0]?.content).toBe("What breed?")
  })

  it("a per-request keep-alive hint beats routing.yaml's; no options means no options key", () => {
    const request = Result.getOrThrow(Chat.toChatRequest({ model: "m", messages: [], extra: { keepAlive: "-1m" } }, options({ keepAlive: "5m" })))
    expect(request.keep_alive).toBe("-1m")
    expect("options" in request).toBe(false)
  })

  it("keepAlive without a unit is rejected at config time (Ollama would answer 400)", () => {
    expect(() => options({ keepAlive: "300" })).toThrow(/duration/)
    expect(options({ keepAlive: 300 }).keepAlive).toBe(300)
  })
})

/** One chunk read as the first of an answer. */
const eventsOf = (chunk: Chat.ChatChunk) => {
  const events = Chat.answer().eventsOf(chunk)
  if (typeof events === "string") throw new Error(events)
  return events
}

describe("Chat.answer", () => {
  it.each([
    ["stop", "stop"],
    ["length", "length"],
    ["load", "other"],
    [undefined, "stop"]
  ] as const)("done_reason %s finishes as %s", (doneReason, finishReason) => {
    const chunk = final({})
    const events = eventsOf(doneReason === undefined ? { ...chunk, done_reason: undefined as unknown as string } : { ...chunk, done_reason: doneReason })
    expect(events.at(-1)).toMatchObject({ _tag: "Done", finishReason })
  })

  it("metrics absent on the wire (omitempty) give no Usage rather than zeros", () => {
    const { prompt_eval_count: _p, eval_count: _e, ...chunk } = final({})
    const events = eventsOf(chunk)
    expect(events.map((e) => e._tag)).toEqual(["Done"])
  })

  it("a token chunk is one TextDelta; an empty one is nothing", () => {
    expect(eventsOf({ ...final({}), done: false, message: { role: "assistant", content: " sky" } })).toMatchObject([{ _tag: "TextDelta", text: " sky" }])
    expect(eventsOf({ ...final({}), done: false })).toEqual([])
  })
})

describe("Chat.toChatRequest: tools, results, format, think (protocols.md Part 2 §A)", () => {
  const weather: Backend.Tool = { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
  const time: Backend.Tool = { name: "get_time", parameters: { type: "object", properties: {} } }
  const turn: ReadonlyArray<Backend.Message> = [
    { role: "user", content: "Weather in Tokyo?" },
    { role: "assistant", content: "", reasoning: "Need it.", toolCalls: [{ id: "call_k3v9x0ab", name: "get_weather", arguments: `{"city":"Tokyo"}` }] },
    // A client that sends only the call id (OpenAI's shape): the name comes from the call.
    { role: "tool", content: "11 degrees celsius", toolCallId: "call_k3v9x0ab" }
  ]
  const of = (request: Partial<Backend.GenerateRequest>) => Chat.toChatRequest({ model: "qwen3:8b", messages: turn, ...request }, options())

  it("the assistant's calls with object arguments and its thinking; the result by tool_name and the call id", () => {
    const request = Result.getOrThrow(of({ tools: [weather] }))
    expect(request.messages).toEqual([
      { role: "user", content: "Weather in Tokyo?" },
      { role: "assistant", content: "", thinking: "Need it.", tool_calls: [{ id: "call_k3v9x0ab", function: { name: "get_weather", arguments: { city: "Tokyo" } } }] },
      { role: "tool", content: "11 degrees celsius", tool_name: "get_weather", tool_call_id: "call_k3v9x0ab" }
    ])
    expect(request.tools).toEqual([{ type: "function", function: { name: "get_weather", description: "Weather", parameters: weather.parameters } }])
    expect(request).not.toHaveProperty("tool_choice")
    expect(request).not.toHaveProperty("parallel_tool_calls")
  })

  it("tool choice Ollama cannot say: none sends no tools, a named tool is sent alone, an unknown name is an error", () => {
    expect(Result.getOrThrow(of({ tools: [weather, time], toolChoice: { _tag: "None" } }))).not.toHaveProperty("tools")
    const named = Result.getOrThrow(of({ tools: [weather, time], toolChoice: { _tag: "Named", name: "get_time" } }))
    expect((named.tools as ReadonlyArray<{ function: { name: string } }>).map((t) => t.function.name)).toEqual(["get_time"])
    const unknown = of({ tools: [weather], toolChoice: { _tag: "Named", name: "nope" } })
    expect(Result.isFailure(unknown) && unknown.failure).toContain(`"nope", which is not one of the request's tools`)
  })

  it("arguments that are not a JSON object are a BadRequest naming the call; empty arguments are {}", () => {
    const bad = Chat.toChatRequest({ model: "m", messages: [{ role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "{city:" }] }] }, options())
    expect(Result.isFailure(bad) && bad.failure).toContain("tool call c1 (f) are not a JSON object")
    const empty = Result.getOrThrow(Chat.toChatRequest({ model: "m", messages: [{ role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "" }] }] }, options()))
    expect(empty.messages[0]?.tool_calls?.[0]?.function.arguments).toEqual({})
  })

  it.each([
    [{ _tag: "Json" } as const, "json"],
    [{ _tag: "JsonSchema", name: "p", schema: { type: "object" } } as const, { type: "object" }],
    [{ _tag: "Text" } as const, undefined]
  ])("format %j is %j", (responseFormat, format) => {
    expect(Result.getOrThrow(of({ responseFormat })).format).toEqual(format)
  })

  it.each([
    [{ _tag: "Off" } as const, false],
    [{ _tag: "On" } as const, true],
    [{ _tag: "On", effort: "high" } as const, "high"],
    [{ _tag: "On", effort: "minimal" } as const, "low"],
    [undefined, undefined]
  ])("reasoning %j is think %j", (reasoning, think) => {
    expect(Result.getOrThrow(of(reasoning === undefined ? {} : { reasoning })).think).toEqual(think)
  })

  it("gpt-oss takes levels only (booleans are ignored): off is low, on is medium", () => {
    const oss = (reasoning: Backend.Reasoning) => Result.getOrThrow(Chat.toChatRequest({ model: "gpt-oss:20b", messages: turn, reasoning }, options())).think
    expect([oss({ _tag: "Off" }), oss({ _tag: "On" }), oss({ _tag: "On", effort: "high" })]).toEqual(["low", "medium", "high"])
  })
})

describe("Chat.answer: whole tool calls, thinking, finish", () => {
  const line = (message: Record<string, unknown>, done = false): Chat.ChatChunk => ({ message: { content: "", ...message }, done })

  it("a whole call is Start, one Delta with the whole JSON, End, at once; the server's id is kept; a tool turn ending `stop` is tool_calls", () => {
    const answer = Chat.answer()
    const first = answer.eventsOf(line({ thinking: "Tokyo weather" }))
    const call = answer.eventsOf(line({ tool_calls: [{ id: "call_a1b2c3d4", function: { index: 0, name: "get_weather", arguments: { city: "Tokyo" } } }] }))
    const last = answer.eventsOf({ ...final({}), done_reason: "stop" })
    expect(first).toEqual([expect.objectContaining({ _tag: "ReasoningDelta", text: "Tokyo weather" })])
    expect(call).toEqual([
      expect.objectContaining({ _tag: "ToolCallStart", index: 0, id: "call_a1b2c3d4", name: "get_weather" }),
      expect.objectContaining({ _tag: "ToolCallDelta", index: 0, arguments: `{"city":"Tokyo"}` }),
      expect.objectContaining({ _tag: "ToolCallEnd", index: 0 })
    ])
    expect((last as ReadonlyArray<Backend.GenerateEvent>).at(-1)).toMatchObject({ _tag: "Done", finishReason: "tool_calls" })
  })

  it("an older Ollama's call without id or index gets a call_ id of its own, and calls count on across chunks", () => {
    const answer = Chat.answer()
    const a = answer.eventsOf(line({ tool_calls: [{ function: { name: "f", arguments: {} } }] }))
    const b = answer.eventsOf(line({ tool_calls: [{ function: { name: "g", arguments: { x: 1 } } }] }))
    const starts = [...(a as ReadonlyArray<Backend.GenerateEvent>), ...(b as ReadonlyArray<Backend.GenerateEvent>)].filter((e) => e._tag === "ToolCallStart")
    expect(starts.map((e) => [e.index, e.name])).toEqual([[0, "f"], [1, "g"]])
    for (const start of starts) expect(start.id).toMatch(/^call_[a-z0-9]{8}$/)
    expect(starts[0]!.id).not.toBe(starts[1]!.id)
  })

  it("the native path (GGUF through the embedded llama-server) sends every call on the final done chunk: calls, then Usage, then Done tool_calls", () => {
    const events = Chat.answer().eventsOf({
      ...final({}),
      message: {
        role: "assistant",
        content: "",
        // llama-server's own 32-character id, copied through unchanged.
        tool_calls: [{ id: "Qm3xY7pLk2VnB8rT4wZs9dHf6gJc1aNe", function: { index: 0, name: "get_weather", arguments: { city: "Tokyo" } } }]
      }
    }) as ReadonlyArray<Backend.GenerateEvent>
    expect(events.map((e) => e._tag)).toEqual(["ToolCallStart", "ToolCallDelta", "ToolCallEnd", "Usage", "Done"])
    expect(events[0]).toMatchObject({ id: "Qm3xY7pLk2VnB8rT4wZs9dHf6gJc1aNe" })
    expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" })
  })

  it("oneToolCall keeps the first call of a parallel turn only", () => {
    const events = Chat.answer({ oneToolCall: true }).eventsOf(line({
      tool_calls: [{ id: "call_1", function: { index: 0, name: "f", arguments: {} } }, { id: "call_2", function: { index: 1, name: "g", arguments: {} } }]
    }))
    expect((events as ReadonlyArray<Backend.GenerateEvent>).filter((e) => e._tag === "ToolCallStart")).toHaveLength(1)
  })

  it("a call without a function name is an error, never a call", () => {
    expect(Chat.answer().eventsOf(line({ tool_calls: [{ id: "x", function: { arguments: {} } }] }))).toContain("without a function name")
  })
})

describe("Chat.answer: hostile chunks", () => {
  const random = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const pick = <A>(next: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!
  const calls: ReadonlyArray<unknown> = [
    { id: "call_a", function: { index: 0, name: "f", arguments: { a: 1 } } },
    { function: { name: "g", arguments: "{\"b\":2}" } },
    { function: { name: "h" } },
    { function: { name: "" } },
    { function: null },
    null,
    7
  ]

  it("1000 random answers: never a throw; calls whole (Start, Delta, End) numbered 0..n-1, or an error naming the bad call", () => {
    const next = random(11)
    for (let n = 0; n < 1000; n++) {
      const answer = Chat.answer({ oneToolCall: next() < 0.2 })
      const events: Array<Backend.GenerateEvent> = []
      let failed = false
      for (let i = 0, count = 1 + Math.floor(next() * 5); i < count && !failed; i++) {
        const chunk = {
          message: pick(next, [
            { content: "x", tool_calls: Array.from({ length: Math.floor(next() * 3) }, () => pick(next, calls)) },
            { content: "", thinking: "t" },
            { content: 5, tool_calls: "nope" },
            {}
          ]),
          done: i === count - 1,
          done_reason: pick(next, ["stop", "length", "", "load"])
        } as unknown as Chat.ChatChunk
        const out = answer.eventsOf(chunk)
        if (typeof out === "string") {
          expect(out).toContain("without a function name")
          failed = true
        } else events.push(...out)
      }
      if (failed) continue
      const tags = events.map((e) => e._tag)
      expect(tags.filter((t) => t === "Done")).toHaveLength(1)
      const starts = events.flatMap((e) => (e._tag === "ToolCallStart" ? [e.index] : []))
      expect(events.flatMap((e) => (e._tag === "ToolCallEnd" ? [e.index] : []))).toEqual(starts)
      for (const [i, e] of events.entries()) {
        if (e._tag === "ToolCallStart") expect(tags.slice(i, i + 3)).toEqual(["ToolCallStart", "ToolCallDelta", "ToolCallEnd"])
      }
    }
  })
})

describe("Show.capabilitiesOf and Embed.resultOf", () => {
  it.each([
    [["completion", "tools", "thinking"], { text: true, images: false, tools: true, jsonSchema: true, reasoning: true, embeddings: false }],
    [["completion", "vision"], { text: true, images: true, tools: false, jsonSchema: true, reasoning: false, embeddings: false }],
    [["embedding"], { text: false, images: false, tools: false, jsonSchema: false, reasoning: false, embeddings: true }],
    [["completion", "insert", "audio", "image"], { text: true, images: false, tools: false, jsonSchema: true, reasoning: false, embeddings: false }]
  ])("/api/show capabilities %j -> %j", (capabilities, expected) => {
    expect(Show.capabilitiesOf(capabilities)).toEqual(expected)
  })

  it("an Ollama too old to list capabilities says nothing (the backend's declarations hold)", () => {
    expect(Show.capabilitiesOf(undefined)).toEqual({})
  })

  it("/api/embed answers are checked: one vector per input, numbers only", () => {
    const request = { model: "all-minilm", input: ["a", "b"] }
    expect(Embed.resultOf("o", request, { model: "all-minilm", embeddings: [[1], [0]], prompt_eval_count: 4 }))
      .toEqual({ model: "all-minilm", vectors: [[1], [0]], usage: { inputTokens: 4 } })
    expect(Embed.resultOf("o", request, { embeddings: [[1]] })).toContain("1 vector(s) for 2 input(s)")
    expect(Embed.resultOf("o", request, { embeddings: [[1], ["x"]] })).toContain("vector 1 is not a list of numbers")
    expect(Embed.resultOf("o", request, { error: "x" })).toContain(`without "embeddings"`)
  })

  it("the /api/embed body: the batch, dimensions, and truncate / keep_alive from extra", () => {
    expect(Embed.body({ model: "m", input: ["a"], dimensions: 64, extra: { truncate: false, keepAlive: "1m" } }, "5m"))
      .toEqual({ model: "m", input: ["a"], dimensions: 64, truncate: false, keep_alive: "1m" })
    expect(Embed.body({ model: "m", input: ["a"] }, undefined)).toEqual({ model: "m", input: ["a"] })
  })
})
