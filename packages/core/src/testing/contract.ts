/**
 * The contract every backend passes, built-in or plugin. Call it from the backend's own test
 * file with a way to make the backend against a running server (a simulator):
 *
 *   contractSuite("ollama", { make: ..., model: "phi3.5:3.8b", missingModel: "nope:1b" })
 *
 * Contract 2.0's features are checked where the target names a model for them (`tools`,
 * `reasoning`, `jsonSchema`, `embed`): tool calls stream start, argument deltas, end per index
 * and the turn ends `tool_calls`; reasoning arrives as ReasoningDelta before the answer's text;
 * a JSON Schema answer parses and matches; embed gives one vector per input, all of one length.
 * Whatever the target names, a backend declaring embeddings must have `embed`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Backend, GenerateEvent, GenerateRequest, Image, Tool } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"
import * as Events from "../Events.ts"
import * as JsonCheck from "../internal/JsonCheck.ts"

export interface ContractTarget {
  /** Makes the backend against a running server. */
  readonly make: Effect.Effect<Backend, unknown, Scope.Scope>
  /** A model the server has. */
  readonly model: string
  /** A model the server does not have. */
  readonly missingModel: string
  /** Makes the same backend pointed at an address where nothing listens. */
  readonly makeUnreachable?: Effect.Effect<Backend, unknown, Scope.Scope>
  /** For image-capable backends: a model that takes images, and an image to send. */
  readonly image?: { readonly model: string; readonly image: Image }
  /** A secret the backend was configured with; it must never appear in errors or probes. */
  readonly secret?: Redacted.Redacted<string>
  /** Skip the text checks (an image-only backend such as Moondream). */
  readonly imageOnly?: boolean
  /**
   * A model that calls a tool when offered one and asked to (the request offers `get_weather`
   * and requires a tool call); `prompt` overrides the question.
   */
  readonly tools?: { readonly model: string; readonly prompt?: string }
  /** A model that reasons when reasoning is on. */
  readonly reasoning?: { readonly model: string; readonly prompt?: string }
  /** A model that answers in JSON matching a JSON Schema when asked to. */
  readonly jsonSchema?: { readonly model: string; readonly prompt?: string }
  /** An embedding model. */
  readonly embed?: { readonly model: string }
}

/** The tool the tool-call check offers. */
export const weatherTool: Tool = {
  name: "get_weather",
  description: "Get the current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

/** The schema the JSON check asks for. */
export const cityFormat = {
  _tag: "JsonSchema" as const,
  name: "city",
  schema: { type: "object", properties: { city: { type: "string" }, population: { type: "integer" } }, required: ["city", "population"] }
}

/**
 * Tool-call events in a valid order: each index starts once (indexes 0, 1, ... in order), its
 * deltas come between its start and its end, it ends once; the turn ends `tool_calls`. Returns
 * the calls, whole.
 */
export const checkToolCalls = (events: ReadonlyArray<GenerateEvent>) => {
  const calls: Array<{ id: string; name: string; arguments: string; ended: boolean }> = []
  for (const event of events) {
    if (event._tag === "ToolCallStart") {
      expect(event.index, "tool calls start at index 0, 1, ... in order").toBe(calls.length)
      expect(event.id.length, "a tool call has an id").toBeGreaterThan(0)
      expect(event.name.length, "a tool call has a name").toBeGreaterThan(0)
      calls.push({ id: event.id, name: event.name, arguments: "", ended: false })
    } else if (event._tag === "ToolCallDelta") {
      const call = calls[event.index]
      expect(call, `ToolCallDelta for index ${event.index} before its ToolCallStart`).toBeDefined()
      expect(call!.ended, `ToolCallDelta for index ${event.index} after its ToolCallEnd`).toBe(false)
      call!.arguments += event.arguments
    } else if (event._tag === "ToolCallEnd") {
      const call = calls[event.index]
      expect(call, `ToolCallEnd for index ${event.index} before its ToolCallStart`).toBeDefined()
      expect(call!.ended, `ToolCallEnd for index ${event.index} twice`).toBe(false)
      call!.ended = true
    }
  }
  expect(calls.length, "at least one tool call").toBeGreaterThan(0)
  for (const call of calls) expect(call.ended, `tool call ${call.id} never ended`).toBe(true)
  const done = events.at(-1)
  expect(done?._tag === "Done" ? done.finishReason : undefined).toBe("tool_calls")
  return calls.map(({ arguments: args, id, name }) => ({ id, name, arguments: args }))
}

const ask = (model: string, prompt = "Say hello", images?: ReadonlyArray<Image>): GenerateRequest => ({
  model,
  messages: [{ role: "user", content: prompt, ...(images ? { images } : {}) }]
})

const collect = (backend: Backend, request: GenerateRequest) =>
  Stream.runCollect(Events.stream(backend.generate(request)))

const checkShape = (events: ReadonlyArray<GenerateEvent>) => {
  expect(events[0]?._tag).toBe("Start")
  expect(events.at(-1)?._tag).toBe("Done")
  expect(events.filter((e) => e._tag === "Done")).toHaveLength(1)
  expect(events.filter((e) => e._tag === "Start")).toHaveLength(1)
  const text = events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")
  expect(text.length).toBeGreaterThan(0)
}

export const contractSuite = (name: string, target: ContractTarget): void => {
  describe(`Backend contract: ${name}`, () => {
    it.effect("probe is token-free and layered: the server is Ready and lists its models", () =>
      Effect.gen(function*() {
        const backend = yield* target.make
        const probe = yield* backend.probe
        expect(probe._tag).toBe("Ready")
        if (probe._tag === "Ready" && !target.imageOnly) expect(probe.models).toContain(target.model)
      }))

    if (!target.imageOnly) {
      it.effect("generate streams Start, text, then exactly one Done", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          checkShape(yield* collect(backend, ask(target.model)))
        }))

      it.effect("a missing model fails with ModelMissing, naming the backend", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const error = yield* Effect.flip(collect(backend, ask(target.missingModel)))
          expect(error).toBeInstanceOf(BackendError)
          expect(error.reason).toBe("ModelMissing")
          expect(error.backend).toBe(backend.name)
        }))

      it.effect("a consumer that stops early ends the stream without error", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const events = yield* Stream.runCollect(Stream.take(Events.stream(backend.generate(ask(target.model))), 2))
          expect(events).toHaveLength(2)
        }))
    }

    it.effect("declares embeddings only with an embed operation, and tools, jsonSchema, reasoning as booleans", () =>
      Effect.gen(function*() {
        const backend = yield* target.make
        const { embeddings, jsonSchema, reasoning, tools } = backend.capabilities
        for (const flag of [embeddings, jsonSchema, reasoning, tools]) expect(typeof flag).toBe("boolean")
        if (embeddings) expect(typeof backend.embed).toBe("function")
      }))

    if (target.tools) {
      const { model, prompt } = target.tools
      const offer = (messages: GenerateRequest["messages"]): GenerateRequest => ({
        model,
        messages,
        tools: [weatherTool],
        toolChoice: { _tag: "Required" }
      })
      const question = prompt ?? "What is the weather in Paris? Use the get_weather tool."
      it.effect("tool calls stream start, argument deltas and end per index, and the turn ends tool_calls", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          expect(backend.capabilities.tools).toBe(true)
          const events = yield* collect(backend, offer([{ role: "user", content: question }]))
          expect(events[0]?._tag).toBe("Start")
          expect(events.filter((e) => e._tag === "Done")).toHaveLength(1)
          const calls = checkToolCalls(events)
          expect(calls[0]!.name).toBe("get_weather")
          const args: unknown = JSON.parse(calls[0]!.arguments)
          expect(typeof args === "object" && args !== null && !Array.isArray(args), "arguments are a JSON object").toBe(true)
        }))

      it.effect("a tool result sent back gets an answer", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const calls = checkToolCalls(yield* collect(backend, offer([{ role: "user", content: question }])))
          const call = calls[0]!
          const events = yield* collect(backend, {
            model,
            tools: [weatherTool],
            messages: [
              { role: "user", content: question },
              { role: "assistant", content: "", toolCalls: [call] },
              { role: "tool", content: JSON.stringify({ city: "Paris", weather: "sunny, 21°C" }), toolCallId: call.id, toolName: call.name }
            ]
          })
          checkShape(events)
        }))
    }

    if (target.reasoning) {
      const { model, prompt } = target.reasoning
      it.effect("reasoning on streams ReasoningDelta before the answer's text", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          expect(backend.capabilities.reasoning).toBe(true)
          const events = yield* collect(backend, {
            model,
            messages: [{ role: "user", content: prompt ?? "Why is the sky blue? Think first." }],
            reasoning: { _tag: "On" }
          })
          checkShape(events)
          const firstReasoning = events.findIndex((e) => e._tag === "ReasoningDelta")
          const firstText = events.findIndex((e) => e._tag === "TextDelta")
          expect(firstReasoning, "at least one ReasoningDelta").toBeGreaterThan(0)
          expect(firstReasoning).toBeLessThan(firstText)
        }))
    }

    if (target.jsonSchema) {
      const { model, prompt } = target.jsonSchema
      it.effect("a JSON Schema response format gives JSON that matches it", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          expect(backend.capabilities.jsonSchema).toBe(true)
          const events = yield* collect(backend, {
            model,
            messages: [{ role: "user", content: prompt ?? "Name a city and its population, as JSON." }],
            responseFormat: cityFormat
          })
          checkShape(events)
          const check = (yield* JsonCheck.forFormat(cityFormat))!
          const text = events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")
          expect(check(text)).toBeUndefined()
        }))
    }

    if (target.embed) {
      const { model } = target.embed
      it.effect("embed gives one vector per input, in order, all of one length", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          expect(backend.capabilities.embeddings).toBe(true)
          const input = ["the cat sat on the mat", "a dog barked", "the cat sat on the mat"]
          const result = yield* backend.embed!({ model, input })
          expect(result.vectors).toHaveLength(input.length)
          const dimensions = result.vectors[0]!.length
          expect(dimensions).toBeGreaterThan(0)
          for (const vector of result.vectors) {
            expect(vector).toHaveLength(dimensions)
            for (const x of vector) expect(Number.isFinite(x)).toBe(true)
          }
          // The same text embeds to the same vector: the order of the answer is the order of the input.
          expect(result.vectors[2]).toEqual(result.vectors[0])
          expect(result.vectors[1]).not.toEqual(result.vectors[0])
          expect(result.model.length).toBeGreaterThan(0)
        }))

      it.effect("embed of a missing model fails with ModelMissing", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const error = yield* Effect.flip(backend.embed!({ model: target.missingModel, input: ["x"] }))
          expect(error).toBeInstanceOf(BackendError)
          expect(error.reason).toBe("ModelMissing")
        }))
    }

    if (target.image) {
      const { image, model } = target.image
      it.effect("generate with an image answers", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          expect(backend.capabilities.images).toBe(true)
          checkShape(yield* collect(backend, ask(model, "Describe this image", [image])))
        }))
    }

    if (target.makeUnreachable) {
      const makeUnreachable = target.makeUnreachable
      it.effect("an unreachable server probes Unreachable and fails generate with Unreachable", () =>
        Effect.gen(function*() {
          const backend = yield* makeUnreachable
          expect((yield* backend.probe)._tag).toBe("Unreachable")
          // An image-only backend refuses a text request before connecting, so it gets its image.
          const request = target.imageOnly && target.image
            ? ask(target.image.model, "Describe this image", [target.image.image])
            : ask(target.image?.model ?? target.model)
          const error = yield* Effect.flip(collect(backend, request))
          expect(error).toBeInstanceOf(BackendError)
          expect(error.reason).toBe("Unreachable")
        }))
    }

    if (target.secret) {
      const secret = Redacted.value(target.secret)
      it.effect("the secret never appears in probes or errors", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const probe = yield* backend.probe
          const error = yield* Effect.flip(collect(backend, ask(target.missingModel)))
          const seen = JSON.stringify(probe) + JSON.stringify(error) + String(error.message)
          expect(seen).not.toContain(secret)
        }))
    }
  })
}
