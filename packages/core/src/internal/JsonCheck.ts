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
 */
import * as Effect from "effect/Effect"
import type { ResponseFormat } from "../Backend.ts"

/** Checks a complete answer's text: undefined when it has the shape asked for, else what is wrong. */
export type Check = (text: string) => string | undefined

// strict: false: clients' schemas carry keywords ajv does not know (OpenAI's `strict`, titles
// in odd places, vendor extensions) and must still be checked by the keywords it does know.
const validators = Effect.cached(Effect.promise(async () => {
  const [{ Ajv }, { Ajv2020 }] = await Promise.all([import("ajv"), import("ajv/dist/2020.js")])
  const options = { strict: false, allErrors: false, validateFormats: false }
  return { draft7: new Ajv(options), draft2020: new Ajv2020(options) }
}))

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
