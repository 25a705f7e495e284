/**
 * The Anthropic dialect on the wire, without a client library in between: the exact SSE event
 * sequence (frame by frame, as protocols.md E.3 records Anthropic's own), the after-commit
 * `event: error`, and malformed bodies answered 400 with a message naming the field. The
 * encoder and the request decoder are also checked as pure functions, with tables.
 */
import { Router, RoutingConfig } from "@local-router/core"
import { ScriptedBackend } from "@local-router/core/testing"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ApiError from "../src/ApiError.ts"
import * as CountTokens from "../src/anthropic/CountTokens.ts"
import * as Messages from "../src/anthropic/Messages.ts"
import * as MessagesRequest from "../src/anthropic/MessagesRequest.ts"
import { Gateway } from "../src/index.ts"

const yaml = `backends:
  mlx: { type: scripted }
  gone: { type: scripted }
defaults:
  timeouts: { connect: 2s, firstToken: 2s, idle: 2s, total: 20s }
  breaker: { failures: 100, cooldown: 30s }
priorities:
  text: [mlx, gone]
categories:
  fast:
    input: text
    models: { mlx: m-mlx }
  broken:
    input: text
    models: { gone: m-gone }
`
const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))

/** Frames of an SSE body as [event, data] pairs. */
const frames = (body: string): Array<[string, Record<string, unknown>]> =>
  body.split("\n\n").filter((f) => f !== "").map((f) => {
    const [event, data] = f.split("\n")
    expect(event).toMatch(/^event: /)
    expect(data).toMatch(/^data: /)
    return [event!.slice(7), JSON.parse(data!.slice(6)) as Record<string, unknown>]
  })

const trace = { category: "fast", attempts: [], configVersion: 1, durationMs: 1 }

describe("anthropic stream encoder", () => {
  const encode = (events: ReadonlyArray<Router.Event>): Array<[string, Record<string, unknown>]> => {
    const encoder = Messages.encoder("fast", { backend: "mlx", model: "m-mlx" })
    return frames(encoder.events(Chunk.fromIterable(events)))
  }

  it("text: message_start, ping, one text block, message_delta with cumulative usage, message_stop", () => {
    const out = encode([
      Router.Event.Routed({ backend: "mlx", model: "m-mlx", attempt: 1 }),
      Router.Event.TextDelta({ text: "Hel" }),
      Router.Event.TextDelta({ text: "lo" }),
      Router.Event.Done({ finishReason: "stop", usage: { inputTokens: 5, outputTokens: 2 }, trace })
    ])
    expect(out.map(([e]) => e)).toEqual([
      "message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"
    ])
    expect(out[0]![1]).toMatchObject({ type: "message_start", message: { type: "message", role: "assistant", model: "fast", content: [], stop_reason: null, stop_sequence: null } })
    expect(out[2]![1]).toEqual({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })
    expect(out[3]![1]).toEqual({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } })
    expect(out[5]![1]).toEqual({ type: "content_block_stop", index: 0 })
    expect(out[6]![1]).toMatchObject({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { input_tokens: 5, output_tokens: 2 } })
    expect(out[7]![1]).toEqual({ type: "message_stop" })
  })

  it("thinking, text, then two tool calls: each block closed before the next opens, a signature_delta before thinking's stop", () => {
    const out = encode([
      Router.Event.Routed({ backend: "mlx", model: "m-mlx", attempt: 1 }),
      Router.Event.ReasoningDelta({ text: "hmm" }),
      Router.Event.TextDelta({ text: "Let me look." }),
      Router.Event.ToolCallStart({ index: 0, id: "call_a", name: "get_weather" }),
      Router.Event.ToolCallDelta({ index: 0, arguments: "{\"city\":" }),
      Router.Event.ToolCallDelta({ index: 0, arguments: "\"Paris\"}" }),
      Router.Event.ToolCallEnd({ index: 0 }),
      Router.Event.ToolCallStart({ index: 1, id: "call_b", name: "get_time" }),
      Router.Event.ToolCallDelta({ index: 1, arguments: "{}" }),
      Router.Event.ToolCallEnd({ index: 1 }),
      Router.Event.Done({ finishReason: "tool_calls", usage: { inputTokens: 9, outputTokens: 4 }, trace })
    ])
    const seq = out.slice(2, -2).map(([e, d]) => `${e}:${String(d.index)}:${String((d.delta as { type?: string } | undefined)?.type ?? (d.content_block as { type?: string } | undefined)?.type ?? "")}`)
    expect(seq).toEqual([
      "content_block_start:0:thinking",
      "content_block_delta:0:thinking_delta",
      "content_block_delta:0:signature_delta",
      "content_block_stop:0:",
      "content_block_start:1:text",
      "content_block_delta:1:text_delta",
      "content_block_stop:1:",
      "content_block_start:2:tool_use",
      "content_block_delta:2:input_json_delta",
      "content_block_delta:2:input_json_delta",
      "content_block_stop:2:",
      "content_block_start:3:tool_use",
      "content_block_delta:3:input_json_delta",
      "content_block_stop:3:"
    ])
    expect(out[2]![1].content_block).toEqual({ type: "thinking", thinking: "", signature: "" })
    expect(out[9]![1].content_block).toEqual({ type: "tool_use", id: "call_a", name: "get_weather", input: {} })
    expect(out.at(-2)![1]).toMatchObject({ delta: { stop_reason: "tool_use" } })
  })

  it("a text-then-tool turn has the frames of Anthropic's own recording (anthropic-sdk-typescript tests/lib/fixtures/tool_use_response.txt), ping aside", () => {
    const out = encode([
      Router.Event.Routed({ backend: "mlx", model: "m-mlx", attempt: 1 }),
      Router.Event.TextDelta({ text: "I" }),
      Router.Event.TextDelta({ text: "'ll check the current weather in Paris for you." }),
      Router.Event.ToolCallStart({ index: 0, id: "toolu_01NRLabsLyVHZPKxbKvkfSMn", name: "get_weather" }),
      ...["{\"locati", "on\": \"P", "ar", "is\"}"].map((fragment) => Router.Event.ToolCallDelta({ index: 0, arguments: fragment })),
      Router.Event.ToolCallEnd({ index: 0 }),
      Router.Event.Done({ finishReason: "tool_calls", usage: { inputTokens: 377, outputTokens: 65 }, trace })
    ]).filter(([event]) => event !== "ping")
    // The recording's frames, with its message_start envelope and usage left out.
    const recorded: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
      ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "I" } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "'ll check the current weather in Paris for you." } }],
      ["content_block_stop", { type: "content_block_stop", index: 0 }],
      ["content_block_start", { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_01NRLabsLyVHZPKxbKvkfSMn", name: "get_weather", input: {} } }],
      // The recording's first fragment is "" (protocols.md E.3: it may be); the encoder sends none.
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "{\"locati" } }],
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "on\": \"P" } }],
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "ar" } }],
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "is\"}" } }],
      ["content_block_stop", { type: "content_block_stop", index: 1 }]
    ]
    expect(out[0]![0]).toBe("message_start")
    expect(out.slice(1, -2)).toEqual(recorded)
    expect(out.at(-2)![1]).toMatchObject({ type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 65 } })
    expect(out.at(-1)).toEqual(["message_stop", { type: "message_stop" }])
  })

  it("an Ollama-style tool turn ending in stop is still tool_use; a length end is max_tokens", () => {
    expect(Messages.stopReason("stop", true)).toBe("tool_use")
    expect(Messages.stopReason("stop", false)).toBe("end_turn")
    expect(Messages.stopReason("length", false)).toBe("max_tokens")
    expect(Messages.stopReason("tool_calls", false)).toBe("tool_use")
  })

  it("a failure after the commit is one event: error in Anthropic's shape", () => {
    const encoder = Messages.encoder("fast", { backend: "mlx", model: "m-mlx" })
    const out = frames(encoder.failed(new ApiError.ApiError({ reason: "StreamFailed", message: "mlx failed after the answer had started (StreamCut)" })))
    expect(out).toHaveLength(1)
    expect(out[0]![0]).toBe("error")
    expect(out[0]![1]).toMatchObject({ type: "error", error: { type: "api_error", message: "mlx failed after the answer had started (StreamCut)" } })
  })

  it("tool arguments that are not a JSON object are passed on under _raw, never dropped", () => {
    expect(Messages.input("{\"a\":1}")).toEqual({ a: 1 })
    expect(Messages.input("")).toEqual({})
    expect(Messages.input("{\"a\":")).toEqual({ _raw: "{\"a\":" })
    expect(Messages.input("[1]")).toEqual({ _raw: "[1]" })
  })
})

describe("anthropic request decoding", () => {
  const snapshot: Router.Snapshot = { version: 1, config, backends: new Map() }
  const base = { model: "fast", max_tokens: 64, messages: [{ role: "user", content: "hi" }] }
  const decode = (body: Record<string, unknown>) => MessagesRequest.decode(body, snapshot)
  const refusal = (body: Record<string, unknown>): string => {
    const out = decode(body)
    if (Result.isSuccess(out)) throw new Error("expected a refusal")
    expect(out.failure.reason).toBe("InvalidRequest")
    return out.failure.message
  }

  it.each([
    [{ ...base, max_tokens: undefined }, /^max_tokens: Field required/],
    [{ ...base, max_tokens: 0 }, /^max_tokens: must be a positive integer \(got 0\)/],
    [{ ...base, max_tokens: "64" }, /^max_tokens: must be a positive integer \(got "64"\)/],
    [{ ...base, model: undefined }, /^model: Field required/],
    [{ ...base, messages: "hi" }, /^messages: must be an array \(got string\)/],
    [{ ...base, messages: [] }, /^messages: must hold at least one message/],
    [{ ...base, messages: [{ role: "robot", content: "x" }] }, /^messages\.0\.role: must be "user", "assistant" or "system" \(got "robot"\)/],
    [{ ...base, messages: [{ role: "user", content: 5 }] }, /^messages\.0\.content: must be a string or an array of blocks \(got number\)/],
    [{ ...base, messages: [{ role: "user", content: [{ type: "video" }] }] }, /^messages\.0\.content\.0\.type: unsupported block type "video"/],
    [{ ...base, messages: [{ role: "user", content: [{ type: "text" }] }] }, /^messages\.0\.content\.0\.text: Field required/],
    [{ ...base, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "!!" } }] }] }, /^messages\.0\.content\.0\.source\.data: the image is not base64/],
    [{ ...base, messages: [{ role: "user", content: [{ type: "tool_use", id: "a", name: "b", input: {} }] }] }, /^messages\.0\.content\.0\.type: tool_use blocks belong in an assistant message/],
    [{ ...base, messages: [{ role: "assistant", content: [{ type: "tool_use", id: "a", name: "b", input: "x" }] }] }, /^messages\.0\.content\.0\.input: must be an object \(got string\)/],
    [{ ...base, messages: [{ role: "user", content: [{ type: "tool_result", content: "x" }] }] }, /^messages\.0\.content\.0\.tool_use_id: Field required/],
    [{ ...base, messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "a", is_error: "yes" }] }] }, /^messages\.0\.content\.0\.is_error: must be a boolean/],
    [{ ...base, messages: [{ role: "user", content: [{ type: "document", source: {} }] }] }, /^messages\.0\.content\.0\.type: document blocks/],
    [{ ...base, system: 7 }, /^system: must be a string or an array of text blocks \(got number\)/],
    [{ ...base, system: [{ type: "image" }] }, /^system\.0\.type: must be "text"/],
    [{ ...base, tools: {} }, /^tools: must be an array \(got object\)/],
    [{ ...base, tools: [{ name: "f" }] }, /^tools\.0\.input_schema: Field required/],
    [{ ...base, tools: [{ type: "web_search_20250305", name: "web_search" }] }, /^tools\.0\.type: server tool "web_search_20250305" is not supported/],
    [{ ...base, tool_choice: { type: "maybe" } }, /^tool_choice\.type: must be "auto", "any", "tool" or "none"/],
    [{ ...base, tool_choice: { type: "tool", name: "nope" } }, /^tool_choice\.name: "nope" is not one of the tools given/],
    [{ ...base, thinking: { type: "enabled" } }, /^thinking\.budget_tokens: Field required/],
    [{ ...base, thinking: { type: "enabled", budget_tokens: 100 } }, /^thinking\.budget_tokens: must be less than max_tokens \(100 >= 64\)/],
    [{ ...base, thinking: { type: "sometimes" } }, /^thinking\.type: must be/],
    [{ ...base, temperature: 3 }, /^temperature: must be between 0 and 1 \(got 3\)/],
    [{ ...base, top_p: "x" }, /^top_p: must be a number \(got string\)/],
    [{ ...base, stop_sequences: "END" }, /^stop_sequences: must be an array of strings/],
    [{ ...base, stream: "yes" }, /^stream: must be a boolean/],
    [{ ...base, output_config: { effort: "extreme" } }, /^output_config\.effort: must be/],
    [{ ...base, output_config: { format: { type: "json_schema" } } }, /^output_config\.format\.schema: Field required/]
  ] as Array<[Record<string, unknown>, RegExp]>)("refuses %j", (body, message) => {
    expect(refusal(body)).toMatch(message)
  })

  it("maps thinking, effort, tool_choice and output_config to the contract", () => {
    const tools = [{ name: "f", input_schema: { type: "object" } }]
    const pick = (body: Record<string, unknown>) => Result.getOrThrow(decode({ ...base, max_tokens: 32000, ...body })).request
    expect(pick({ thinking: { type: "enabled", budget_tokens: 1024 } }).reasoning).toEqual({ _tag: "On", effort: "low" })
    expect(pick({ thinking: { type: "enabled", budget_tokens: 8000 } }).reasoning).toEqual({ _tag: "On", effort: "medium" })
    expect(pick({ thinking: { type: "enabled", budget_tokens: 20000 } }).reasoning).toEqual({ _tag: "On", effort: "high" })
    expect(pick({ thinking: { type: "enabled", budget_tokens: 1024 }, output_config: { effort: "max" } }).reasoning).toEqual({ _tag: "On", effort: "high" })
    // Adaptive thinking and effort alone leave thinking to the model (the server's default): no capability is required.
    expect(pick({ thinking: { type: "adaptive" } }).reasoning).toBeUndefined()
    expect(pick({ output_config: { effort: "max" } }).reasoning).toBeUndefined()
    expect(pick({ thinking: { type: "disabled" }, output_config: { effort: "high" } }).reasoning).toEqual({ _tag: "Off" })
    expect(pick({}).reasoning).toBeUndefined()
    expect(pick({ tools, tool_choice: { type: "any" } }).toolChoice).toEqual({ _tag: "Required" })
    expect(pick({ tools, tool_choice: { type: "none" } }).toolChoice).toEqual({ _tag: "None" })
    expect(pick({ tools, tool_choice: { type: "auto", disable_parallel_tool_use: true } })).toMatchObject({ toolChoice: { _tag: "Auto" }, parallelToolCalls: false })
    expect(pick({ output_config: { format: { type: "json_schema", schema: { type: "object" } } } }).responseFormat).toEqual({
      _tag: "JsonSchema", name: "output", schema: { type: "object" }, strict: true
    })
    expect(pick({ temperature: 0.2, top_p: 0.9, top_k: 40, stop_sequences: ["END"] }).options).toEqual({ maxTokens: 32000, temperature: 0.2, topP: 0.9, stop: ["END"] })
    expect(pick({ model: "mlx/m-other" })).toMatchObject({ pin: { backend: "mlx", model: "m-other" } })
  })

  it("tool results come before the rest of their user message, named after their call; is_error is said in the text", () => {
    const request = Result.getOrThrow(decode({
      ...base,
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: [{ type: "text", text: "calling" }, { type: "tool_use", id: "t1", name: "ls", input: { dir: "/" } }, { type: "tool_use", id: "t2", name: "cat", input: {} }] },
        {
          role: "user",
          content: [
            { type: "text", text: "here" },
            { type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "a b" }] },
            { type: "tool_result", tool_use_id: "t2", content: "no such file", is_error: true }
          ]
        }
      ]
    })).request
    expect(request.messages).toEqual([
      { role: "user", content: "go" },
      { role: "assistant", content: "calling", toolCalls: [{ id: "t1", name: "ls", arguments: "{\"dir\":\"/\"}" }, { id: "t2", name: "cat", arguments: "{}" }] },
      { role: "tool", content: "a b", toolCallId: "t1", toolName: "ls" },
      { role: "tool", content: "Error: no such file", toolCallId: "t2", toolName: "cat" },
      { role: "user", content: "here" }
    ])
  })

  it("count_tokens: chars/4 over system, turns, tool calls and the tools' JSON", () => {
    const conversation = Result.getOrThrow(MessagesRequest.conversation({
      model: "fast",
      system: "x".repeat(40),
      messages: [{ role: "user", content: "y".repeat(40) }],
      tools: [{ name: "f", input_schema: { type: "object" } }]
    }, undefined))
    const toolsJson = JSON.stringify({ name: "f", description: "", input_schema: { type: "object" } }).length
    expect(CountTokens.estimate(conversation)).toBe(Math.ceil((80 + toolsJson) / 4))
  })
})

describe("anthropic over raw HTTP", () => {
  let scope: Scope.Closeable
  let url: string
  let scripted: ScriptedBackend.Scripted
  beforeAll(async () => {
    scripted = ScriptedBackend.make({
      name: "mlx",
      capabilities: { images: true, tools: true, reasoning: true, jsonSchema: true },
      script: (request) =>
        request.messages.at(-1)?.content === "cut"
          ? { tokens: ["par", "tial"], end: "cut" }
          : request.responseFormat
          ? { tokens: ["{}"] }
          : { tokens: ["Hi", " there"] }
    })
    const snapshot: Router.Snapshot = {
      version: 1,
      config,
      backends: new Map<string, Router.Slot>([
        ["mlx", Router.Slot.Ready({ backend: scripted.backend, timeouts: {} })],
        ["gone", Router.Slot.Failed({ reason: "its plugin failed to load" })]
      ])
    }
    scope = Effect.runSync(Scope.make())
    url = await Effect.runPromise(Effect.gen(function*() {
      const router = yield* Router.make(Effect.succeed(snapshot))
      return (yield* Gateway.make({ port: 0, maxBodyBytes: 1_000_000, router, routing: { snapshot: Effect.succeed(snapshot) } })).url
    }).pipe(Scope.provide(scope)))
  })
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })

  it("streams the exact event sequence, as text/event-stream", async () => {
    const response = await post("/v1/messages", { model: "fast", max_tokens: 32, stream: true, messages: [{ role: "user", content: "hi" }] })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
    const out = frames(await response.text())
    expect(out.map(([e]) => e)).toEqual([
      "message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"
    ])
    expect(out.map(([e, d]) => d.type === e)).not.toContain(false)
    expect(out[6]![1]).toMatchObject({ delta: { stop_reason: "end_turn" }, usage: { input_tokens: 3, output_tokens: 2 } })
  })

  it("a cut after the first token ends in event: error, with no message_delta and no message_stop", async () => {
    const response = await post("/v1/messages", { model: "fast", max_tokens: 32, stream: true, messages: [{ role: "user", content: "cut" }] })
    expect(response.status).toBe(200)
    const out = frames(await response.text())
    expect(out.map(([e]) => e)).toEqual(["message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta", "error"])
    expect(out.at(-1)![1]).toMatchObject({ type: "error", error: { type: "api_error", message: expect.stringMatching(/StreamCut/) } })
  })

  it("answers Claude Code's form: /v1/messages?beta=true with anthropic-beta, cache_control, metadata and unknown fields", async () => {
    const response = await post("/v1/messages?beta=true", {
      model: "fast",
      max_tokens: 32,
      stream: true,
      metadata: { user_id: "u" },
      context_management: { edits: [] },
      system: [{ type: "text", text: "You are Claude Code", cache_control: { type: "ephemeral" } }],
      tools: [{ name: "Bash", description: "run", input_schema: { type: "object", properties: { command: { type: "string" } } }, cache_control: { type: "ephemeral" } }],
      thinking: { type: "adaptive" },
      messages: [{ role: "user", content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral" } }] }]
    }, { "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14", "x-app": "cli" })
    expect(response.status).toBe(200)
    expect(frames(await response.text()).at(-1)![0]).toBe("message_stop")
  })

  it("works without anthropic-version too", async () => {
    const response = await fetch(`${url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "fast", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }) })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ type: "message", content: [{ type: "text", text: "Hi there" }] })
  })

  it.each([
    ["not JSON", "{oops", 400, /not valid JSON/],
    ["a JSON array", "[1]", 400, /must be a JSON object/],
    ["no max_tokens", { model: "fast", messages: [{ role: "user", content: "hi" }] }, 400, /^max_tokens: Field required/],
    ["a bad block", { model: "fast", max_tokens: 8, messages: [{ role: "user", content: [{ type: "text", text: 1 }] }] }, 400, /^messages\.0\.content\.0\.text: Field required/],
    ["a wrong type", { model: "fast", max_tokens: 8, temperature: "hot", messages: [{ role: "user", content: "hi" }] }, 400, /^temperature: must be a number \(got string\)/],
    ["an unknown model", { model: "nope", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }, 404, /model "nope" not found/]
  ] as Array<[string, unknown, number, RegExp]>)("%s: answered in Anthropic's error shape", async (_name, body, status, message) => {
    const response = await post("/v1/messages", body)
    expect(response.status).toBe(status)
    expect(response.headers.get("request-id")).toMatch(/^req_/)
    const json = (await response.json()) as { type: string; error: { type: string; message: string }; request_id: string }
    expect(json.type).toBe("error")
    expect(json.error.type).toBe(status === 404 ? "not_found_error" : "invalid_request_error")
    expect(json.error.message).toMatch(message)
    expect(json.request_id).toBe(response.headers.get("request-id"))
  })

  it("no backend that could be tried is 529 overloaded_error (Claude Code waits and retries), with x-should-retry: false for the SDK's own retries", async () => {
    const response = await post("/v1/messages", { model: "broken", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
    expect(response.status).toBe(529)
    expect(response.headers.get("x-should-retry")).toBe("false")
    const body = (await response.json()) as { error: { type: string; message: string } }
    expect(body.error.type).toBe("overloaded_error")
    expect(body.error.message).toMatch(/gone/)
  })

  it("a wrong method, an unknown /v1/messages path and a too-large body answer in Anthropic's shape", async () => {
    const get = await fetch(`${url}/v1/messages`)
    expect(get.status).toBe(405)
    expect(((await get.json()) as { type: string }).type).toBe("error")
    const unknown = await post("/v1/messages/batches", {})
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } })
    const large = await post("/v1/messages", { model: "fast", max_tokens: 8, messages: [{ role: "user", content: "x".repeat(1_100_000) }] })
    expect(large.status).toBe(413)
    expect(await large.json()).toMatchObject({ type: "error", error: { type: "request_too_large" } })
  })

  it("every field of a full request replaced by each wrong type: never a 5xx, always Anthropic's shape, and the gateway keeps serving", async () => {
    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    const full = {
      model: "fast",
      max_tokens: 64,
      system: [{ type: "text", text: "be brief" }],
      stop_sequences: ["END"],
      temperature: 0.5,
      top_p: 0.9,
      thinking: { type: "enabled", budget_tokens: 32 },
      output_config: { effort: "low", format: { type: "json_schema", schema: { type: "object" } } },
      tools: [{ name: "f", description: "d", input_schema: { type: "object", properties: { a: { type: "string" } } } }],
      tool_choice: { type: "tool", name: "f", disable_parallel_tool_use: true },
      messages: [
        { role: "user", content: [{ type: "text", text: "hi" }, { type: "image", source: { type: "base64", media_type: "image/png", data: png } }] },
        { role: "assistant", content: [{ type: "thinking", thinking: "t", signature: "s" }, { type: "tool_use", id: "t1", name: "f", input: { a: "x" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "r" }], is_error: false }] }
      ]
    }
    const paths = (value: unknown, at: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> =>
      typeof value === "object" && value !== null
        ? [at, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...at, Array.isArray(value) ? Number(k) : k]))]
        : [at]
    const replaced = (at: ReadonlyArray<string | number>, by: unknown): unknown => {
      const copy = structuredClone(full) as Record<string, unknown>
      let node = copy as Record<string | number, unknown>
      for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, unknown>
      node[at.at(-1)!] = by
      return copy
    }
    const wrong: ReadonlyArray<unknown> = [null, 0, -1, 1.5, 1e308, "", "x", true, [], {}, [null], { type: "x" }, "\u0000"]
    const statuses = new Map<number, number>()
    let sent = 0
    for (const at of paths(full).filter((p) => p.length > 0)) {
      for (const by of wrong) {
        const response = await post("/v1/messages", replaced(at, by))
        sent++
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        const text = await response.text()
        if (response.status >= 500) throw new Error(`${at.join(".")} = ${JSON.stringify(by)}: ${response.status} ${text}`)
        if (response.status !== 200) {
          const body = JSON.parse(text) as { type: string; error: { type: string; message: string } }
          expect(body.type).toBe("error")
          expect(body.error.message.length).toBeGreaterThan(0)
        }
      }
    }
    expect(sent).toBeGreaterThan(500)
    expect(statuses.get(200)).toBeGreaterThan(0)
    expect(statuses.get(400)).toBeGreaterThan(300)
    // Still serving after all of it.
    expect((await post("/v1/messages", { model: "fast", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })).status).toBe(200)
  }, 60_000)

  it("count_tokens answers {input_tokens} marked as an estimate, without max_tokens; an unknown model is 404", async () => {
    const response = await post("/v1/messages/count_tokens", { model: "fast", messages: [{ role: "user", content: "12345678" }] })
    expect(response.status).toBe(200)
    expect(response.headers.get("x-local-router-estimate")).toBe(CountTokens.method)
    expect(await response.json()).toEqual({ input_tokens: 2 })
    const unknown = await post("/v1/messages/count_tokens", { model: "nope", messages: [{ role: "user", content: "hi" }] })
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } })
  })
})
