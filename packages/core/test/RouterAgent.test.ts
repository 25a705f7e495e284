/**
 * The Router with contract 2.0's features: reasoning and tool-call events through the commit
 * gate, capabilities per backend and per model (declared, reported, defaults) deciding which
 * candidates a request may use, structured output checked against its JSON Schema, and
 * embeddings that fall back only within one vector space.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import type { ResponseFormat, Tool } from "../src/Backend.ts"
import { Router, RoutingConfig } from "../src/index.ts"
import { ScriptedBackend } from "../src/testing/index.ts"

const yaml = `backends:
  mlx: { type: scripted, capabilities: { tools: true, reasoning: true } }
  ollama: { type: scripted }
  cloud: { type: scripted, capabilities: { tools: true, jsonSchema: true, reasoning: true } }
  nomic-a: { type: scripted }
  minilm: { type: scripted }
  nomic-b: { type: scripted }
defaults:
  timeouts: { connect: 1s, firstToken: 2s, idle: 500ms, total: 10s }
priorities:
  text: [mlx, ollama, cloud]
  embed: [nomic-a, minilm, nomic-b]
categories:
  agent:
    input: text
    models: { mlx: m-mlx, ollama: "qwen3:8b", cloud: gpt }
  json:
    input: text
    priority: [ollama, cloud]
    models: { ollama: "qwen3:8b", cloud: gpt }
  llava:
    input: text
    models: { ollama: "llava:7b" }
  declared:
    input: text
    models:
      mlx: { model: m-mlx, capabilities: { tools: false } }
      ollama: { model: "llava:7b", capabilities: { tools: true } }
  embed:
    input: embed
    models:
      nomic-a: { model: nomic-embed-text, space: nomic }
      minilm: all-minilm
      nomic-b: { model: nomic-embed-text-v1.5.Q8_0.gguf, space: nomic }
`
const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))

type Name = "mlx" | "ollama" | "cloud" | "nomic-a" | "minilm" | "nomic-b"
const names: ReadonlyArray<Name> = ["mlx", "ollama", "cloud", "nomic-a", "minilm", "nomic-b"]

const setup = (options: Partial<Record<Name, Partial<Omit<ScriptedBackend.Options, "name">>>> = {}) => {
  const scripted = Object.fromEntries(names.map((name) => {
    const defaults: Omit<ScriptedBackend.Options, "name"> = name === "ollama"
      // Ollama reports what each model can do (its /api/show capabilities).
      ? { script: [{}], modelCapabilities: { "qwen3:8b": { tools: true, jsonSchema: true, reasoning: true }, "llava:7b": { images: true, tools: false } } }
      : name.startsWith("nomic") || name === "minilm"
      ? { script: [{}], embed: [{ dimensions: name === "minilm" ? 3 : 4 }] }
      : { script: [{}] }
    return [name, ScriptedBackend.make({ name, ...defaults, ...options[name] })]
  })) as Record<Name, ScriptedBackend.Scripted>
  let version = 1
  const snapshot = (): Router.Snapshot => ({
    version,
    config,
    backends: new Map(Object.entries(scripted).map(([name, s]) => [name, Router.Slot.Ready({ backend: s.backend, timeouts: {} })]))
  })
  return Effect.map(Router.make(Effect.sync(snapshot)), (router) => ({ router, scripted, reload: () => void version++ }))
}

const weather: Tool = { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
const city: ResponseFormat = {
  _tag: "JsonSchema",
  name: "city",
  schema: { type: "object", properties: { city: { type: "string" }, population: { type: "integer" } }, required: ["city", "population"] }
}
const call = { id: "call_1", name: "get_weather", arguments: ['{"city":', '"Paris"}'] }

const collect = (router: Router.Router, request: Router.Request) => Stream.runCollect(router.stream(request))
const brief = (events: ReadonlyArray<Router.Event>) =>
  events.map((e) =>
    e._tag === "Routed"
      ? `Routed ${e.backend}`
      : e._tag === "TextDelta" || e._tag === "ReasoningDelta"
      ? `${e._tag} ${e.text}`
      : e._tag === "ToolCallStart"
      ? `ToolCallStart ${e.index} ${e.id} ${e.name}`
      : e._tag === "ToolCallDelta"
      ? `ToolCallDelta ${e.index} ${e.arguments}`
      : e._tag === "ToolCallEnd"
      ? `ToolCallEnd ${e.index}`
      : e._tag === "Done"
      ? `Done ${e.finishReason}`
      : e._tag
  )

describe("Router 2.0: reasoning and tool calls through the commit gate", () => {
  it.effect("a streamed tool call reaches the caller as start, argument deltas, end, and Done tool_calls", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: { script: [{ toolCalls: [call] }] } })
      const events = yield* collect(router, { category: "agent", prompt: "weather in Paris?", tools: [weather], toolChoice: { _tag: "Auto" }, parallelToolCalls: false })
      expect(brief(events)).toEqual([
        "Routed mlx",
        "ToolCallStart 0 call_1 get_weather",
        'ToolCallDelta 0 {"city":',
        'ToolCallDelta 0 "Paris"}',
        "ToolCallEnd 0",
        "Usage",
        "Done tool_calls"
      ])
      // The backend got the tools, the tool choice and the parallel-calls flag.
      expect(scripted.mlx.requests[0]).toMatchObject({ tools: [weather], toolChoice: { _tag: "Auto" }, parallelToolCalls: false })
    }))

  it.effect("run gives the tool calls whole, and the reasoning apart from the text", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: { script: [{ reasoning: ["Paris ", "is a city."], tokens: ["Let me check."], toolCalls: [call, { id: "call_2", name: "get_weather", arguments: '{"city":"Oslo"}' }] }] } })
      const answer = yield* router.run({ category: "agent", prompt: "weather in Paris and Oslo?", tools: [weather] })
      expect(answer).toMatchObject({
        text: "Let me check.",
        reasoning: "Paris is a city.",
        finishReason: "tool_calls",
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }, { id: "call_2", name: "get_weather", arguments: '{"city":"Oslo"}' }]
      })
    }))

  it.effect("reasoning is the commit: a failure after it is a StreamFailed, not a fallback", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: { script: [{ reasoning: ["Hmm"], tokens: [], end: "cut" }] } })
      const seen: Array<Router.Event> = []
      const error = yield* Effect.flip(Stream.runForEach(router.stream({ category: "agent", prompt: "think", reasoning: { _tag: "On" } }), (e) => Effect.sync(() => seen.push(e))))
      expect(brief(seen)).toEqual(["Routed mlx", "ReasoningDelta Hmm"])
      expect(error.reason).toBe("StreamFailed")
      expect(error.trace.attempts.at(-1)).toMatchObject({ backend: "mlx", outcome: "failed", reason: "StreamCut", committed: true })
      expect(scripted.cloud.requests).toHaveLength(0)
    }))

  it.effect("a cut in the middle of a tool call's arguments is a StreamFailed after the commit", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ mlx: { script: [{ toolCalls: [call], endAfter: 2, end: "Upstream" }] } })
      const seen: Array<Router.Event> = []
      const error = yield* Effect.flip(Stream.runForEach(router.stream({ category: "agent", prompt: "weather?", tools: [weather] }), (e) => Effect.sync(() => seen.push(e))))
      expect(brief(seen)).toEqual(["Routed mlx", "ToolCallStart 0 call_1 get_weather", 'ToolCallDelta 0 {"city":'])
      expect(error.reason).toBe("StreamFailed")
    }))

  it.effect("a failure before the first visible event falls back invisibly, tools and all", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ mlx: { script: [{ tokens: [], end: "Overloaded" }] }, ollama: { script: [{ toolCalls: [call] }] } })
      const events = yield* collect(router, { category: "agent", prompt: "weather?", tools: [weather] })
      expect(brief(events)[0]).toBe("Routed ollama")
      expect(brief(events)).toContain("Done tool_calls")
      expect(scripted.ollama.requests[0]!.tools).toEqual([weather])
      const done = events.at(-1)!
      expect(done._tag === "Done" ? done.trace.attempts.map((a) => [a.backend, a.outcome, a.reason]) : []).toEqual([
        ["mlx", "failed", "Overloaded"],
        ["ollama", "answered", undefined]
      ])
    }))
})

describe("Router 2.0: capabilities decide the candidates", () => {
  it.effect("a request with tools skips the model without tool support, saying so; none left is Unsupported, listing why", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup()
      const error = yield* Effect.flip(router.run({ category: "llava", prompt: "weather?", tools: [weather] }))
      expect(error.reason).toBe("Unsupported")
      expect(error.message).toMatch(/no backend supports what the request needs for category "llava"/)
      expect(error.message).toContain("llava:7b: no tool support")
      expect(error.trace.attempts.filter((a) => a.outcome === "skipped").map((a) => [a.backend, a.reason])).toEqual([
        ["mlx", "no model for this category"],
        ["ollama", "llava:7b: no tool support"],
        ["cloud", "no model for this category"]
      ])
      expect(scripted.ollama.requests).toHaveLength(0)
      // Without tools the same category answers.
      expect((yield* router.run({ category: "llava", prompt: "hi" })).backend).toBe("ollama")
    }))

  it.effect("tool choice none asks nothing of the model", () =>
    Effect.gen(function*() {
      const { router } = yield* setup()
      expect((yield* router.run({ category: "llava", prompt: "hi", tools: [weather], toolChoice: { _tag: "None" } })).backend).toBe("ollama")
    }))

  it.effect("a model's own declaration beats its backend's and the server's report", () =>
    Effect.gen(function*() {
      const { router } = yield* setup()
      const answer = yield* router.run({ category: "declared", prompt: "weather?", tools: [weather] })
      // mlx declares tools for the backend, but this model not; the server says llava:7b has none, routing.yaml says it does.
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]).toMatchObject({ backend: "mlx", outcome: "skipped", reason: "m-mlx: no tool support" })
    }))

  it.effect("JSON mode and reasoning skip models without them", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ ollama: { script: [{ tokens: ['{"ok":true}'] }], modelCapabilities: { "qwen3:8b": { tools: true, jsonSchema: true, reasoning: false } } } })
      const json = yield* router.run({ category: "agent", prompt: "json please", responseFormat: { _tag: "Json" } })
      expect(json.backend).toBe("ollama")
      expect(json.trace.attempts[0]).toMatchObject({ backend: "mlx", reason: "m-mlx: no JSON schema support" })
      const reasoning = yield* router.run({ category: "json", prompt: "think", reasoning: { _tag: "On", effort: "high" } })
      expect(reasoning.backend).toBe("cloud")
      expect(reasoning.trace.attempts[0]).toMatchObject({ backend: "ollama", reason: "qwen3:8b: no reasoning support" })
    }))

  it.effect("a server is asked once per model and config version, and only when the request needs more than text", () =>
    Effect.gen(function*() {
      const { reload, router, scripted } = yield* setup()
      yield* router.run({ category: "agent", prompt: "hi" })
      expect(scripted.ollama.capabilityQueries).toEqual([])
      yield* router.run({ category: "agent", prompt: "weather?", tools: [weather] })
      yield* router.run({ category: "agent", prompt: "weather?", tools: [weather] })
      expect(scripted.ollama.capabilityQueries).toEqual(["qwen3:8b"])
      reload()
      yield* router.run({ category: "agent", prompt: "weather?", tools: [weather] })
      expect(scripted.ollama.capabilityQueries).toEqual(["qwen3:8b", "qwen3:8b"])
    }))

  it.effect("a server that cannot say falls back to the declarations and defaults, and the trace says so", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ ollama: { script: [{ toolCalls: [call] }], modelCapabilities: "Unreachable", capabilities: { tools: true } } })
      const answer = yield* router.run({ category: "json", prompt: "weather?", tools: [weather] })
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]!.detail).toMatch(/^ollama could not say what qwen3:8b supports \(.*\); used routing\.yaml's declarations and the scripted defaults$/)
    }))

  it.effect("capabilities: what each candidate of a category can do, and what any of them can", () =>
    Effect.gen(function*() {
      const { router } = yield* setup()
      const caps = yield* router.capabilities({ category: "agent" })
      expect(caps.candidates.map((c) => [c.backend, c.model, c.capabilities.tools, c.capabilities.jsonSchema])).toEqual([
        ["mlx", "m-mlx", true, false],
        ["ollama", "qwen3:8b", true, true],
        ["cloud", "gpt", true, true]
      ])
      expect(caps.any).toMatchObject({ text: true, tools: true, jsonSchema: true, reasoning: true, embeddings: false })
      expect((yield* router.capabilities({ category: "llava" })).any).toMatchObject({ tools: false, images: true })
      expect((yield* Effect.flip(router.capabilities({ category: "nope" }))).reason).toBe("UnknownCategory")
    }))
})

describe("Router 2.0: deadlines and questions on the clock", () => {
  it.effect("reasoning is the first token: a model that reasons long, steadily, never meets the first-token deadline", () =>
    Effect.gen(function*() {
      // firstToken 2s, idle 500ms: 12 reasoning deltas 400ms apart take 4.8s before the text.
      const { router } = yield* setup({ mlx: { script: [{ reasoning: Array.from({ length: 12 }, (_, i) => `step ${i} `), tokens: ["done"], tokenDelayMs: 400 }] } })
      const fiber = yield* Effect.forkChild(router.run({ category: "agent", prompt: "think", reasoning: { _tag: "On" } }))
      yield* TestClock.adjust("6 seconds")
      const answer = yield* Fiber.join(fiber)
      expect(answer).toMatchObject({ backend: "mlx", text: "done" })
      expect(answer.reasoning).toMatch(/^step 0 step 1 .*step 11 $/)
    }))

  it.effect("a server that never says what a model supports is given its connect deadline (at most 5s); the request goes on with the declarations", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ ollama: { script: [{ toolCalls: [call] }], modelCapabilities: "hang", capabilities: { tools: true } } })
      const fiber = yield* Effect.forkChild(router.run({ category: "json", prompt: "weather?", tools: [weather] }))
      yield* TestClock.adjust("1 second")
      const answer = yield* Fiber.join(fiber)
      expect(answer.backend).toBe("ollama")
      expect(answer.trace.attempts[0]!.detail).toMatch(/^ollama did not say what qwen3:8b supports within 1s/)
      expect(scripted.ollama.capabilityQueries).toEqual(["qwen3:8b"])
    }))

  it.effect("an unanswered question is asked again after 30s, an answered one not until the config changes", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ ollama: { script: [{ toolCalls: [call] }], modelCapabilities: "Unreachable", capabilities: { tools: true } } })
      const ask = router.run({ category: "json", prompt: "weather?", tools: [weather] })
      yield* ask
      yield* TestClock.adjust("29 seconds")
      yield* ask
      expect(scripted.ollama.capabilityQueries).toHaveLength(1)
      yield* TestClock.adjust("1 second")
      yield* ask
      expect(scripted.ollama.capabilityQueries).toHaveLength(2)
    }))

  it.effect("embeddings are held to the total deadline, then fall back within the space", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ "nomic-a": { embed: [{ hang: true }] } })
      const fiber = yield* Effect.forkChild(router.embed({ input: ["a"] }))
      yield* TestClock.adjust("10 seconds")
      const result = yield* Fiber.join(fiber)
      expect(result.backend).toBe("nomic-b")
      expect(result.trace.attempts[0]).toMatchObject({ backend: "nomic-a", outcome: "failed", reason: "Timeout" })
    }))
})

describe("Router 2.0: structured output is checked", () => {
  it.effect("whole: an answer that does not match the JSON Schema is a failed attempt; the next candidate answers", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({
        ollama: { script: [{ tokens: ['{"city":"Paris"}'] }] },
        cloud: { script: [{ tokens: ['{"city":"Paris","population":2102650}'] }] }
      })
      const answer = yield* router.run({ category: "json", prompt: "a city as JSON", responseFormat: city })
      expect(answer).toMatchObject({ backend: "cloud", text: '{"city":"Paris","population":2102650}' })
      expect(answer.trace.attempts[0]).toMatchObject({ backend: "ollama", outcome: "failed", reason: "InvalidOutput" })
      expect(answer.trace.attempts[0]!.message).toMatch(/does not match the JSON Schema "city": .*population/)
      // The model wrote it; the server is fine: its circuit stays closed however often it happens (3 failures would open it).
      for (let i = 0; i < 3; i++) yield* router.run({ category: "json", prompt: "a city as JSON", responseFormat: city })
      expect((yield* router.circuits).ollama).toBe("closed")
    }))

  it.effect("whole: JSON mode wants JSON; text that is not falls back", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ ollama: { script: [{ tokens: ["Sure! Here it is"] }] }, cloud: { script: [{ tokens: ["[1,2]"] }] } })
      const answer = yield* router.run({ category: "json", prompt: "json", responseFormat: { _tag: "Json" } })
      expect(answer.backend).toBe("cloud")
      expect(answer.trace.attempts[0]!.message).toMatch(/^the answer is not JSON/)
    }))

  it.effect("streamed: passed through, then an explicit error at the end when it does not match", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ ollama: { script: [{ tokens: ['{"city":', '"Paris"}'] }] } })
      const seen: Array<Router.Event> = []
      const error = yield* Effect.flip(Stream.runForEach(router.stream({ category: "json", prompt: "a city", responseFormat: city }), (e) => Effect.sync(() => seen.push(e))))
      expect(brief(seen)).toEqual(["Routed ollama", 'TextDelta {"city":', 'TextDelta "Paris"}', "Usage"])
      expect(error.reason).toBe("StreamFailed")
      expect(error.message).toMatch(/InvalidOutput.*does not match the JSON Schema "city"/)
      expect(error.trace.attempts.at(-1)).toMatchObject({ backend: "ollama", outcome: "failed", reason: "InvalidOutput", committed: true })
    }))

  it.effect("streamed: an answer that matches ends cleanly", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ ollama: { script: [{ tokens: ['{"city":"Oslo",', '"population":709037}'] }] } })
      const events = yield* collect(router, { category: "json", prompt: "a city", responseFormat: city })
      expect(brief(events).at(-1)).toBe("Done stop")
    }))

  it.effect("a turn that ends in tool calls has no answer text to check", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ ollama: { script: [{ toolCalls: [call] }] } })
      const answer = yield* router.run({ category: "json", prompt: "weather", tools: [weather], responseFormat: city })
      expect(answer).toMatchObject({ backend: "ollama", finishReason: "tool_calls" })
    }))

  it.effect("a schema that is not a valid JSON Schema is the caller's mistake, before any backend is tried", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup()
      const error = yield* Effect.flip(router.run({ category: "json", prompt: "x", responseFormat: { _tag: "JsonSchema", name: "bad", schema: { type: "integer", minimum: "zero" } } }))
      expect(error.reason).toBe("InvalidRequest")
      expect(error.message).toMatch(/the JSON Schema "bad" is not a valid schema/)
      expect(scripted.ollama.requests).toHaveLength(0)
    }))
})

describe("Router 2.0: embeddings fall back only within one vector space", () => {
  it.effect("the first candidate's vectors, one per input, with the backend, model and space in the answer and trace", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup()
      const result = yield* router.embed({ category: "embed", input: ["a", "b"] })
      expect(result).toMatchObject({ backend: "nomic-a", model: "nomic-embed-text", servedModel: "nomic-embed-text", space: "nomic" })
      expect(result.vectors).toHaveLength(2)
      expect(result.vectors[0]).toHaveLength(4)
      expect(result.trace).toMatchObject({ category: "embed", backend: "nomic-a", model: "nomic-embed-text", space: "nomic" })
      expect(scripted["nomic-a"].embedRequests[0]).toEqual({ model: "nomic-embed-text", input: ["a", "b"] })
    }))

  it.effect("a failure falls back to a model of the same space, never to another model's", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ "nomic-a": { embed: [{ fail: "Unreachable" }] } })
      const result = yield* router.embed({ input: ["a"], dimensions: 4 })
      expect(result).toMatchObject({ backend: "nomic-b", space: "nomic" })
      expect(result.trace.attempts.map((a) => [a.backend, a.outcome, a.reason?.split(" (")[0]])).toEqual([
        ["nomic-a", "failed", "Unreachable"],
        ["minilm", "skipped", "makes vectors of another space"],
        ["nomic-b", "answered", undefined]
      ])
      expect(scripted.minilm.embedRequests).toHaveLength(0)
      expect(scripted["nomic-b"].embedRequests[0]!.dimensions).toBe(4)
    }))

  it.effect("when the space's models all fail, the error says so, and the other space is still not used", () =>
    Effect.gen(function*() {
      const { router, scripted } = yield* setup({ "nomic-a": { embed: [{ fail: "Timeout" }] }, "nomic-b": { embed: [{ fail: "Overloaded" }] } })
      const error = yield* Effect.flip(router.embed({ input: ["a"] }))
      expect(error.reason).toBe("AllFailed")
      expect(error.trace.space).toBe("nomic")
      expect(scripted.minilm.embedRequests).toHaveLength(0)
    }))

  it.effect("a backend that answers the wrong number of vectors has failed, and the next of the space answers", () =>
    Effect.gen(function*() {
      const { router } = yield* setup({ "nomic-a": { embed: [{ count: 1 }] } })
      const result = yield* router.embed({ input: ["a", "b", "c"] })
      expect(result.backend).toBe("nomic-b")
      expect(result.vectors).toHaveLength(3)
      expect(result.trace.attempts[0]).toMatchObject({ backend: "nomic-a", outcome: "failed", reason: "Upstream", message: "nomic-a answered 1 vectors for 3 inputs" })
    }))

  it.effect("embeddings of a text category, a chat request to an embed category, and empty input are refused", () =>
    Effect.gen(function*() {
      const { router } = yield* setup()
      expect((yield* Effect.flip(router.embed({ category: "agent", input: ["a"] }))).message).toMatch(/category "agent" is for text input, not embeddings/)
      expect((yield* Effect.flip(router.run({ category: "embed", prompt: "hi" }))).message).toMatch(/category "embed" is for embeddings/)
      const empty = yield* Effect.flip(router.embed({ input: [] }))
      expect([empty.reason, empty.message]).toEqual(["InvalidRequest", "nothing to embed: `input` is empty"])
    }))

  it.effect("a pinned backend without embeddings is Unsupported", () =>
    Effect.gen(function*() {
      const { router } = yield* setup()
      const error = yield* Effect.flip(router.embed({ pin: { backend: "mlx", model: "m-mlx" }, input: ["a"] }))
      expect(error.reason).toBe("Unsupported")
      expect(error.message).toContain("m-mlx: no embeddings support")
      const pinned = yield* router.embed({ pin: { backend: "minilm", model: "all-minilm" }, input: ["a"] })
      expect(pinned).toMatchObject({ backend: "minilm", space: "all-minilm" })
      expect(pinned.vectors[0]).toHaveLength(3)
    }))
})
