/** Reading a backend's `generate` stream in tests: every event, the text, the reasoning, the tool calls, or the failure. */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Backend from "../Backend.ts"
import type { BackendError } from "../BackendError.ts"
import * as Events from "../Events.ts"

/** Every event, in order. */
export const collect = (backend: Backend.Backend, request: Backend.GenerateRequest) =>
  Stream.runCollect(Events.stream(backend.generate(request)))

/** The text the events carry. */
export const textOf = (events: ReadonlyArray<Backend.GenerateEvent>) =>
  events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")

/** The reasoning the events carry. */
export const reasoningOf = (events: ReadonlyArray<Backend.GenerateEvent>) =>
  events.flatMap((e) => (e._tag === "ReasoningDelta" ? [e.text] : [])).join("")

/** The tool calls the events carry, whole, in index order (arguments: the fragments joined). */
export const toolCallsOf = (events: ReadonlyArray<Backend.GenerateEvent>): ReadonlyArray<Backend.ToolCall> => {
  const calls: Array<{ id: string; name: string; arguments: string }> = []
  for (const e of events) {
    if (e._tag === "ToolCallStart") calls[e.index] = { id: e.id, name: e.name, arguments: "" }
    else if (e._tag === "ToolCallDelta" && calls[e.index]) calls[e.index]!.arguments += e.arguments
  }
  return calls.filter((call) => call !== undefined)
}

/** The events that arrived before the failure, and the failure (the test fails if none comes). */
export const failureOf = (backend: Backend.Backend, request: Backend.GenerateRequest) =>
  Effect.gen(function*() {
    const seen: Array<Backend.GenerateEvent> = []
    const error: BackendError = yield* Effect.flip(
      Stream.runForEach(Events.stream(backend.generate(request)), (e) => Effect.sync(() => seen.push(e)))
    )
    return { error, seen }
  })
