/**
 * Contract 2.0 on Ollama, against sim-ollama (a real process on an OS-assigned port, answering
 * as current Ollama does: whole tool calls with `call_` ids and `function.index`, `format`,
 * `think` and `message.thinking`, `/api/show` capabilities, `/api/embed`): the core contract's
 * agent checks, what goes on the wire, and faults in the middle of a tool call.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { type Backend, Events } from "@local-router/core"
import { Generated, contractSuite } from "@local-router/core/testing"
import { Simulator } from "@local-router/simulators"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { OllamaBackend, OllamaOptions } from "../src/index.ts"

const { collect, failureOf, reasoningOf, textOf, toolCallsOf } = Generated

let sim: Simulator.Running

beforeAll(async () => {
  sim = await Simulator.start("ollama", {
    args: ["--tokens", "5", "--models", "qwen3:8b,llama3.2:3b,phi3.5:3.8b,llava:7b,all-minilm,nomic-embed-text"]
  })
})
afterAll(async () => {
  await sim.stop()
})
beforeEach(async () => {
  await sim.clearFaults()
  await sim.clearRequests()
})

const make = (url: string) =>
  OllamaBackend.make({
    name: "ollama-agent",
    url,
    apiKey: undefined,
    apiKeyEnv: undefined,
    options: Schema.decodeUnknownSync(OllamaOptions.OllamaOptions)({}),
    configDir: process.cwd()
  })

const weather: Backend.Tool = {
  name: "get_weather",
  description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}
const time: Backend.Tool = { name: "get_time", description: "Time in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }

const lastChat = Effect.promise(async () => (await sim.requests()).filter((r) => r.path === "/api/chat").at(-1)?.body as Record<string, any>)

contractSuite("ollama (agent)", {
  make: Effect.suspend(() => make(sim.url)),
  model: "phi3.5:3.8b",
  missingModel: "nope:1b",
  tools: { model: "qwen3:8b" },
  reasoning: { model: "qwen3:8b" },
  jsonSchema: { model: "llama3.2:3b" },
  embed: { model: "all-minilm" }
})

describe("ollama: tool calls", () => {
  it.effect("a call arrives whole: Start with Ollama's call_ id, one Delta with the arguments' JSON, End; Done tool_calls (Ollama says stop)", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* make(sim.url), {
        model: "llama3.2:3b",
        messages: [{ role: "user", content: "use get_weather city=Tokyo" }],
        tools: [weather, time]
      })
      const calls = toolCallsOf(events)
      expect(calls).toHaveLength(1)
      expect(calls[0]!.name).toBe("get_weather")
      expect(calls[0]!.id).toMatch(/^call_[a-z0-9]{8}$/)
      expect(JSON.parse(calls[0]!.arguments)).toEqual({ city: "Tokyo" })
      const tags = events.map((e) => e._tag)
      const start = tags.indexOf("ToolCallStart")
      expect(tags.slice(start, start + 3)).toEqual(["ToolCallStart", "ToolCallDelta", "ToolCallEnd"])
      expect(events.at(-1)).toMatchObject({ _tag: "Done", finishReason: "tool_calls" })
      expect(textOf(events)).toBe("")
      const body = yield* lastChat
      expect(body["tools"]).toEqual([
        { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: weather.parameters } },
        { type: "function", function: { name: "get_time", description: "Time in a city", parameters: time.parameters } }
      ])
    }))

  it.effect("parallel calls are numbered 0, 1 with ids of their own; parallelToolCalls false keeps the first", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const request: Backend.GenerateRequest = {
        model: "llama3.2:3b",
        messages: [{ role: "user", content: "get_weather and get_time for Paris" }],
        tools: [weather, time]
      }
      const both = toolCallsOf(yield* collect(backend, request))
      expect(both.map((c) => c.name)).toEqual(["get_weather", "get_time"])
      expect(new Set(both.map((c) => c.id)).size).toBe(2)
      const one = yield* collect(backend, { ...request, parallelToolCalls: false })
      expect(toolCallsOf(one).map((c) => c.name)).toEqual(["get_weather"])
      expect(one.at(-1)).toMatchObject({ finishReason: "tool_calls" })
    }))

  it.effect("the tool-result turn: the result goes back as role tool with tool_name (from the call its id names), and the model answers with it", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const question: Backend.Message = { role: "user", content: "use get_weather city=Oslo" }
      const first = yield* collect(backend, { model: "llama3.2:3b", messages: [question], tools: [weather] })
      const [call] = toolCallsOf(first)
      const second = yield* collect(backend, {
        model: "llama3.2:3b",
        tools: [weather],
        messages: [question, { role: "assistant", content: "", toolCalls: [call!] }, { role: "tool", content: "4 degrees and snow", toolCallId: call!.id }]
      })
      expect(textOf(second)).toContain("Result of get_weather: 4 degrees and snow")
      expect(toolCallsOf(second)).toEqual([])
      expect(second.at(-1)).toMatchObject({ finishReason: "stop" })
      const body = yield* lastChat
      expect(body["messages"][1]).toEqual({ role: "assistant", content: "", tool_calls: [{ id: call!.id, function: { name: "get_weather", arguments: { city: "Oslo" } } }] })
      expect(body["messages"][2]).toEqual({ role: "tool", content: "4 degrees and snow", tool_name: "get_weather", tool_call_id: call!.id })
    }))

  it.effect("tool choice none sends no tools (Ollama has no tool_choice), and the model answers in text", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* make(sim.url), {
        model: "llama3.2:3b",
        messages: [{ role: "user", content: "use get_weather for Rome" }],
        tools: [weather],
        toolChoice: { _tag: "None" }
      })
      expect(toolCallsOf(events)).toEqual([])
      expect(textOf(events).length).toBeGreaterThan(0)
      expect(yield* lastChat).not.toHaveProperty("tools")
    }))

  it.effect("tools for a model without the capability: Ollama's 400 becomes ModelMissing (try another model), never a pull", () =>
    Effect.gen(function*() {
      const { error, seen } = yield* failureOf(yield* make(sim.url), { model: "phi3.5:3.8b", messages: [{ role: "user", content: "use get_weather" }], tools: [weather] })
      expect(error.reason).toBe("ModelMissing")
      expect(error.status).toBe(400)
      expect(error.message).toContain("does not support tools")
      expect(seen).toEqual([])
      expect((yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/pull")).toEqual([])
    }))
})

describe("ollama: format, think", () => {
  it.effect("a JSON Schema goes as format and the answer is JSON matching it; plain JSON mode sends \"json\"", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const schema = { type: "object", properties: { name: { type: "string" }, age: { type: "integer", minimum: 0 } }, required: ["name", "age"] }
      const events = yield* collect(backend, {
        model: "llama3.2:3b",
        messages: [{ role: "user", content: "A person, as JSON" }],
        responseFormat: { _tag: "JsonSchema", name: "person", schema }
      })
      const answer = JSON.parse(textOf(events))
      expect(typeof answer.name).toBe("string")
      expect(Number.isInteger(answer.age)).toBe(true)
      expect((yield* lastChat)["format"]).toEqual(schema)
      yield* collect(backend, { model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], responseFormat: { _tag: "Json" } })
      expect((yield* lastChat)["format"]).toBe("json")
    }))

  it.effect("a thinking model thinks by default (message.thinking -> ReasoningDelta before the text); Off sends think:false and it stops", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const ask: Backend.GenerateRequest = { model: "qwen3:8b", messages: [{ role: "user", content: "Why is the sky blue?" }] }
      const thinking = yield* collect(backend, ask)
      expect(reasoningOf(thinking).length).toBeGreaterThan(0)
      const tags = thinking.map((e) => e._tag)
      expect(tags.lastIndexOf("ReasoningDelta")).toBeLessThan(tags.indexOf("TextDelta"))
      expect(yield* lastChat).not.toHaveProperty("think")
      const quiet = yield* collect(backend, { ...ask, reasoning: { _tag: "Off" } })
      expect(reasoningOf(quiet)).toBe("")
      expect(textOf(quiet)).toBe(textOf(thinking))
      expect((yield* lastChat)["think"]).toBe(false)
      yield* collect(backend, { ...ask, reasoning: { _tag: "On", effort: "high" } })
      expect((yield* lastChat)["think"]).toBe("high")
    }))

  it.effect("reasoning on for a model without thinking: Ollama's 400 is ModelMissing, not the caller's mistake", () =>
    Effect.gen(function*() {
      const { error } = yield* failureOf(yield* make(sim.url), { model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], reasoning: { _tag: "On" } })
      expect(error.reason).toBe("ModelMissing")
      expect(error.message).toContain("does not support thinking")
    }))
})

describe("ollama: capabilities from /api/show", () => {
  it.effect("each model's own: completion -> text and JSON schema, vision -> images, tools, thinking -> reasoning, embedding -> embeddings", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const of = (model: string) => backend.modelCapabilities!(model)
      expect(yield* of("qwen3:8b")).toEqual({ text: true, images: false, tools: true, jsonSchema: true, reasoning: true, embeddings: false })
      expect(yield* of("llava:7b")).toEqual({ text: true, images: true, tools: false, jsonSchema: true, reasoning: false, embeddings: false })
      expect(yield* of("phi3.5:3.8b")).toMatchObject({ tools: false, reasoning: false })
      expect(yield* of("all-minilm")).toEqual({ text: false, images: false, tools: false, jsonSchema: false, reasoning: false, embeddings: true })
      const shows = (yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/show")
      expect(shows.map((r) => (r.body as { model: string }).model)).toEqual(["qwen3:8b", "llava:7b", "phi3.5:3.8b", "all-minilm"])
    }))

  it.effect("a model Ollama does not have is ModelMissing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip((yield* make(sim.url)).modelCapabilities!("nope:1b"))
      expect(error.reason).toBe("ModelMissing")
    }))
})

describe("ollama: embeddings (/api/embed)", () => {
  it.effect("a batch in one call: one normalised vector per input in order, dimensions cut and renormalised by the server", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const input = ["Why is the sky blue?", "Why is the grass green?", "Why is the sky blue?"]
      const full = yield* backend.embed!({ model: "all-minilm", input })
      expect(full.model).toBe("all-minilm")
      expect(full.vectors.map((v) => v.length)).toEqual([384, 384, 384])
      expect(full.vectors[0]).toEqual(full.vectors[2])
      expect(full.vectors[0]).not.toEqual(full.vectors[1])
      for (const v of full.vectors) expect(Math.hypot(...v)).toBeCloseTo(1, 5)
      const short = yield* backend.embed!({ model: "all-minilm", input: input.slice(0, 1), dimensions: 64, extra: { truncate: false } })
      expect(short.vectors[0]).toHaveLength(64)
      expect(Math.hypot(...short.vectors[0]!)).toBeCloseTo(1, 5)
      const embeds = (yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/embed")
      expect(embeds.map((r) => r.body)).toEqual([
        { model: "all-minilm", input },
        { model: "all-minilm", input: [input[0]], dimensions: 64, truncate: false }
      ])
    }))

  it.effect("two embedding models give different vector spaces (different lengths here)", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const nomic = yield* backend.embed!({ model: "nomic-embed-text", input: ["x"] })
      expect(nomic.vectors[0]).toHaveLength(768)
    }))

  it.effect("a chat model asked to embed: Ollama's 501 is ModelMissing for that model; no input is BadRequest without a call", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const chat = yield* Effect.flip(backend.embed!({ model: "phi3.5:3.8b", input: ["x"] }))
      expect(chat.reason).toBe("ModelMissing")
      expect(chat.message).toContain("does not support embeddings")
      const empty = yield* Effect.flip(backend.embed!({ model: "all-minilm", input: [] }))
      expect(empty.reason).toBe("BadRequest")
      expect((yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/embed")).toHaveLength(1)
    }))
})

describe("ollama: faults in the middle of tool calls", () => {
  // Two whole calls, no thinking (llama3.2 has none): each call is one token for the faults.
  const parallel: Backend.GenerateRequest = {
    model: "llama3.2:3b",
    messages: [{ role: "user", content: "get_weather and get_time for Lima" }],
    tools: [weather, time]
  }

  it.effect("cut after the first call: StreamCut, the first call whole before it, the second never started, no Done", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => sim.setFaults([{ kind: "cutAfterTokens", tokens: 1, route: "/api/chat" }]))
      const { error, seen } = yield* failureOf(yield* make(sim.url), parallel)
      expect(error.reason).toBe("StreamCut")
      expect(toolCallsOf(seen).map((c) => c.name)).toEqual(["get_weather"])
      expect(seen.filter((e) => e._tag === "ToolCallEnd")).toHaveLength(1)
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("an error line after the first call is Upstream quoting Ollama, after that call", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => sim.setFaults([{ kind: "errorBody", afterTokens: 1, message: "runner crashed", route: "/api/chat" }]))
      const { error, seen } = yield* failureOf(yield* make(sim.url), parallel)
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("runner crashed")
      expect(toolCallsOf(seen)).toHaveLength(1)
    }))

  it.live("a hang after the first call: nothing more arrives, and closing the stream ends it at once", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => sim.setFaults([{ kind: "hangAfterTokens", tokens: 1, route: "/api/chat" }]))
      const seen: Array<Backend.GenerateEvent> = []
      const fiber = yield* Stream.runForEach(Events.stream((yield* make(sim.url)).generate(parallel)), (e) => Effect.sync(() => seen.push(e))).pipe(
        Effect.forkChild
      )
      // Wait (real time: the server is a real process) until the first call is in.
      yield* Effect.sync(() => seen.some((e) => e._tag === "ToolCallEnd")).pipe(
        Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("10 millis") }),
        Effect.timeout(Duration.seconds(5))
      )
      yield* Effect.sleep(Duration.millis(200))
      expect(seen.filter((e) => e._tag === "ToolCallStart")).toHaveLength(1)
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Date.now() - started).toBeLessThan(1000)
    }))
})
