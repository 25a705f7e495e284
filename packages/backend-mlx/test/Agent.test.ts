/**
 * Contract 2.0 on the mlx backend, against sim-mlx (a fake mlx_lm.server as a real process,
 * answering as server.py does: whole tool calls when the tool tag closes, uuid4 ids, json.dumps
 * spacing, `reasoning` for thinking models, `response_format` never read, no embeddings route):
 * the core contract's agent checks, the wire, and faults inside a tool call and a reasoning stream.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { type Backend, Events } from "@local-router/core"
import { Generated, contractSuite } from "@local-router/core/testing"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { definition, MlxOptions } from "../src/index.ts"

const { collect, failureOf, reasoningOf, textOf, toolCallsOf } = Generated

const coder = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"
const thinker = "mlx-community/Qwen3-30B-A3B-4bit"

let sim: Simulator.Running

beforeAll(async () => {
  sim = await Simulator.start("mlx", { args: ["--model", coder, "--models", `${coder},${thinker}`, "--tokens", "5"] })
})
afterAll(async () => {
  await sim.stop()
})
beforeEach(async () => {
  await sim.clearFaults()
  await sim.clearRequests()
})

const make = (url: string) =>
  definition.make({
    name: "mlx-agent",
    url,
    apiKey: undefined,
    apiKeyEnv: undefined,
    options: Schema.decodeUnknownSync(MlxOptions.MlxOptions)({}),
    configDir: process.cwd()
  })

const weather: Backend.Tool = { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
const time: Backend.Tool = { name: "get_time", description: "Time", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }

const lastBody = Effect.promise(async () => (await sim.requests()).filter((r) => r.path === "/v1/chat/completions").at(-1)?.body as Record<string, any>)

contractSuite("mlx (agent)", {
  make: Effect.suspend(() => make(sim.url)),
  model: coder,
  missingModel: "mlx-community/does-not-exist-4bit",
  tools: { model: coder },
  reasoning: { model: thinker }
})

describe("mlx: capabilities as mlx_lm.server has them", () => {
  it.effect("tools and reasoning; no JSON Schema (response_format is never read) and no embeddings", () =>
    Effect.map(make(sim.url), (backend) =>
      expect(backend.capabilities).toMatchObject({ tools: true, reasoning: true, jsonSchema: false, embeddings: false })))

  it.effect("embed (for another server behind this type) against mlx_lm: its 404 says there are no embeddings, not a missing model", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip((yield* make(sim.url)).embed!({ model: coder, input: ["x"] }))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("no /v1/embeddings")
    }))
})

describe("mlx: tool calls", () => {
  it.effect("whole calls in one delta each: Start with mlx's uuid, the arguments as sent (json.dumps spacing), End; Done tool_calls", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* make(sim.url), {
        model: coder,
        messages: [{ role: "user", content: "get_weather and get_time city=Lima" }],
        tools: [weather, time]
      })
      const calls = toolCallsOf(events)
      expect(calls.map((c) => c.name)).toEqual(["get_weather", "get_time"])
      for (const call of calls) expect(call.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(calls[0]!.arguments).toBe(`{"city": "Lima"}`)
      expect(events.at(-1)).toMatchObject({ _tag: "Done", finishReason: "tool_calls" })
      const body = yield* lastBody
      expect(body["tools"]).toEqual([weather, time].map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } })))
      expect(body).not.toHaveProperty("tool_choice")
    }))

  it.effect("the tool-result turn: arguments go back as the JSON text (mlx json.loads them), the result by call id, and it answers", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const question: Backend.Message = { role: "user", content: "use get_weather city=Kyiv" }
      const [call] = toolCallsOf(yield* collect(backend, { model: coder, messages: [question], tools: [weather] }))
      const answer = yield* collect(backend, {
        model: coder,
        tools: [weather],
        messages: [question, { role: "assistant", content: "", toolCalls: [call!] }, { role: "tool", content: "-3C", toolCallId: call!.id, toolName: "get_weather" }]
      })
      expect(textOf(answer)).toContain("Result of get_weather: -3C")
      const body = yield* lastBody
      expect(body["messages"][1]).toEqual({ role: "assistant", content: null, tool_calls: [{ id: call!.id, type: "function", function: { name: "get_weather", arguments: call!.arguments } }] })
      expect(body["messages"][2]).toEqual({ role: "tool", tool_call_id: call!.id, name: "get_weather", content: "-3C" })
    }))

  it.effect("mlx_lm has no tool_choice: a named tool is sent alone; none sends no tools; one call kept when parallel calls are off", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const request: Backend.GenerateRequest = { model: coder, messages: [{ role: "user", content: "get_weather and get_time for Rome" }], tools: [weather, time] }
      const named = yield* collect(backend, { ...request, toolChoice: { _tag: "Named", name: "get_time" } })
      expect(toolCallsOf(named).map((c) => c.name)).toEqual(["get_time"])
      expect((yield* lastBody)["tools"].map((t: { function: { name: string } }) => t.function.name)).toEqual(["get_time"])
      const none = yield* collect(backend, { ...request, toolChoice: { _tag: "None" } })
      expect(toolCallsOf(none)).toEqual([])
      expect(yield* lastBody).not.toHaveProperty("tools")
      const one = yield* collect(backend, { ...request, parallelToolCalls: false })
      expect(toolCallsOf(one).map((c) => c.name)).toEqual(["get_weather"])
    }))
})

describe("mlx: reasoning", () => {
  it.effect("a thinking model streams `reasoning` before its answer; Off sends enable_thinking false and it stops", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const ask: Backend.GenerateRequest = { model: thinker, messages: [{ role: "user", content: "Why is the sea salty?" }] }
      const thinking = yield* collect(backend, ask)
      expect(reasoningOf(thinking).length).toBeGreaterThan(0)
      const quiet = yield* collect(backend, { ...ask, reasoning: { _tag: "Off" } })
      expect(reasoningOf(quiet)).toBe("")
      expect(textOf(quiet)).toBe(textOf(thinking))
      expect((yield* lastBody)["chat_template_kwargs"]).toEqual({ enable_thinking: false })
    }))
})

describe("mlx: faults inside a tool call and a reasoning stream", () => {
  const parallel: Backend.GenerateRequest = { model: coder, messages: [{ role: "user", content: "get_weather and get_time for Lima" }], tools: [weather, time] }

  it.effect("cut after the first whole call: StreamCut, that call ended, the second never started", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => sim.setFaults([{ kind: "cutAfterTokens", tokens: 1 }]))
      const { error, seen } = yield* failureOf(yield* make(sim.url), parallel)
      expect(error.reason).toBe("StreamCut")
      expect(toolCallsOf(seen).map((c) => c.name)).toEqual(["get_weather"])
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.live("a hang inside reasoning: the reasoning so far arrives, nothing ends, and closing stops it at once", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => sim.setFaults([{ kind: "hangAfterTokens", tokens: 2 }]))
      const seen: Array<Backend.GenerateEvent> = []
      const fiber = yield* Stream.runForEach(
        Events.stream((yield* make(sim.url)).generate({ model: thinker, messages: [{ role: "user", content: "Why is the sea salty?" }] })),
        (e) => Effect.sync(() => seen.push(e))
      ).pipe(Effect.forkChild)
      yield* Effect.sync(() => seen.filter((e) => e._tag === "ReasoningDelta").length).pipe(
        Effect.repeat({ until: (n) => n >= 2, schedule: Schedule.spaced("10 millis") }),
        Effect.timeout("5 seconds")
      )
      yield* Effect.sleep("200 millis")
      expect(seen.filter((e) => e._tag === "ReasoningDelta")).toHaveLength(2)
      expect(seen.some((e) => e._tag === "TextDelta" || e._tag === "Done")).toBe(false)
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Date.now() - started).toBeLessThan(1000)
    }))
})
