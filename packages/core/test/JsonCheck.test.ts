import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ResponseFormat } from "../src/Backend.ts"
import * as JsonCheck from "../src/internal/JsonCheck.ts"

const schema = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}): ResponseFormat => ({
  _tag: "JsonSchema",
  name: "answer",
  schema: { type: "object", properties, ...extra }
})

const checkOf = (format: ResponseFormat) => Effect.map(JsonCheck.forFormat(format), (check) => check!)

describe("JsonCheck: a client's JSON Schema patterns run in linear time", () => {
  it.effect("a pattern that backtracks exponentially on V8 answers at once (40 a's and a '!' against ^(a+)+$)", () =>
    Effect.gen(function*() {
      const check = yield* checkOf(schema({ a: { type: "string", pattern: "^(a+)+$" } }))
      const started = performance.now()
      expect(check(JSON.stringify({ a: `${"a".repeat(40)}!` }))).toBe(`the answer does not match the JSON Schema "answer": /a must match pattern "^(a+)+$"`)
      expect(check(JSON.stringify({ a: "a".repeat(40) }))).toBeUndefined()
      expect(performance.now() - started).toBeLessThan(1_000)
    }))

  it.effect("patternProperties too: a hostile key pattern over a long key", () =>
    Effect.gen(function*() {
      const check = yield* checkOf(schema({}, { patternProperties: { "^(x|x)*y$": { type: "number" } }, additionalProperties: false }))
      expect(check(JSON.stringify({ [`${"x".repeat(60)}`]: 1 }))).toMatch(/must NOT have additional properties/)
      expect(check(JSON.stringify({ xxy: 1 }))).toBeUndefined()
    }))

  it.effect("ECMAScript escapes keep their meaning: \\uXXXX, \\u{X}, a surrogate pair, and an escaped backslash before u", () =>
    Effect.gen(function*() {
      const check = yield* checkOf(schema({
        four: { type: "string", pattern: "^\\u0041+$" },
        braced: { type: "string", pattern: "^\\u{1F600}$" },
        pair: { type: "string", pattern: "^\\uD83D\\uDE00$" },
        literal: { type: "string", pattern: "^\\\\u0041$" },
        ordinary: { type: "string", pattern: "^\\d{3}-[a-z]+\\b" }
      }))
      expect(check(JSON.stringify({ four: "AAA", braced: "😀", pair: "😀", literal: "\\u0041", ordinary: "555-abc" }))).toBeUndefined()
      expect(check(JSON.stringify({ four: "a" }))).toMatch(/\/four must match pattern/)
      expect(check(JSON.stringify({ literal: "A" }))).toMatch(/\/literal must match pattern/)
    }))

  it.effect("what RE2 cannot run (lookaround, backreferences, huge repeat counts) is refused before any backend is asked, saying why", () =>
    Effect.gen(function*() {
      for (const pattern of ["^(?=.*\\d).+$", "(a)\\1", "^.{1,5000}$"]) {
        const problem = yield* Effect.flip(JsonCheck.forFormat(schema({ a: { type: "string", pattern } })))
        expect(problem).toContain(`the JSON Schema "answer" is not a valid schema: its pattern ${JSON.stringify(pattern)} cannot be matched in linear time`)
        expect(problem).toContain("lookaround, backreferences and repeat counts above 1000 are not supported")
      }
    }))
})
