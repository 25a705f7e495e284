import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { type BackendError, Ndjson } from "../src/index.ts"

const encoder = new TextEncoder()
const source = { backend: "ollama", model: "phi3.5:3.8b" }

/** The values, or the failure, the decoder every NDJSON answer is read with (`Ndjson.reader`) makes of the bytes. */
const parse = (chunks: ReadonlyArray<Uint8Array>): { readonly values: ReadonlyArray<unknown>; readonly failure?: BackendError.BackendError } => {
  const decoder = Ndjson.decoder(source)
  const values: Array<unknown> = []
  for (const step of [...chunks.map((chunk) => () => decoder.feed(chunk)), decoder.end]) {
    const parsed = step()
    if (Result.isFailure(parsed)) return { values: [...values, ...parsed.failure[0]], failure: parsed.failure[1] }
    values.push(...parsed.success)
  }
  return { values }
}

const decodeAll = (chunks: ReadonlyArray<Uint8Array>) =>
  Effect.suspend(() => {
    const { failure, values } = parse(chunks)
    return failure ? Effect.fail(failure) : Effect.succeed(values)
  })

describe("Ndjson.decoder", () => {
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
      const { failure, values } = parse([encoder.encode("{\"a\":1}\nnope\n")])
      expect(values).toEqual([{ a: 1 }])
      expect(failure?.reason).toBe("Upstream")
    }))
})
