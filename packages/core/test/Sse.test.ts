import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { Sse } from "../src/index.ts"

const source = { backend: "test" }
const encoder = new TextEncoder()

/** The same bytes cut at every possible place must decode to the same events. */
const cuts = (text: string): ReadonlyArray<ReadonlyArray<Uint8Array>> => {
  const bytes = encoder.encode(text)
  const out: Array<ReadonlyArray<Uint8Array>> = [[bytes], Array.from(bytes, (b) => Uint8Array.of(b))]
  for (let i = 1; i < bytes.length; i++) out.push([bytes.slice(0, i), bytes.slice(i)])
  return out
}

/** The bytes through the decoder every SSE answer is read with (`Sse.reader` in HttpCall.events). */
const decodeAll = (chunks: ReadonlyArray<Uint8Array>) =>
  Effect.suspend(() => {
    const decoder = Sse.decoder(source)
    const events: Array<Sse.Event> = []
    for (const step of [...chunks.map((chunk) => () => decoder.feed(chunk)), decoder.end]) {
      const decoded = step()
      if (Result.isFailure(decoded)) return Effect.fail(decoded.failure)
      events.push(...decoded.success)
    }
    return Effect.succeed(events)
  })

const same = (text: string, expected: ReadonlyArray<Sse.Event>) =>
  Effect.forEach(cuts(text), (chunks) => Effect.map(decodeAll(chunks), (events) => expect(events).toEqual(expected)), { discard: true })

describe("Sse.decoder", () => {
  it.effect("skips mlx_lm keepalive and OpenRouter processing comments", () =>
    same(": keepalive 2048/9731\n\n: OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n", [
      { data: "{\"a\":1}" },
      { data: "[DONE]" }
    ]))

  it.effect("handles CRLF and lone CR line endings at any chunk boundary", () =>
    same("data: one\r\n\r\ndata: two\r\rdata: three\n\n", [{ data: "one" }, { data: "two" }, { data: "three" }]))

  it.effect("joins multi-line data with newlines and carries event and id", () =>
    same("event: message_start\nid: 7\ndata: line 1\ndata: line 2\n\n", [{ event: "message_start", id: "7", data: "line 1\nline 2" }]))

  it.effect("decodes multi-byte characters split across chunks", () => same("data: héllo ✓ 🙂\n\n", [{ data: "héllo ✓ 🙂" }]))

  it.effect("drops an unfinished event at the end, as the spec says (a cut is seen by the missing terminator)", () =>
    same("data: whole\n\ndata: half", [{ data: "whole" }]))

  it.effect("surfaces llama-server's non-standard `error:` line as an error event", () =>
    same("error: {\"code\":400,\"message\":\"context\"}\n\ndata: [DONE]\n\n", [
      { event: "error", data: "{\"code\":400,\"message\":\"context\"}" },
      { data: "[DONE]" }
    ]))

  it.effect("fails with Upstream, naming the backend, on an event larger than the limit", () =>
    Effect.gen(function*() {
      const big = encoder.encode(`data: ${"x".repeat(1024 * 1024)}\n`)
      const error = yield* Effect.flip(decodeAll(Array.from({ length: 20 }, () => big)))
      expect(error.reason).toBe("Upstream")
      expect(error.backend).toBe("test")
    }))
})
