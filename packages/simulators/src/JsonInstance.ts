/**
 * A deterministic instance of a JSON Schema: what a simulated model "generates" under
 * structured output or as tool-call arguments. Real servers constrain sampling with a grammar
 * built from the schema; the simulators only need an answer that validates and that a test can
 * predict, so the instance is a pure function of (schema, seed).
 *
 * Covered: type (or a type list), const, enum, properties, items/prefixItems, min/maxItems,
 * string formats and lengths, numeric bounds and multipleOf, anyOf/oneOf (first branch), allOf
 * (merged), $ref into #/$defs or #/definitions. Not covered: pattern (no regex inversion),
 * if/then/else, not. A hostile schema is bounded (depth, items, string length, 5000 nodes):
 * past the bounds the instance stops matching, but the simulator never hangs.
 */
import { createHash } from "node:crypto"

type Schema = Record<string, unknown>

const words = ["amber", "brook", "cedar", "delta", "ember", "fjord", "grove", "harbor", "island", "juniper", "kelp", "lagoon", "meadow", "nectar", "orchid", "prairie"]

const byte = (seed: string): number => createHash("sha256").update(seed).digest()[0] ?? 0

const isSchema = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v)

const resolve = (root: Schema, ref: string): Schema => {
  const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref)
  const defs = m === null ? undefined : root[m[1] ?? ""]
  const target = isSchema(defs) ? defs[decodeURIComponent(m?.[2] ?? "").replace(/~1/g, "/").replace(/~0/g, "~")] : undefined
  return isSchema(target) ? target : {}
}

const merge = (root: Schema, parts: ReadonlyArray<unknown>, depth: number): Schema => {
  const out: Schema = {}
  const properties: Record<string, unknown> = {}
  const required: Array<unknown> = []
  for (const p of parts) {
    const s = deref(root, isSchema(p) ? p : {}, depth + 1)
    Object.assign(out, s)
    if (isSchema(s["properties"])) Object.assign(properties, s["properties"])
    if (Array.isArray(s["required"])) required.push(...s["required"])
  }
  if (Object.keys(properties).length > 0) out["properties"] = properties
  if (required.length > 0) out["required"] = required
  delete out["allOf"]
  return out
}

/** Follows $ref and flattens allOf, so the generator sees one plain schema. */
const deref = (root: Schema, schema: Schema, depth = 0): Schema => {
  if (depth > 20) return {}
  if (typeof schema["$ref"] === "string") {
    const { $ref, ...rest } = schema
    return deref(root, { ...resolve(root, $ref as string), ...rest }, depth + 1)
  }
  if (Array.isArray(schema["allOf"])) return merge(root, [{ ...schema, allOf: undefined }, ...schema["allOf"]], depth + 1)
  return schema
}

const typeOf = (s: Schema): string => {
  const t = s["type"]
  if (typeof t === "string") return t
  if (Array.isArray(t)) return (t.find((x) => x !== "null") as string | undefined) ?? "null"
  if (isSchema(s["properties"])) return "object"
  if (s["items"] !== undefined || Array.isArray(s["prefixItems"])) return "array"
  return "string"
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)

/**
 * Limits on what a hostile schema can make the simulator build (`minItems: 1e9`, `minLength: 1e9`):
 * past them the instance no longer satisfies the schema, but the simulator stays up.
 */
const maxItems = 64
const maxString = 4096

const number = (s: Schema, seed: string, integer: boolean): number => {
  const multiple = num(s["multipleOf"])
  const step = multiple !== undefined && multiple > 0 ? multiple : integer ? 1 : 0.5
  let lo = num(s["minimum"]) ?? Number.NEGATIVE_INFINITY
  let hi = num(s["maximum"]) ?? Number.POSITIVE_INFINITY
  const exLo = num(s["exclusiveMinimum"])
  const exHi = num(s["exclusiveMaximum"])
  if (exLo !== undefined) lo = Math.max(lo, exLo + step)
  if (exHi !== undefined) hi = Math.min(hi, exHi - step)
  // A value from 1 to 100 derived from the seed, pulled inside the bounds, on the step grid.
  let v = 1 + (byte(seed) % 100)
  if (v < lo) v = lo
  if (v > hi) v = hi
  v = Math.ceil(v / step) * step
  if (v > hi) v -= step
  return integer ? Math.round(v) : Number(v.toFixed(6))
}

const string = (s: Schema, seed: string): string => {
  switch (s["format"]) {
    case "date-time":
      return "2026-01-15T09:30:00Z"
    case "date":
      return "2026-01-15"
    case "time":
      return "09:30:00"
    case "email":
      return "someone@example.com"
    case "uri":
    case "url":
      return "https://example.com/"
    case "uuid":
      return "7c9e6679-7425-40de-944b-e07fc1f90ae7"
  }
  const min = Math.min(num(s["minLength"]) ?? 0, maxString)
  const max = num(s["maxLength"])
  const v = (words[byte(seed) % words.length] ?? "amber").padEnd(min, "x")
  return max !== undefined && max >= 0 ? v.slice(0, max) : v
}

/** Nodes one instance may have at most, so nested wide arrays cannot multiply into a hang. */
const maxNodes = 5000

const build = (root: Schema, raw: Schema, seed: string, depth: number, budget: { nodes: number }): unknown => {
  budget.nodes += 1
  if (budget.nodes > maxNodes || depth > 12) return null
  const s = deref(root, raw)
  if ("const" in s) return s["const"]
  if (Array.isArray(s["enum"]) && s["enum"].length > 0) return s["enum"][0]
  const branch = Array.isArray(s["anyOf"]) ? s["anyOf"] : Array.isArray(s["oneOf"]) ? s["oneOf"] : undefined
  if (branch !== undefined) {
    const first = branch.find((b) => isSchema(b) && b["type"] !== "null") ?? branch[0]
    const { anyOf: _a, oneOf: _o, ...rest } = s
    return build(root, { ...rest, ...(isSchema(first) ? first : {}) }, seed, depth + 1, budget)
  }
  switch (typeOf(s)) {
    case "object": {
      const out: Record<string, unknown> = {}
      const props = isSchema(s["properties"]) ? s["properties"] : {}
      for (const [k, v] of Object.entries(props)) out[k] = build(root, isSchema(v) ? v : {}, `${seed}/${k}`, depth + 1, budget)
      return out
    }
    case "array": {
      const prefix = Array.isArray(s["prefixItems"]) ? s["prefixItems"] : []
      const min = num(s["minItems"]) ?? 0
      const max = num(s["maxItems"]) ?? Number.POSITIVE_INFINITY
      const n = Math.max(0, Math.min(Math.max(min, prefix.length, 1), max, maxItems))
      const items = isSchema(s["items"]) ? s["items"] : {}
      return Array.from({ length: n }, (_, i) => build(root, isSchema(prefix[i]) ? prefix[i] : items, `${seed}/${i}`, depth + 1, budget))
    }
    case "integer":
      return number(s, seed, true)
    case "number":
      return number(s, seed, false)
    case "boolean":
      return byte(seed) % 2 === 0
    case "null":
      return null
    default:
      return string(s, seed)
  }
}

/** The instance of `schema`; `seed` (e.g. the prompt) varies free values deterministically. */
export const make = (schema: unknown, seed: string): unknown => {
  const root = isSchema(schema) ? schema : {}
  return build(root, root, seed, 0, { nodes: 0 })
}

/**
 * Splits serialised JSON into stream tokens: punctuation and whole string/number literals, so a
 * streamed structured answer arrives in pieces, as from a real model, and joins back exactly.
 */
export const tokens = (json: string): ReadonlyArray<string> => json.match(/"(?:[^"\\]|\\.)*"|[{}[\],:]|[^{}[\],:"]+/g) ?? [json]
