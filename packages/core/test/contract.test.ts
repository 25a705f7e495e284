/**
 * The contract suite plugins run with @effect/vitest (`@local-router/core/testing`), run here on
 * the scripted backend: the suite itself works with the test runner plugins use, and each 2.0
 * check (tool calls, reasoning, JSON Schema, embed) runs when the target names a model for it.
 */
import * as Effect from "effect/Effect"
import { describe, expect, it } from "@effect/vitest"
import { GenerateEvent, type GenerateRequest } from "../src/Backend.ts"
import { contractSuite, ScriptedBackend } from "../src/testing/index.ts"
import { checkToolCalls } from "../src/testing/contract.ts"

contractSuite("scripted", {
  make: Effect.sync(() => ScriptedBackend.make({ name: "scripted", script: [{ tokens: ["Hello", ",", " world"] }], models: ["m"] }).backend),
  model: "m",
  missingModel: "nope"
})

/** A scripted server that behaves as the 2.0 features ask: calls the tool when offered, reasons when asked, answers JSON when asked. */
const agentScript = (request: GenerateRequest): ScriptedBackend.Script => {
  const last = request.messages.at(-1)
  if (request.tools && last?.role === "user") {
    return { toolCalls: [{ id: "call_1", name: "get_weather", arguments: ['{"city":', '"Paris"}'] }] }
  }
  if (request.responseFormat?._tag === "JsonSchema") return { tokens: ['{"city":"Paris",', '"population":2102650}'] }
  if (request.reasoning?._tag === "On") return { reasoning: ["Light ", "scatters."], tokens: ["Rayleigh scattering."] }
  return { tokens: ["It is sunny in Paris."] }
}

contractSuite("scripted with tools, reasoning, JSON Schema and embeddings", {
  make: Effect.sync(() =>
    ScriptedBackend.make({
      name: "agent",
      script: agentScript,
      models: ["m", "embedder"],
      capabilities: { tools: true, reasoning: true, jsonSchema: true },
      embed: [{ dimensions: 8 }]
    }).backend
  ),
  model: "m",
  missingModel: "nope",
  tools: { model: "m" },
  reasoning: { model: "m" },
  jsonSchema: { model: "m" },
  embed: { model: "embedder" }
})

describe("the contract's tool-call check catches streams out of order", () => {
  const { Done, Start, ToolCallDelta, ToolCallEnd, ToolCallStart } = GenerateEvent
  const cases: ReadonlyArray<[string, ReadonlyArray<GenerateEvent>, RegExp]> = [
    ["a delta before its start", [Start({ model: "m" }), ToolCallDelta({ index: 0, arguments: "{}" }), Done({ finishReason: "tool_calls" })], /before its ToolCallStart/],
    ["an index out of order", [Start({ model: "m" }), ToolCallStart({ index: 1, id: "a", name: "f" }), ToolCallEnd({ index: 1 }), Done({ finishReason: "tool_calls" })], /in order/],
    ["a call that never ends", [Start({ model: "m" }), ToolCallStart({ index: 0, id: "a", name: "f" }), Done({ finishReason: "tool_calls" })], /never ended/],
    ["a delta after its end", [Start({ model: "m" }), ToolCallStart({ index: 0, id: "a", name: "f" }), ToolCallEnd({ index: 0 }), ToolCallDelta({ index: 0, arguments: "{}" }), Done({ finishReason: "tool_calls" })], /after its ToolCallEnd/],
    ["a turn that ends stop", [Start({ model: "m" }), ToolCallStart({ index: 0, id: "a", name: "f" }), ToolCallEnd({ index: 0 }), Done({ finishReason: "stop" })], /tool_calls/]
  ]
  for (const [name, events, message] of cases) {
    it(name, () => expect(() => checkToolCalls(events)).toThrow(message))
  }
  it("a valid stream gives the calls whole", () =>
    expect(checkToolCalls([
      Start({ model: "m" }),
      ToolCallStart({ index: 0, id: "a", name: "f" }),
      ToolCallDelta({ index: 0, arguments: '{"x":' }),
      ToolCallStart({ index: 1, id: "b", name: "g" }),
      ToolCallDelta({ index: 0, arguments: "1}" }),
      ToolCallEnd({ index: 0 }),
      ToolCallEnd({ index: 1 }),
      Done({ finishReason: "tool_calls" })
    ])).toEqual([{ id: "a", name: "f", arguments: '{"x":1}' }, { id: "b", name: "g", arguments: "" }]))
})
