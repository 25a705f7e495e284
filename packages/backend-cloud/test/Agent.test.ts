/**
 * Contract 2.0 on the cloud backend, against sim-openai (OpenAI and OpenRouter) and
 * sim-anthropic, real processes on OS-assigned ports: the core contract's agent checks per
 * provider, each provider's spelling on the wire, and faults inside a tool call or thinking.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { type Backend, Events } from "@local-router/core"
import { Generated, contractSuite } from "@local-router/core/testing"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { CloudOptions, definition, ModelCapabilities } from "../src/index.ts"

const { collect, failureOf, reasoningOf, textOf, toolCallsOf } = Generated

const openAiKey = "sk-proj-SIMULATED-agent-openai-0123456789"
const openRouterKey = "sk-or-v1-SIMULATED-agent-openrouter-0123456789"
const anthropicKey = "sk-ant-api03-SIMULATED-agent-anthropic-0123456789"

let openai: Simulator.Running
let openrouter: Simulator.Running
let anthropic: Simulator.Running

beforeAll(async () => {
  ;[openai, openrouter, anthropic] = await Promise.all([
    Simulator.start("openai", { args: ["--api-key", openAiKey, "--tokens", "5", "--models", "gpt-4o-mini,gpt-4o,o4-mini"] }),
    Simulator.start("openai", { args: ["--openrouter", "--api-key", openRouterKey, "--tokens", "5"] }),
    Simulator.start("anthropic", { args: ["--api-key", anthropicKey, "--models", "claude-sonnet-4-5", "--tokens", "5"] })
  ])
})
afterAll(async () => {
  await Promise.all([openai.stop(), openrouter.stop(), anthropic.stop()])
})
beforeEach(async () => {
  await Promise.all([openai, openrouter, anthropic].flatMap((sim) => [sim.clearFaults(), sim.clearRequests()]))
})

const makeWith = (provider: CloudOptions.Provider, url: string, key: string) =>
  definition.make({
    name: `cloud-${provider}`,
    url,
    apiKey: Redacted.make(key),
    apiKeyEnv: "CLOUD_AGENT_KEY",
    options: Schema.decodeUnknownSync(CloudOptions.CloudOptions)({ provider }),
    configDir: process.cwd()
  })
const makeOpenAi = () => makeWith("openai", openai.url, openAiKey)
const makeOpenRouter = () => makeWith("openrouter", `${openrouter.url}/api/v1`, openRouterKey)
const makeAnthropic = () => makeWith("anthropic", anthropic.url, anthropicKey)

const weather: Backend.Tool = { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
const time: Backend.Tool = { name: "get_time", description: "Time", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }

const lastBody = (sim: () => Simulator.Running) => Effect.promise(async () => (await sim().requests()).at(-1)?.body as Record<string, any>)

contractSuite("cloud (openai, agent)", {
  make: Effect.suspend(makeOpenAi),
  model: "gpt-4o-mini",
  missingModel: "gpt-does-not-exist",
  tools: { model: "gpt-4o-mini" },
  jsonSchema: { model: "gpt-4o-mini" },
  embed: { model: "text-embedding-3-small" },
  secret: Redacted.make(openAiKey)
})

contractSuite("cloud (openrouter, agent)", {
  make: Effect.suspend(makeOpenRouter),
  model: "openai/gpt-4o-mini",
  missingModel: "nobody/no-such-model",
  tools: { model: "openai/gpt-4o-mini" },
  reasoning: { model: "openai/gpt-4o-mini" },
  jsonSchema: { model: "openai/gpt-4o-mini" },
  secret: Redacted.make(openRouterKey)
})

contractSuite("cloud (anthropic, agent)", {
  make: Effect.suspend(makeAnthropic),
  model: "claude-sonnet-4-5",
  missingModel: "claude-does-not-exist",
  tools: { model: "claude-sonnet-4-5" },
  reasoning: { model: "claude-sonnet-4-5" },
  secret: Redacted.make(anthropicKey)
})

describe("cloud (openai): tools, JSON, reasoning, embeddings on the wire", () => {
  it.effect("arguments streamed in fragments are joined per call; calls one after another; tool_choice as OpenAI's object", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenAi()
      const request: Backend.GenerateRequest = { model: "gpt-4o-mini", messages: [{ role: "user", content: "get_weather and get_time city=Berlin" }], tools: [weather, time] }
      const events = yield* collect(backend, request)
      const calls = toolCallsOf(events)
      expect(calls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([["get_weather", { city: "Berlin" }], ["get_time", { city: "Berlin" }]])
      for (const call of calls) expect(call.id).toMatch(/^call_/)
      expect(events.filter((e) => e._tag === "ToolCallDelta").length).toBeGreaterThan(2)
      expect(events.at(-1)).toMatchObject({ finishReason: "tool_calls" })
      const named = yield* collect(backend, { ...request, toolChoice: { _tag: "Named", name: "get_time" }, parallelToolCalls: false })
      expect(toolCallsOf(named).map((c) => c.name)).toEqual(["get_time"])
      const body = yield* lastBody(() => openai)
      expect(body["tool_choice"]).toEqual({ type: "function", function: { name: "get_time" } })
      expect(body["parallel_tool_calls"]).toBe(false)
      expect(body["tools"]).toHaveLength(2)
    }))

  it.effect("the tool-result turn: OpenAI's checks pass (every call answered by its id) and it answers with the result", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenAi()
      const question: Backend.Message = { role: "user", content: "get_weather and get_time for Quito" }
      const calls = toolCallsOf(yield* collect(backend, { model: "gpt-4o-mini", messages: [question], tools: [weather, time] }))
      const answer = yield* collect(backend, {
        model: "gpt-4o-mini",
        tools: [weather, time],
        messages: [
          question,
          { role: "assistant", content: "", toolCalls: calls },
          ...calls.map((call, i): Backend.Message => ({ role: "tool", content: `result ${i}`, toolCallId: call.id, toolName: call.name }))
        ]
      })
      expect(textOf(answer)).toContain("Result of get_weather: result 0")
      expect(textOf(answer)).toContain("Result of get_time: result 1")
    }))

  it.effect("response_format json_schema with name and strict; the answer parses", () =>
    Effect.gen(function*() {
      const schema = { type: "object", properties: { name: { type: "string" } }, required: ["name"], additionalProperties: false }
      const events = yield* collect(yield* makeOpenAi(), {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "a name" }],
        responseFormat: { _tag: "JsonSchema", name: "person", schema, strict: true }
      })
      expect(typeof JSON.parse(textOf(events)).name).toBe("string")
      expect((yield* lastBody(() => openai))["response_format"]).toEqual({ type: "json_schema", json_schema: { name: "person", schema, strict: true } })
    }))

  it.effect("reasoning effort goes as reasoning_effort; OpenAI shows no reasoning text", () =>
    Effect.gen(function*() {
      // A reasoning model: OpenAI refuses reasoning_effort for gpt-4o-mini (400 unsupported_parameter).
      const events = yield* collect(yield* makeOpenAi(), { model: "o4-mini", messages: [{ role: "user", content: "hi" }], reasoning: { _tag: "On", effort: "low" } })
      expect(reasoningOf(events)).toBe("")
      expect(textOf(events).length).toBeGreaterThan(0)
      expect((yield* lastBody(() => openai))["reasoning_effort"]).toBe("low")
    }))

  it.effect("embeddings: floats asked for, dimensions cut and renormalised by the server, the model named", () =>
    Effect.gen(function*() {
      const result = yield* (yield* makeOpenAi()).embed!({ model: "text-embedding-3-small", input: ["a", "b"], dimensions: 256 })
      expect(result.model).toBe("text-embedding-3-small")
      expect(result.vectors.map((v) => v.length)).toEqual([256, 256])
      expect(Math.hypot(...result.vectors[0]!)).toBeCloseTo(1, 4)
      expect(yield* lastBody(() => openai)).toEqual({ model: "text-embedding-3-small", input: ["a", "b"], encoding_format: "float", dimensions: 256 })
    }))

  it.effect("a stream cut between argument fragments is StreamCut after the fragments that came, the call never ended, no Done", () =>
    Effect.gen(function*() {
      // The header delta is one token, each fragment one more.
      yield* Effect.promise(() => openai.setFaults([{ kind: "cutAfterTokens", tokens: 2 }]))
      const { error, seen } = yield* failureOf(yield* makeOpenAi(), { model: "gpt-4o-mini", messages: [{ role: "user", content: "use get_weather city=Reykjavik" }], tools: [weather] })
      // The connection drops (ECONNRESET): a cut, whatever the protocol was in the middle of.
      expect(error.reason).toBe("StreamCut")
      expect(seen.filter((e) => e._tag === "ToolCallStart")).toHaveLength(1)
      expect(seen.filter((e) => e._tag === "ToolCallDelta").length).toBeGreaterThan(0)
      expect(seen.some((e) => e._tag === "ToolCallEnd" || e._tag === "Done")).toBe(false)
    }))

  it.live("a hang between argument fragments: the fragments so far arrive, the call never ends, and closing stops it at once", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => openai.setFaults([{ kind: "hangAfterTokens", tokens: 2 }]))
      const seen: Array<Backend.GenerateEvent> = []
      const backend = yield* makeOpenAi()
      const fiber = yield* Stream.runForEach(
        Events.stream(backend.generate({ model: "gpt-4o-mini", messages: [{ role: "user", content: "use get_weather city=Hanoi" }], tools: [weather] })),
        (e) => Effect.sync(() => seen.push(e))
      ).pipe(Effect.forkChild)
      yield* Effect.sync(() => seen.some((e) => e._tag === "ToolCallDelta")).pipe(
        Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("10 millis") }),
        Effect.timeout("5 seconds")
      )
      yield* Effect.sleep("200 millis")
      expect(seen.filter((e) => e._tag === "ToolCallDelta")).toHaveLength(1)
      expect(seen.some((e) => e._tag === "ToolCallEnd" || e._tag === "Done")).toBe(false)
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Date.now() - started).toBeLessThan(1000)
    }))

  it.effect("an error after the first fragment is Upstream, never a finished call", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => openai.setFaults([{ kind: "errorBody", afterTokens: 2, message: "The server had an error" }]))
      const { error, seen } = yield* failureOf(yield* makeOpenAi(), { model: "gpt-4o-mini", messages: [{ role: "user", content: "use get_weather" }], tools: [weather] })
      expect(error.reason).toBe("Upstream")
      expect(seen.some((e) => e._tag === "ToolCallEnd")).toBe(false)
    }))
})

describe("cloud (openrouter): reasoning on its own spelling", () => {
  it.effect("reasoning{effort} asks for it and the `reasoning` field streams as reasoning; {enabled:false} turns it off", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenRouter()
      const ask: Backend.GenerateRequest = { model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "Why is the sky blue?" }] }
      const on = yield* collect(backend, { ...ask, reasoning: { _tag: "On", effort: "high" } })
      expect(reasoningOf(on).length).toBeGreaterThan(0)
      expect((yield* lastBody(() => openrouter))["reasoning"]).toEqual({ effort: "high" })
      const off = yield* collect(backend, { ...ask, reasoning: { _tag: "Off" } })
      expect(reasoningOf(off)).toBe("")
      expect((yield* lastBody(() => openrouter))["reasoning"]).toEqual({ enabled: false })
    }))

  it.effect("no embeddings declared, and no embed operation", () =>
    Effect.map(makeOpenRouter(), (backend) => {
      expect(backend.capabilities.embeddings).toBe(false)
      expect(backend.embed).toBeUndefined()
    }))
})

describe("cloud (anthropic): tool_use, tool_result, thinking on the wire", () => {
  it.effect("parallel tool_use blocks, then both results in one user turn: Anthropic's checks pass and it answers", () =>
    Effect.gen(function*() {
      const backend = yield* makeAnthropic()
      const question: Backend.Message = { role: "user", content: "get_weather and get_time for Nairobi" }
      const first = yield* collect(backend, { model: "claude-sonnet-4-5", messages: [question], tools: [weather, time] })
      const calls = toolCallsOf(first)
      expect(calls.map((c) => c.name)).toEqual(["get_weather", "get_time"])
      for (const call of calls) expect(call.id).toMatch(/^toolu_01/)
      expect(first.at(-1)).toMatchObject({ finishReason: "tool_calls" })
      const second = yield* collect(backend, {
        model: "claude-sonnet-4-5",
        tools: [weather, time],
        messages: [
          question,
          { role: "assistant", content: "", toolCalls: calls },
          ...calls.map((call, i): Backend.Message => ({ role: "tool", content: `r${i}`, toolCallId: call.id, toolName: call.name })),
          { role: "user", content: "Thanks." }
        ]
      })
      expect(textOf(second).length).toBeGreaterThan(0)
      const body = yield* lastBody(() => anthropic)
      expect(body["messages"]).toHaveLength(3)
      expect(body["messages"][2]["content"].map((b: { type: string }) => b.type)).toEqual(["tool_result", "tool_result", "text"])
    }))

  it.effect("thinking: the budget on the wire on top of max_tokens; thinking_delta streams as reasoning before the text", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* makeAnthropic(), {
        model: "claude-sonnet-4-5",
        messages: [{ role: "user", content: "What is 2+2?" }],
        reasoning: { _tag: "On", effort: "minimal" },
        options: { maxTokens: 100 }
      })
      expect(reasoningOf(events).length).toBeGreaterThan(0)
      const tags = events.map((e) => e._tag)
      expect(tags.lastIndexOf("ReasoningDelta")).toBeLessThan(tags.indexOf("TextDelta"))
      const body = yield* lastBody(() => anthropic)
      expect(body["thinking"]).toEqual({ type: "enabled", budget_tokens: 1024 })
      expect(body["max_tokens"]).toBe(1124)
    }))

  it.effect("thinking on through a tool call and its result (Claude Code's loop): the result turn is sent without thinking, which Anthropic would refuse without the first turn's signed block", () =>
    Effect.gen(function*() {
      const backend = yield* makeAnthropic()
      const question: Backend.Message = { role: "user", content: "use get_weather city=Oslo" }
      const reasoning = { _tag: "On", effort: "low" } as const
      const first = yield* collect(backend, { model: "claude-sonnet-4-5", messages: [question], tools: [weather], reasoning })
      expect(reasoningOf(first).length).toBeGreaterThan(0)
      expect((yield* lastBody(() => anthropic))["thinking"]).toEqual({ type: "enabled", budget_tokens: 2048 })
      const calls = toolCallsOf(first)
      const second = yield* collect(backend, {
        model: "claude-sonnet-4-5",
        tools: [weather],
        reasoning,
        messages: [
          question,
          { role: "assistant", content: "", reasoning: reasoningOf(first), toolCalls: calls },
          ...calls.map((call): Backend.Message => ({ role: "tool", content: "4 C", toolCallId: call.id, toolName: call.name }))
        ]
      })
      expect(textOf(second).length).toBeGreaterThan(0)
      expect(second.at(-1)).toMatchObject({ _tag: "Done", finishReason: "stop" })
      expect(yield* lastBody(() => anthropic)).not.toHaveProperty("thinking")
      // A new question after the loop thinks again.
      yield* collect(backend, {
        model: "claude-sonnet-4-5",
        tools: [weather],
        reasoning,
        messages: [
          question,
          { role: "assistant", content: "", toolCalls: calls },
          ...calls.map((call): Backend.Message => ({ role: "tool", content: "4 C", toolCallId: call.id, toolName: call.name })),
          { role: "assistant", content: "It is 4 C in Oslo." },
          { role: "user", content: "And tomorrow?" }
        ]
      })
      expect((yield* lastBody(() => anthropic))["thinking"]).toEqual({ type: "enabled", budget_tokens: 2048 })
    }))

  it.effect("tool choice: a named tool is Anthropic's {type: tool}; disable_parallel_tool_use keeps one call", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* makeAnthropic(), {
        model: "claude-sonnet-4-5",
        messages: [{ role: "user", content: "get_weather and get_time for Lagos" }],
        tools: [weather, time],
        toolChoice: { _tag: "Named", name: "get_time" },
        parallelToolCalls: false
      })
      expect(toolCallsOf(events).map((c) => c.name)).toEqual(["get_time"])
      expect((yield* lastBody(() => anthropic))["tool_choice"]).toEqual({ type: "tool", name: "get_time", disable_parallel_tool_use: true })
    }))

  it.effect("a cut inside input_json_delta is StreamCut inside the tool call", () =>
    Effect.gen(function*() {
      // The tool_use start with its empty delta is one token, each fragment one more.
      yield* Effect.promise(() => anthropic.setFaults([{ kind: "cutAfterTokens", tokens: 2 }]))
      const { error, seen } = yield* failureOf(yield* makeAnthropic(), { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "use get_weather city=Lima" }], tools: [weather] })
      expect(error.reason).toBe("StreamCut")
      expect(seen.filter((e) => e._tag === "ToolCallStart")).toHaveLength(1)
      expect(seen.some((e) => e._tag === "ToolCallEnd" || e._tag === "Done")).toBe(false)
    }))

  it.effect("an error event in the middle of thinking fails the answer after the reasoning that came", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => anthropic.setFaults([{ kind: "errorBody", afterTokens: 2 }]))
      const { error, seen } = yield* failureOf(yield* makeAnthropic(), {
        model: "claude-sonnet-4-5",
        messages: [{ role: "user", content: "Why is the sky blue?" }],
        reasoning: { _tag: "On", effort: "low" }
      })
      expect(["Overloaded", "Upstream"]).toContain(error.reason)
      expect(seen.filter((e) => e._tag === "ReasoningDelta")).toHaveLength(2)
      expect(seen.some((e) => e._tag === "TextDelta" || e._tag === "Done")).toBe(false)
    }))
})

describe("cloud: what one model can do", () => {
  it("OpenAI: the documented reasoning families reason (reasoning_effort is a 400 elsewhere); text-embedding-* embeds and does not chat", () => {
    expect(["o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "codex-mini-latest", "gpt-4o", "gpt-4o-mini", "gpt-4.1", "omni-moderation-latest"].map((m) => ModelCapabilities.openAi(m).reasoning))
      .toEqual([true, true, true, true, true, true, false, false, false, false])
    expect(ModelCapabilities.openAi("text-embedding-3-small")).toMatchObject({ text: false, embeddings: true, tools: false })
    expect(ModelCapabilities.openAi("gpt-4o")).toEqual({ reasoning: false, embeddings: false })
  })

  it("OpenRouter: its model list's own word (supported_parameters, input modalities), nothing where it says nothing", () => {
    // The shape of an entry of GET https://openrouter.ai/api/v1/models (trimmed).
    const entry = {
      id: "deepseek/deepseek-r1",
      architecture: { modality: "text->text", input_modalities: ["text"], output_modalities: ["text"] },
      supported_parameters: ["max_tokens", "temperature", "tools", "tool_choice", "reasoning", "include_reasoning", "structured_outputs", "response_format"]
    }
    expect(ModelCapabilities.openRouter(entry)).toEqual({ tools: true, jsonSchema: true, reasoning: true, images: false })
    expect(ModelCapabilities.openRouter({ id: "x", architecture: { input_modalities: ["text", "image"] }, supported_parameters: ["temperature"] }))
      .toEqual({ tools: false, jsonSchema: false, reasoning: false, images: true })
    expect(ModelCapabilities.openRouter({ id: "x" })).toEqual({})
  })

  it.effect("through the backends: OpenAI answers from the rule without a call; OpenRouter reads its list (a model it does not list is ModelMissing); Anthropic has no report", () =>
    Effect.gen(function*() {
      expect(yield* (yield* makeOpenAi()).modelCapabilities!("o4-mini")).toMatchObject({ reasoning: true })
      expect(yield* Effect.promise(() => openai.requests())).toEqual([])
      const router = yield* makeOpenRouter()
      // sim-openai's list has no supported_parameters: nothing is claimed.
      expect(yield* router.modelCapabilities!("openai/gpt-4o-mini")).toEqual({})
      expect((yield* Effect.flip(router.modelCapabilities!("nobody/none"))).reason).toBe("ModelMissing")
      expect((yield* makeAnthropic()).modelCapabilities).toBeUndefined()
    }))
})
