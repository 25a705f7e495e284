import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Ndjson } from "../src/index.ts"

const encoder = new TextEncoder()
const source = { backend: "ollama", model: "phi3.5:3.8b" }

const decodeAll = (chunks: ReadonlyArray<Uint8Array>) =>
  Stream.fromIterable(chunks).pipe(Ndjson.decode(source), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

describe("Ndjson.decode", () => {
  it.effect("yields one value per line however the bytes are cut, skipping blank lines", () =>
    Effect.gen(function*() {
      const text = "{\"response\":\"hé\"}\n\r\n{\"response\":\"🙂\",\"done\":false}\r\n{\"done\":true}\n"
      const bytes = encoder.encode(text)
      const expected = [{ response: "hé" }, { response: "🙂", done: false }, { done: true }]
      for (let i = 1; i < bytes.length; i++) {
        expect(yield* decodeAll([bytes.slice(0, i), bytes.slice(i)])).toEqual(expected)
      }
      expect(yield* decodeAll(Array.from(bytes, (b) => Uint8Array.of(b)))).toEqual(expected)
    }))

  it.effect("keeps a last line that has no newline", () =>
    Effect.map(decodeAll([encoder.encode("{\"a\":1}\n{\"done\":"), encoder.encode("true}")]), (values) =>
      expect(values).toEqual([{ a: 1 }, { done: true }])))

  it.effect("fails with Upstream naming the backend and quoting the line when a line is not JSON", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decodeAll([encoder.encode("{\"a\":1}\n<html>oops</html>\n")]))
      expect(error.reason).toBe("Upstream")
      expect(error.backend).toBe("ollama")
      expect(error.model).toBe("phi3.5:3.8b")
      expect(error.message).toContain("<html>oops</html>")
    }))

  it.effect("values before a malformed line are still delivered", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const exit = yield* Stream.fromIterable([encoder.encode("{\"a\":1}\nnope\n")]).pipe(
        Ndjson.decode(source),
        Stream.runForEach((v) => Effect.sync(() => seen.push(v))),
        Effect.exit
      )
      expect(seen).toEqual([{ a: 1 }])
      expect(exit._tag).toBe("Failure")
    }))
})
