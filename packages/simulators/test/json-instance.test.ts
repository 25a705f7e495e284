/**
 * The instances the simulators answer structured-output requests and tool calls with, checked
 * by an independent validator (ajv) against a range of schemas an agent or app really sends:
 * nested objects and arrays, enums, bounds, formats, $ref/$defs, anyOf/oneOf/allOf, type lists.
 */
import { Ajv } from "ajv"
import { describe, expect, it } from "vitest"
import * as JsonInstance from "../src/JsonInstance.ts"

// Formats are asserted by shape below; ajv without ajv-formats would reject them as unknown.
const ajv = new Ajv({ strict: false, validateFormats: false })

const schemas: Record<string, object> = {
  flat: { type: "object", properties: { name: { type: "string" }, age: { type: "integer" }, ok: { type: "boolean" } }, required: ["name", "age", "ok"] },
  nested: {
    type: "object",
    properties: { user: { type: "object", properties: { id: { type: "string", format: "uuid" }, tags: { type: "array", items: { type: "string" }, minItems: 3, maxItems: 5 } }, required: ["id", "tags"] } },
    required: ["user"],
    additionalProperties: false
  },
  bounds: {
    type: "object",
    properties: {
      score: { type: "number", minimum: 0, maximum: 1 },
      count: { type: "integer", exclusiveMinimum: 100, maximum: 200, multipleOf: 7 },
      code: { type: "string", minLength: 12, maxLength: 12 },
      short: { type: "string", maxLength: 2 }
    },
    required: ["score", "count", "code", "short"]
  },
  enums: { type: "object", properties: { color: { enum: ["red", "green"] }, level: { type: "integer", enum: [3, 5] }, fixed: { const: "v1" } }, required: ["color", "level", "fixed"] },
  refs: {
    $defs: { point: { type: "object", properties: { x: { type: "number" }, y: { type: "number" } }, required: ["x", "y"] } },
    type: "object",
    properties: { from: { $ref: "#/$defs/point" }, to: { $ref: "#/$defs/point" }, path: { type: "array", items: { $ref: "#/$defs/point" } } },
    required: ["from", "to", "path"]
  },
  definitions: { definitions: { id: { type: "string", minLength: 3 } }, type: "array", items: { $ref: "#/definitions/id" }, minItems: 2 },
  unions: {
    type: "object",
    properties: {
      maybe: { type: ["string", "null"] },
      either: { anyOf: [{ type: "null" }, { type: "integer", minimum: 10 }] },
      one: { oneOf: [{ type: "object", properties: { kind: { const: "a" } }, required: ["kind"] }, { type: "string" }] }
    },
    required: ["maybe", "either", "one"]
  },
  allOf: { allOf: [{ type: "object", properties: { a: { type: "string" } }, required: ["a"] }, { properties: { b: { type: "integer", minimum: 2 } }, required: ["b"] }] },
  tuple: { type: "array", prefixItems: [{ type: "string" }, { type: "integer" }, { type: "boolean" }], minItems: 3 },
  formats: {
    type: "object",
    properties: { when: { type: "string", format: "date-time" }, day: { type: "string", format: "date" }, mail: { type: "string", format: "email" }, site: { type: "string", format: "uri" } },
    required: ["when", "day", "mail", "site"]
  },
  // What OpenAI strict mode requires: every property required, no extra ones.
  strict: {
    type: "object",
    properties: {
      steps: { type: "array", items: { type: "object", properties: { explanation: { type: "string" }, output: { type: "string" } }, required: ["explanation", "output"], additionalProperties: false } },
      final_answer: { type: "string" }
    },
    required: ["steps", "final_answer"],
    additionalProperties: false
  },
  scalar: { type: "integer", minimum: -5, maximum: -1 }
}

describe("JsonInstance", () => {
  it.each(Object.entries(schemas))("%s: the instance validates against its schema, for several seeds", (_name, schema) => {
    for (const seed of ["a", "weather in Paris", "λ", ""]) {
      const value = JsonInstance.make(schema, seed)
      const ok = ajv.validate(schema, value)
      expect(ok ? [] : ajv.errors, JSON.stringify(value)).toEqual([])
    }
  })

  it("is deterministic per seed, varies free values with it, and streams in pieces that join back", () => {
    const schema = schemas["flat"]!
    expect(JsonInstance.make(schema, "x")).toEqual(JsonInstance.make(schema, "x"))
    const seeds = ["a", "b", "c", "d", "e", "f"].map((s) => JSON.stringify(JsonInstance.make(schema, s)))
    expect(new Set(seeds).size).toBeGreaterThan(1)
    const json = JSON.stringify(JsonInstance.make(schemas["nested"]!, "s"))
    const pieces = JsonInstance.tokens(json)
    expect(pieces.length).toBeGreaterThan(8)
    expect(pieces.join("")).toBe(json)
  })

  it("gives formats their shape", () => {
    const v = JsonInstance.make(schemas["formats"]!, "s") as Record<string, string>
    expect(new Date(v["when"] ?? "").toISOString()).toBe("2026-01-15T09:30:00.000Z")
    expect(v["day"]).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(v["mail"]).toMatch(/^[^@\s]+@[^@\s]+\.[a-z]+$/)
    expect(new URL(v["site"] ?? "").protocol).toBe("https:")
  })
})
