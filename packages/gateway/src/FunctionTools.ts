/**
 * `tools[]` of function tools, `{type: "function", function: {name, description, parameters}}`,
 * as OpenAI's chat API and Ollama's /api/chat both take them, read into the contract's tools.
 * The two differ only where their servers do: OpenAI requires `type` and a string
 * `description`; Ollama lets `type` be absent and ignores a description that is not a
 * non-empty string. A tool without `parameters` takes an empty object (OpenAI's own default).
 */
import type { Backend } from "@local-router/core"
import * as Result from "effect/Result"
import * as ApiError from "./ApiError.ts"

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const fail = (message: string) => Result.fail(ApiError.invalid(message))

/** The tools, undefined when none; a 400 naming the first bad entry's path, in the dialect's words. */
export const read = (raw: unknown, dialect: "openai" | "ollama"): Result.Result<ReadonlyArray<Backend.Tool> | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (!Array.isArray(raw)) return fail("tools must be an array of {type:\"function\",function:{name,parameters}}")
  const out: Array<Backend.Tool> = []
  for (let i = 0; i < raw.length; i++) {
    const tool = raw[i]
    if (dialect === "openai" && (!isObject(tool) || tool.type !== "function")) {
      return fail(`tools[${i}].type must be "function" (the only tool type local servers run)`)
    }
    if (dialect === "ollama" && (!isObject(tool) || !isObject(tool.function) || (tool.type !== undefined && tool.type !== "function"))) {
      return fail(`tools[${i}] must be {type:"function",function:{name,description,parameters}}`)
    }
    const fn = (tool as Record<string, unknown>).function
    if (!isObject(fn) || typeof fn.name !== "string" || fn.name === "") return fail(`tools[${i}].function.name must be a non-empty string`)
    if (dialect === "openai" && fn.description !== undefined && fn.description !== null && typeof fn.description !== "string") {
      return fail(`tools[${i}].function.description must be a string`)
    }
    if (fn.parameters !== undefined && fn.parameters !== null && !isObject(fn.parameters)) {
      return fail(`tools[${i}].function.parameters must be a JSON Schema object`)
    }
    const parameters = isObject(fn.parameters) ? fn.parameters : { type: "object", properties: {} }
    const described = typeof fn.description === "string" && (dialect === "openai" || fn.description !== "")
    out.push(described ? { name: fn.name, description: fn.description as string, parameters } : { name: fn.name, parameters })
  }
  return Result.succeed(out.length > 0 ? out : undefined)
}
