import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { Backend, BackendError } from "../src/index.ts"
import { Events, OpenAiChat, Sse } from "../src/index.ts"

const source = { backend: "mlx", model: "m1" }
const client: OpenAiChat.Client = { backend: "mlx", baseUrl: "http://127.0.0.1:1/v1" }

/**
 * Wire text -> events through the reader HttpCall.events uses in production (`Sse.reader` with
 * the chat protocol), fed one byte at a time (the hardest chunking a server can produce).
 */
const decode = (wire: string, options?: OpenAiChat.ReadOptions): Effect.Effect<ReadonlyArray<Backend.GenerateEvent>, BackendError.BackendError> =>
  Effect.suspend(() => {
    const reader = Sse.reader<Backend.GenerateEvent>(source, [], OpenAiChat.protocol(source, options))
    const events: Array<Backend.GenerateEvent> = []
    for (const piece of [...Array.from(Buffer.from(wire), (b) => Buffer.of(b)), undefined]) {
      const read = reader.read(piece)
      events.push(...read.events)
      if (read.failure) return Effect.fail(read.failure)
      if (read.done) break
    }
    return Effect.succeed(events)
  })

const text = (events: ReadonlyArray<Backend.GenerateEvent>) =>
  events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")

const reasoning = (events: ReadonlyArray<Backend.GenerateEvent>) =>
  events.flatMap((e) => (e._tag === "ReasoningDelta" ? [e.text] : [])).join("")

/** The tool calls the events describe: id, name and the arguments' JSON text, by index. */
const calls = (events: ReadonlyArray<Backend.GenerateEvent>) => {
  const out: Array<{ id: string; name: string; arguments: string; ended: boolean }> = []
  for (const e of events) {
    if (e._tag === "ToolCallStart") out[e.index] = { id: e.id, name: e.name, arguments: "", ended: false }
    if (e._tag === "ToolCallDelta") out[e.index]!.arguments += e.arguments
    if (e._tag === "ToolCallEnd") out[e.index]!.ended = true
  }
  return out
}

// protocols.md §2.5: mlx_lm repeats the role on every delta, sends keepalive comments before
// the first token, and a usage chunk with empty choices before [DONE].
const mlxStream = `: keepalive 2048/9731

: keepalive 4096/9731

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m1","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"def"}}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m1","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":" add"}}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m1","choices":[{"index":0,"finish_reason":"length","delta":{"role":"assistant"}}]}

data: {"id":"chatcmpl-1","object":"chat.completion","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":14,"total_tokens":45}}

data: [DONE]

`

describe("OpenAiChat.protocol (an SSE answer read as HttpCall.events reads it)", () => {
  it.effect("mlx_lm: keepalives skipped, deltas, usage, then one Done with the finish reason", () =>
    Effect.map(decode(mlxStream), (events) => {
      expect(events.map((e) => e._tag)).toEqual(["TextDelta", "TextDelta", "Usage", "Done"])
      expect(text(events)).toBe("def add")
      expect(events[2]).toMatchObject({ usage: { inputTokens: 31, outputTokens: 14 } })
      expect(events[3]).toMatchObject({ finishReason: "length" })
    }))

  it.effect("OpenAI: an empty role chunk emits nothing, `usage: null` is ignored, CRLF framing works", () =>
    Effect.map(
      decode(
        [
          `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`,
          `data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}`,
          `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
          `data: [DONE]`,
          ""
        ].join("\r\n\r\n")
      ),
      (events) => expect(events.map((e) => e._tag)).toEqual(["TextDelta", "Done"])
    ))

  it.effect("a stream that ends after a finish reason but without [DONE] still ends with Done", () =>
    Effect.map(
      decode(`data: {"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n`),
      (events) => expect(events.map((e) => e._tag)).toEqual(["TextDelta", "Done"])
    ))

  it.effect("a stream that ends without [DONE] or a finish reason is StreamCut", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: {"choices":[{"delta":{"content":"half an ans"},"finish_reason":null}]}\n\n`))
      expect(error.reason).toBe("StreamCut")
      expect(error.backend).toBe("mlx")
    }))

  it.effect("`data: {\"error\": …}` after tokens fails with Upstream quoting the server", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"error":"[metal] out of memory"}\n\n`))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("[metal] out of memory")
    }))

  it.effect("OpenRouter: processing comments skipped; a numeric 429 error code mid-stream is Overloaded", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(
        `: OPENROUTER PROCESSING\n\ndata: {"error":{"code":429,"message":"Provider rate limited"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}\n\n`
      ))
      expect(error.reason).toBe("Overloaded")
      expect(error.message).toContain("Provider rate limited")
    }))

  it.effect("OpenRouter: finish_reason \"error\" is a failure, not an answer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: {"choices":[{"delta":{"content":"par"},"finish_reason":"error"}]}\n\ndata: [DONE]\n\n`))
      expect(error.reason).toBe("Upstream")
    }))

  it.effect("llama-server: its `error:` line fails the stream instead of an empty clean answer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`error: {"code":400,"message":"the request exceeds the available context size","type":"invalid_request_error"}\n\ndata: [DONE]\n\n`))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("exceeds the available context size")
    }))

  it.effect("data that is not JSON is Upstream", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: <html>502 Bad Gateway</html>\n\n`))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("502 Bad Gateway")
    }))

  it.effect("inline <think> content passes through as text; `reasoning` and `reasoning_content` are ReasoningDeltas", () =>
    Effect.map(
      decode(
        [
          `data: {"choices":[{"delta":{"reasoning":"hmm, the user"}}]}`,
          `data: {"choices":[{"delta":{"reasoning_content":" wants"}}]}`,
          // vLLM, moving from one field to the other, sent both with the same text: read once.
          `data: {"choices":[{"delta":{"reasoning":" 42","reasoning_content":" 42"}}]}`,
          `data: {"choices":[{"delta":{"content":"<think>ok</think>"}}]}`,
          `data: {"choices":[{"delta":{"content":"42"},"finish_reason":"stop"}]}`,
          `data: [DONE]`,
          ""
        ].join("\n\n")
      ),
      (events) => {
        expect(text(events)).toBe("<think>ok</think>42")
        expect(reasoning(events)).toBe("hmm, the user wants 42")
        expect(events.map((e) => e._tag)).toEqual(["ReasoningDelta", "ReasoningDelta", "ReasoningDelta", "TextDelta", "TextDelta", "Done"])
      }
    ))

  it.effect("nothing after [DONE] is read", () =>
    Effect.map(
      decode(`data: {"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\ndata: {"error":"late"}\n\n`),
      (events) => expect(events.map((e) => e._tag)).toEqual(["TextDelta", "Done"])
    ))
})

// protocols.md Part 2 §D.1: OpenAI's recorded parallel-call stream (gpt-4o), fragments cut
// inside JSON tokens, calls one after another, usage after the finish chunk.
const openAiParallel = [
  `data: {"id":"chatcmpl-A","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":null},"logprobs":null,"finish_reason":null}]}`,
  `data: {"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_JMW1whyEaYG438VE1OIflxA2","type":"function","function":{"name":"GetWeatherArgs","arguments":""}}]},"finish_reason":null}]}`,
  `data: {"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]},"finish_reason":null}]}`,
  `data: {"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\\": \\"Edinburgh\\"}"}}]},"finish_reason":null}]}`,
  `data: {"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_DNYTawLBoN8fj3KN6qU9N1Ou","type":"function","function":{"name":"get_stock_price","arguments":""}}]},"finish_reason":null}]}`,
  `data: {"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\\"ti"}}]},"finish_reason":null}]}`,
  `data: {"id":"chatcmpl-A","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"cker\\": \\"AAPL\\"}"}}]},"finish_reason":null}]}`,
  `data: {"id":"chatcmpl-A","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}`,
  `data: {"id":"chatcmpl-A","choices":[],"usage":{"prompt_tokens":44,"completion_tokens":16,"total_tokens":60,"completion_tokens_details":{"reasoning_tokens":0}}}`,
  `data: [DONE]`,
  ""
].join("\n\n")

// §C.1: llama-server: reasoning_content first, a tool header that already holds an arguments
// piece, 32-character ids without a prefix, an empty-delta finish chunk.
const llamaServerTool = [
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}`,
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"reasoning_content":"Need weather."}}],"object":"chat.completion.chunk"}`,
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"Qm3xY7pLk2VnB8rT4wZs9dHf6gJc1aNe","type":"function","function":{"name":"get_weather","arguments":"{\\""}}]}}],"object":"chat.completion.chunk"}`,
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"city\\":\\"Tokyo\\"}"}}]}}],"object":"chat.completion.chunk"}`,
  `data: {"choices":[{"finish_reason":"tool_calls","index":0,"delta":{}}],"object":"chat.completion.chunk","timings":{"prompt_n":44}}`,
  `data: [DONE]`,
  ""
].join("\n\n")

// §B.1: mlx_lm: role on every delta, whole calls (index per response, uuid ids, json.dumps
// spacing) when the tool section closes, reasoning in `reasoning`.
const mlxTools = [
  `: keepalive 128/150`,
  `data: {"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","reasoning":"Two cities."}}]}`,
  `data: {"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","tool_calls":[{"function":{"name":"get_weather","arguments":"{\\"city\\": \\"Tokyo\\"}"},"type":"function","id":"a3c1e2f4-1111-4a5b-9c8d-0123456789ab","index":0}]}}]}`,
  `data: {"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","tool_calls":[{"function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"},"type":"function","id":"b4d2f3a5-2222-4b6c-8d9e-123456789abc","index":1}]}}]}`,
  `data: {"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":"tool_calls","delta":{"role":"assistant"}}]}`,
  `data: [DONE]`,
  ""
].join("\n\n")

describe("OpenAiChat.protocol: tool calls and reasoning (protocols.md Part 2)", () => {
  it.effect("OpenAI parallel calls: Start with id and name, the fragments in order, End before the next call, Done tool_calls", () =>
    Effect.map(decode(openAiParallel), (events) => {
      expect(calls(events)).toEqual([
        { id: "call_JMW1whyEaYG438VE1OIflxA2", name: "GetWeatherArgs", arguments: `{"city": "Edinburgh"}`, ended: true },
        { id: "call_DNYTawLBoN8fj3KN6qU9N1Ou", name: "get_stock_price", arguments: `{"ticker": "AAPL"}`, ended: true }
      ])
      const tags = events.map((e) => e._tag)
      // Call 0 ends before call 1 starts (an Anthropic client needs its block closed first).
      expect(tags.indexOf("ToolCallEnd")).toBeLessThan(tags.lastIndexOf("ToolCallStart"))
      expect(tags.slice(-2)).toEqual(["Usage", "Done"])
      expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" })
      expect(text(events)).toBe("")
    }))

  it.effect("llama-server: reasoning_content is reasoning; a header carrying the first arguments piece keeps it", () =>
    Effect.map(decode(llamaServerTool), (events) => {
      expect(reasoning(events)).toBe("Need weather.")
      expect(calls(events)).toEqual([{ id: "Qm3xY7pLk2VnB8rT4wZs9dHf6gJc1aNe", name: "get_weather", arguments: `{"city":"Tokyo"}`, ended: true }])
      expect(events.map((e) => e._tag)).toEqual(["ReasoningDelta", "ToolCallStart", "ToolCallDelta", "ToolCallDelta", "ToolCallEnd", "Done"])
    }))

  it.effect("mlx_lm: whole calls in one delta each become Start, one Delta with the whole JSON, End", () =>
    Effect.map(decode(mlxTools), (events) => {
      expect(reasoning(events)).toBe("Two cities.")
      expect(calls(events).map((c) => [c.name, JSON.parse(c.arguments), c.ended])).toEqual([
        ["get_weather", { city: "Tokyo" }, true],
        ["get_weather", { city: "Paris" }, true]
      ])
      expect(calls(events)[0]!.id).toBe("a3c1e2f4-1111-4a5b-9c8d-0123456789ab")
      expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" })
    }))

  it.effect("old mlx_lm's `tool_call` and Ollama /v1's `stop` after calls both finish as tool_calls", () =>
    Effect.gen(function*() {
      const call = `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_k3v9x0ab","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`
      for (const reason of ["tool_call", "stop"]) {
        const events = yield* decode(`${call}\n\ndata: {"choices":[{"delta":{},"finish_reason":"${reason}"}]}\n\ndata: [DONE]\n\n`)
        expect(events.at(-1)).toMatchObject({ _tag: "Done", finishReason: "tool_calls" })
      }
    }))

  it.effect("a call cut off by the token limit ends, and the answer finishes as length", () =>
    Effect.map(
      decode(
        `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"x","function":{"name":"f","arguments":"{\\"a\\": 1"}}]}}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":"length"}]}\n\ndata: [DONE]\n\n`
      ),
      (events) => {
        expect(calls(events)).toEqual([{ id: "x", name: "f", arguments: `{"a": 1`, ended: true }])
        expect(events.at(-1)).toMatchObject({ finishReason: "length" })
      }
    ))

  it.effect("a stream cut in the middle of a tool call is StreamCut, saying so, after the fragments that arrived", () =>
    Effect.gen(function*() {
      const half = openAiParallel.slice(0, openAiParallel.indexOf(`{"index":1,"function"`))
      const error = yield* Effect.flip(decode(half.slice(0, half.lastIndexOf("data:"))))
      expect(error.reason).toBe("StreamCut")
      expect(error.message).toContain("in the middle of a tool call")
    }))

  it.effect("a server that sends no id gets one, call_ and 24 characters, different for each call", () =>
    Effect.map(
      decode(
        `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"a","arguments":"{}"}},{"index":1,"function":{"name":"b","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n`
      ),
      (events) => {
        const [a, b] = calls(events)
        expect(a!.id).toMatch(/^call_[0-9a-f]{24}$/)
        expect(b!.id).toMatch(/^call_[0-9a-f]{24}$/)
        expect(a!.id).not.toBe(b!.id)
      }
    ))

  it.effect("oneToolCall (parallelToolCalls: false) keeps the first call only, and the turn still ends in tool calls", () =>
    Effect.map(decode(mlxTools, { oneToolCall: true }), (events) => {
      expect(calls(events).map((c) => JSON.parse(c.arguments))).toEqual([{ city: "Tokyo" }])
      expect(events.filter((e) => e._tag === "ToolCallStart" || e._tag === "ToolCallEnd")).toHaveLength(2)
      expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" })
    }))

  it.effect("fragments for a call that already ended, or a call without a name, are Upstream errors, not a wrong call", () =>
    Effect.gen(function*() {
      const late = yield* Effect.flip(decode([
        `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{"}}]}}]}`,
        `data: {"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}`,
        `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}}]}`,
        ""
      ].join("\n\n")))
      expect(late.reason).toBe("Upstream")
      expect(late.message).toContain("after it ended")
      const nameless = yield* Effect.flip(decode(`data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}\n\n`))
      expect(nameless.message).toContain("without a name")
    }))
})

describe("OpenAiChat.body", () => {
  const request: Backend.GenerateRequest = {
    model: "gpt-4o-mini",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "What is this?", images: [{ data: Uint8Array.of(1, 2, 3), mime: "image/png" }] }
    ],
    options: { temperature: 0.2, topP: 0.9, maxTokens: 64, stop: ["\n\n"], seed: 7 }
  }

  it("maps messages, images as data-URL image_url parts, and options to their wire names", () => {
    const body = Result.getOrThrow(OpenAiChat.body({ ...client, maxTokensField: "max_completion_tokens" }, request))
    expect(body).toEqual({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AQID" } }
          ]
        }
      ],
      temperature: 0.2,
      top_p: 0.9,
      max_completion_tokens: 64,
      stop: ["\n\n"],
      seed: 7,
      stream: true,
      stream_options: { include_usage: true }
    })
  })

  it("uses the client's default token limit when the request gives none, and can leave stream_options out", () => {
    const body = Result.getOrThrow(
      OpenAiChat.body({ ...client, defaultMaxTokens: 4096, streamUsage: false }, { model: "m", messages: [{ role: "user", content: "hi" }] })
    )
    expect(body["max_tokens"]).toBe(4096)
    expect(body).not.toHaveProperty("stream_options")
  })

  it("rejects out-of-range options before sending (mlx_lm would drop the connection)", () => {
    for (const options of [{ temperature: -1 }, { topP: 1.5 }, { maxTokens: 0 }, { maxTokens: 1.5 }, { seed: 0.5 }]) {
      const result = OpenAiChat.body(client, { model: "m", messages: [{ role: "user", content: "hi" }], options })
      expect(Result.isFailure(result) && result.failure.reason).toBe("BadRequest")
    }
  })

  it("extra fields from routing.yaml are passed through but never replace model, messages or stream", () => {
    const body = Result.getOrThrow(
      OpenAiChat.body(client, { model: "m", messages: [{ role: "user", content: "hi" }], extra: { provider: { sort: "price" }, model: "evil", stream: false } })
    )
    expect(body["provider"]).toEqual({ sort: "price" })
    expect(body["model"]).toBe("m")
    expect(body["stream"]).toBe(true)
  })
})

describe("OpenAiChat.body: tools, tool results, response format, reasoning", () => {
  const weather: Backend.Tool = {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
  const time: Backend.Tool = { name: "get_time", parameters: { type: "object", properties: {} } }
  const turn: ReadonlyArray<Backend.Message> = [
    { role: "user", content: "Weather in Tokyo?" },
    { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "get_weather", arguments: `{"city":"Tokyo"}` }], reasoning: "Need weather." },
    { role: "tool", content: "11C", toolCallId: "call_1", toolName: "get_weather" }
  ]
  const bodyOf = (flavour: OpenAiChat.Flavour, request: Partial<Backend.GenerateRequest>) =>
    OpenAiChat.body({ ...client, flavour }, { model: "m", messages: turn, ...request })

  it("a tool turn: the assistant's calls with arguments as JSON text and content null, the result tied to its call id", () => {
    const body = Result.getOrThrow(bodyOf("openai", { tools: [weather] }))
    expect(body["messages"]).toEqual([
      { role: "user", content: "Weather in Tokyo?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: `{"city":"Tokyo"}` } }] },
      { role: "tool", tool_call_id: "call_1", content: "11C" }
    ])
    expect(body["tools"]).toEqual([{ type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: weather.parameters } }])
    expect(body).not.toHaveProperty("tool_choice")
  })

  it("a local server gets the assistant's reasoning back as reasoning_content (llama-server re-injects it) and the tool's name on its result (Ollama /v1 matches by it); OpenAI neither", () => {
    const local = Result.getOrThrow(bodyOf("local", {}))
    expect((local["messages"] as Array<Record<string, unknown>>)[1]).toMatchObject({ reasoning_content: "Need weather." })
    expect((local["messages"] as Array<Record<string, unknown>>)[2]).toEqual({ role: "tool", tool_call_id: "call_1", name: "get_weather", content: "11C" })
    const openai = Result.getOrThrow(bodyOf("openai", {}))
    expect((openai["messages"] as Array<Record<string, unknown>>)[1]).not.toHaveProperty("reasoning_content")
  })

  it("tool choice, OpenAI and OpenRouter: strings and the named-function object; parallel_tool_calls when given", () => {
    const choice = (toolChoice: Backend.ToolChoice) => Result.getOrThrow(bodyOf("openai", { tools: [weather, time], toolChoice, parallelToolCalls: false }))
    expect(choice({ _tag: "Auto" })["tool_choice"]).toBe("auto")
    expect(choice({ _tag: "None" })["tool_choice"]).toBe("none")
    expect(choice({ _tag: "Required" })["tool_choice"]).toBe("required")
    const named = choice({ _tag: "Named", name: "get_time" })
    expect(named["tool_choice"]).toEqual({ type: "function", function: { name: "get_time" } })
    expect(named["tools"]).toHaveLength(2)
    expect(named["parallel_tool_calls"]).toBe(false)
  })

  it("tool choice, local servers (string only, §F.7): a named tool is sent alone with required; none sends no tools", () => {
    const named = Result.getOrThrow(bodyOf("local", { tools: [weather, time], toolChoice: { _tag: "Named", name: "get_time" } }))
    expect(named["tools"]).toEqual([{ type: "function", function: { name: "get_time", parameters: time.parameters } }])
    expect(named["tool_choice"]).toBe("required")
    const none = Result.getOrThrow(bodyOf("local", { tools: [weather], toolChoice: { _tag: "None" }, parallelToolCalls: true }))
    expect(none).not.toHaveProperty("tools")
    expect(none).not.toHaveProperty("tool_choice")
    expect(none).not.toHaveProperty("parallel_tool_calls")
  })

  it("a tool choice that names no offered tool, or requires tools when there are none, is BadRequest saying which", () => {
    const unknown = bodyOf("openai", { tools: [weather], toolChoice: { _tag: "Named", name: "get_tme" } })
    expect(Result.isFailure(unknown) && unknown.failure.message).toContain(`"get_tme", which is not one of the request's tools (get_weather)`)
    const empty = bodyOf("local", { toolChoice: { _tag: "Required" } })
    expect(Result.isFailure(empty) && empty.failure.reason).toBe("BadRequest")
  })

  it("response format: json_object, or json_schema with name, schema and strict", () => {
    expect(Result.getOrThrow(bodyOf("local", { responseFormat: { _tag: "Json" } }))["response_format"]).toEqual({ type: "json_object" })
    const schema = { type: "object", properties: { age: { type: "integer" } }, required: ["age"] }
    expect(Result.getOrThrow(bodyOf("openai", { responseFormat: { _tag: "JsonSchema", name: "person", schema, strict: true } }))["response_format"])
      .toEqual({ type: "json_schema", json_schema: { name: "person", schema, strict: true } })
    expect(Result.getOrThrow(bodyOf("openai", { responseFormat: { _tag: "Text" } }))).not.toHaveProperty("response_format")
  })

  it("reasoning, spelt per server: OpenAI reasoning_effort, OpenRouter reasoning{}, local servers the template switch", () => {
    const of = (flavour: OpenAiChat.Flavour, reasoning: Backend.Reasoning, extra?: Record<string, unknown>) =>
      Result.getOrThrow(bodyOf(flavour, { reasoning, ...(extra === undefined ? {} : { extra }) }))
    expect(of("openai", { _tag: "On", effort: "high" })["reasoning_effort"]).toBe("high")
    expect(of("openai", { _tag: "Off" })).not.toHaveProperty("reasoning_effort")
    // `minimal` is gpt-5's; the o-series' least effort is `low` (bodyOf's model is "m").
    expect(of("openai", { _tag: "On", effort: "minimal" })["reasoning_effort"]).toBe("low")
    expect(Result.getOrThrow(OpenAiChat.body({ ...client, flavour: "openai" }, { model: "gpt-5-mini", messages: turn, reasoning: { _tag: "On", effort: "minimal" } }))["reasoning_effort"]).toBe("minimal")
    expect(of("openrouter", { _tag: "On", effort: "low" })["reasoning"]).toEqual({ effort: "low" })
    expect(of("openrouter", { _tag: "On" })["reasoning"]).toEqual({ enabled: true })
    expect(of("openrouter", { _tag: "Off" })["reasoning"]).toEqual({ enabled: false })
    const off = of("local", { _tag: "Off" }, { chat_template_kwargs: { custom: 1 } })
    expect(off["chat_template_kwargs"]).toEqual({ custom: 1, enable_thinking: false })
    expect(off).not.toHaveProperty("reasoning_effort")
    const minimal = of("local", { _tag: "On", effort: "minimal" })
    expect(minimal["chat_template_kwargs"]).toEqual({ enable_thinking: true })
    expect(minimal["reasoning_effort"]).toBe("low")
    expect(Result.getOrThrow(bodyOf("local", {}))).not.toHaveProperty("chat_template_kwargs")
  })

  it("parts keep the caller's order of text and images", () => {
    const image = { data: Uint8Array.of(1, 2, 3), mime: "image/png" }
    const body = Result.getOrThrow(OpenAiChat.body(client, {
      model: "m",
      messages: [{ role: "user", content: "ab", images: [image], parts: [{ _tag: "Text", text: "a" }, { _tag: "Image", image }, { _tag: "Text", text: "b" }] }]
    }))
    expect((body["messages"] as Array<{ content: Array<{ type: string }> }>)[0]!.content.map((p) => p.type)).toEqual(["text", "image_url", "text"])
  })
})

describe("OpenAiChat.embeddingsOf", () => {
  const request: Backend.EmbedRequest = { model: "text-embedding-3-small", input: ["a", "b"] }
  it("vectors in input order whatever the data order, the model that made them, usage", () => {
    const result = OpenAiChat.embeddingsOf(source, {
      object: "list",
      data: [{ object: "embedding", index: 1, embedding: [0, 1] }, { object: "embedding", index: 0, embedding: [1, 0] }],
      model: "text-embedding-3-small-v2",
      usage: { prompt_tokens: 2, total_tokens: 2 }
    }, request)
    expect(result).toEqual({ model: "text-embedding-3-small-v2", vectors: [[1, 0], [0, 1]], usage: { inputTokens: 2 } })
  })

  it("base64 (little-endian float32, what the OpenAI SDK asks for by default) is read as floats", () => {
    const bytes = Buffer.alloc(8)
    bytes.writeFloatLE(0.5, 0)
    bytes.writeFloatLE(-2, 4)
    const result = OpenAiChat.embeddingsOf(source, { data: [{ index: 0, embedding: bytes.toString("base64") }] }, { model: "m", input: ["x"] })
    expect(result).toMatchObject({ vectors: [[0.5, -2]] })
  })

  it("a missing vector, an index out of range, or a vector that is not numbers is Upstream", () => {
    for (const data of [[{ index: 0, embedding: [1] }], [{ index: 0, embedding: [1] }, { index: 2, embedding: [1] }], [{ index: 0, embedding: [1] }, { index: 1, embedding: ["x"] }]]) {
      const result = OpenAiChat.embeddingsOf(source, { data }, request)
      expect(result instanceof Error && (result as BackendError.BackendError).reason).toBe("Upstream")
    }
  })
})

describe("OpenAiChat.parseModels", () => {
  it("reads ids from an OpenAI list and rejects other shapes", () => {
    expect(OpenAiChat.parseModels({ object: "list", data: [{ id: "a", object: "model" }, { id: "b" }] })).toEqual(["a", "b"])
    expect(OpenAiChat.parseModels({ models: [] })).toBeUndefined()
  })
})

describe("OpenAiChat.generate against a real local server", () => {
  /** A one-route server on an OS-assigned port that answers every chat request with `wire`. */
  const serving = (wire: string) =>
    Effect.acquireRelease(
      Effect.callback<import("node:http").Server>((resume) => {
        void import("node:http").then((http) => {
          const server = http.createServer((req, res) => {
            req.resume()
            req.on("end", () => {
              res.writeHead(200, { "content-type": "text/event-stream" })
              res.end(wire)
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        })
      }),
      (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
    )

  it.effect("a server that ignores stream:true answers one JSON completion: its reasoning, text, whole tool calls (no index) and finish are read", () =>
    Effect.gen(function*() {
      const completion = {
        choices: [{
          index: 0,
          finish_reason: "tool_calls",
          message: {
            role: "assistant",
            content: "",
            reasoning_content: "Need weather.",
            tool_calls: [
              { type: "function", function: { name: "get_weather", arguments: `{"city":"Tokyo"}` }, id: "Qm3xY7pLk2VnB8rT4wZs9dHf6gJc1aNe" },
              { type: "function", function: { name: "get_time", arguments: `{"city":"Tokyo"}` }, id: "Zp0xY7pLk2VnB8rT4wZs9dHf6gJc1aNe" }
            ]
          }
        }],
        usage: { prompt_tokens: 44, completion_tokens: 16, total_tokens: 60 }
      }
      const server = yield* Effect.acquireRelease(
        Effect.callback<import("node:http").Server>((resume) => {
          void import("node:http").then((http) => {
            const s = http.createServer((req, res) => {
              req.resume()
              req.on("end", () => {
                res.writeHead(200, { "content-type": "application/json" })
                res.end(JSON.stringify(completion))
              })
            })
            s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
          })
        }),
        (s) => Effect.callback<void>((resume) => void s.close(() => resume(Effect.void)))
      )
      const port = (server.address() as { port: number }).port
      const local: OpenAiChat.Client = { backend: "llama", baseUrl: `http://127.0.0.1:${port}/v1` }
      const events = yield* Stream.runCollect(Events.stream(OpenAiChat.generate(local, { model: "m1", messages: [{ role: "user", content: "hi" }] })))
      expect(events.map((e) => e._tag)).toEqual([
        "Start",
        "ReasoningDelta",
        "ToolCallStart",
        "ToolCallDelta",
        "ToolCallEnd",
        "ToolCallStart",
        "ToolCallDelta",
        "ToolCallEnd",
        "Usage",
        "Done"
      ])
      expect(calls(events).map((c) => [c.id.slice(0, 2), c.name])).toEqual([["Qm", "get_weather"], ["Zp", "get_time"]])
      expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" })
    }))

  it.effect("a server that echoes the API key in an error after the first tokens has it scrubbed from the message", () =>
    Effect.gen(function*() {
      const key = "sk-test-KEY-THAT-MUST-NOT-LEAK-42"
      const server = yield* serving(
        `data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\ndata: {"error":{"message":"invalid key Bearer ${key} for this project"}}\n\n`
      )
      const port = (server.address() as { port: number }).port
      const local: OpenAiChat.Client = { backend: "mlx", baseUrl: `http://127.0.0.1:${port}/v1`, headers: { authorization: Redacted.make(`Bearer ${key}`) } }
      const events: Array<Backend.GenerateEvent> = []
      const error = yield* Events.stream(OpenAiChat.generate(local, { model: "m1", messages: [{ role: "user", content: "hi" }] })).pipe(
        Stream.runForEach((event) => Effect.sync(() => events.push(event))),
        Effect.flip
      )
      expect(text(events)).toBe("Hel")
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("[redacted]")
      expect(error.message).not.toContain(key)
    }))
})

describe("OpenAiChat.protocol: hostile streams", () => {
  /** A small seeded generator: the same cases on every run, so a failure can be replayed. */
  const random = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const pick = <A>(next: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!
  const pieces: ReadonlyArray<unknown> = [
    { index: 0, id: "a", type: "function", function: { name: "f", arguments: "" } },
    { index: 0, function: { arguments: "{\"x\"" } },
    { index: 1, id: "b", function: { name: "g", arguments: "{}" } },
    { index: 1, function: { arguments: ":1}" } },
    { function: { arguments: "}" } },
    { index: "0", function: { name: 7 } },
    { id: "c", function: { name: "h", arguments: { a: 1 } } },
    null,
    "call",
    { index: 2 },
    { function: null }
  ]
  const chunk = (next: () => number): string => {
    const delta: Record<string, unknown> = {}
    if (next() < 0.5) delta["tool_calls"] = Array.from({ length: Math.floor(next() * 3) }, () => pick(next, pieces))
    if (next() < 0.3) delta["content"] = pick(next, ["x", "", 3, null])
    if (next() < 0.3) delta[pick(next, ["reasoning", "reasoning_content"])] = pick(next, ["r", "", {}, null])
    const choice: Record<string, unknown> = { index: 0, delta: next() < 0.9 ? delta : pick(next, [null, "d", []]) }
    if (next() < 0.15) choice["finish_reason"] = pick(next, ["stop", "length", "tool_calls", "tool_call", "error", null, 5])
    return pick(next, [JSON.stringify({ choices: [choice] }), JSON.stringify({ choices: [choice] }), JSON.stringify({ choices: "x" }), "[DONE]", "{", "null", JSON.stringify({ error: "boom" })])
  }

  it.effect("2000 random streams of valid and broken tool-call deltas: never a throw; each ends in one Done or one BackendError, every started call ended before Done", () =>
    Effect.gen(function*() {
      const next = random(19)
      for (let n = 0; n < 2000; n++) {
        const wire = Array.from({ length: 1 + Math.floor(next() * 8) }, () => `data: ${chunk(next)}\n\n`).join("")
        const result = yield* Effect.result(decode(wire))
        if (result._tag === "Failure") {
          expect(["Upstream", "StreamCut", "Overloaded"]).toContain(result.failure.reason)
          continue
        }
        const events = result.success
        expect(events.filter((e) => e._tag === "Done")).toHaveLength(1)
        expect(events.at(-1)?._tag).toBe("Done")
        const started = events.filter((e) => e._tag === "ToolCallStart").map((e) => e.index)
        const ended = events.filter((e) => e._tag === "ToolCallEnd").map((e) => e.index)
        expect(ended).toEqual(started)
        expect(started).toEqual(started.map((_, i) => i))
      }
    }))
})
