/**
 * Checks an answer against the response format the caller asked for: JSON mode wants JSON, a
 * JSON Schema wants JSON that matches it. Validation is ajv's (the most used JSON Schema
 * validator for JavaScript, pure JS, draft-07 and 2020-12): a hand-written validator would
 * accept answers a client's own validator rejects.
 *
 * A schema is compiled once per distinct schema (clients send the same one on every request),
 * and a schema that does not compile is the caller's mistake, said before any backend is tried.
 * ajv is loaded with the first JSON Schema a request brings: a serve that never sees one (most
 * run for days) does not keep it and its compiled meta-schemas resident.
 *
 * A schema's patterns (`pattern`, `patternProperties`) run on RE2's linear-time engine (re2js,
 * pure JavaScript), never on V8's backtracking one: `{"pattern": "^(a+)+$"}` against an answer of
 * forty a's and a "!" would otherwise hold serve's only thread for hours, every other request
 * waiting. ECMAScript's `\uXXXX` and `\u{X}` escapes are spelt as RE2's `\x{X}`; what RE2 does
 * not have (lookaround, backreferences, repeat counts above 1000) makes the schema refused with
 * a message that says so, before any backend is asked.
 */
import * as Effect from "effect/Effect"
import type { ResponseFormat } from "../Backend.ts"

/** Checks a complete answer's text: undefined when it has the shape asked for, else what is wrong. */
export type Check = (text: string) => string | undefined

// strict: false: clients' schemas carry keywords ajv does not know (OpenAI's `strict`, titles
// in odd places, vendor extensions) and must still be checked by the keywords it does know.
const validators = Effect.cached(Effect.promise(async () => {
  const [{ Ajv }, { Ajv2020 }, { RE2JS }] = await Promise.all([import("ajv"), import("ajv/dist/2020.js"), import("re2js")])
  const linear = (source: string) => {
    let compiled: InstanceType<typeof RE2JS>
    try {
      compiled = RE2JS.compile(toRe2(source))
    } catch (cause) {
      throw new Error(
        `its pattern ${JSON.stringify(source)} cannot be matched in linear time (${cause instanceof Error ? cause.message : String(cause)}); ` +
          "lookaround, backreferences and repeat counts above 1000 are not supported"
      )
    }
    // ajv keeps one compiled pattern per `toString()`: it must be the source, as a RegExp's is.
    return { test: (text: string) => compiled.test(text), toString: () => `/${source}/u` }
  }
  // `code` names the engine in standalone code ajv could generate; validators here are compiled in memory only.
  const regExp = Object.assign(linear, { code: "RE2JS" })
  const options = { strict: false, allErrors: false, validateFormats: false, code: { regExp } }
  return { draft7: new Ajv(options), draft2020: new Ajv2020(options) }
}))

/** ECMAScript's `\uXXXX` (a surrogate pair as one code point) and `\u{X}` as RE2's `\x{X}`; an escaped backslash stays. */
const toRe2 = (source: string): string =>
  source.replace(
    /\\(\\|u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u\{([0-9a-fA-F]+)\}|u([0-9a-fA-F]{4}))/g,
    (all, _rest, high?: string, low?: string, braced?: string, four?: string) => {
      if (high !== undefined && low !== undefined) {
        return `\\x{${((Number.parseInt(high, 16) - 0xd800) * 0x400 + (Number.parseInt(low, 16) - 0xdc00) + 0x10000).toString(16)}}`
      }
      const hex = braced ?? four
      return hex === undefined ? all : `\\x{${hex}}`
    }
  )

const compiled = new Map<string, Check>()
const MAX_COMPILED = 128

/** The check for a response format (undefined for plain text), or why its schema cannot be used. */
export const forFormat = (format: ResponseFormat | undefined): Effect.Effect<Check | undefined, string> => {
  if (format === undefined || format._tag === "Text") return Effect.succeed(undefined)
  if (format._tag === "Json") return Effect.succeed(parsed)
  const key = JSON.stringify(format.schema)
  const known = compiled.get(key)
  if (known) return Effect.succeed(known)
  return Effect.flatMap(Effect.flatten(validators), ({ draft7, draft2020 }) => {
    const { $schema, ...rest } = format.schema
    const ajv = typeof $schema === "string" && /2019-09|2020-12/.test($schema) ? draft2020 : draft7
    let validate: ReturnType<typeof ajv.compile>
    try {
      validate = ajv.compile(rest)
    } catch (cause) {
      return Effect.fail(`the JSON Schema "${format.name}" is not a valid schema: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
    const check: Check = (text) => {
      const value = parse(text)
      if (!value.ok) return value.problem
      if (validate(value.value)) return undefined
      const first = validate.errors?.[0]
      const where = first?.instancePath ? first.instancePath : "the answer"
      return `the answer does not match the JSON Schema "${format.name}": ${where} ${first?.message ?? "is invalid"}`
    }
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!)
    compiled.set(key, check)
    return Effect.succeed(check)
  })
}

const parsed: Check = (text) => {
  const value = parse(text)
  return value.ok ? undefined : value.problem
}

const parse = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: string } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (cause) {
    const snippet = text.length > 60 ? `${text.slice(0, 60)}…` : text
    return { ok: false, problem: `the answer is not JSON (${cause instanceof Error ? cause.message : String(cause)}): ${JSON.stringify(snippet)}` }
  }
}
