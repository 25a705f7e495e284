/**
 * The agent fields of an Ollama `/api/chat` or `/api/generate` request, read into Contract
 * 2.0: `tools`, `format` (`"json"` or a JSON Schema), `think` (a bool or a level), and the
 * history an agent sends back (assistant `tool_calls` with object arguments, `tool` results
 * named by `tool_name`).
 *
 * Ollama has no `tool_choice` or `parallel_tool_calls`; its clients send neither. Its tool
 * results are matched by name, while OpenAI-style servers behind the router want the call's
 * id: `link` gives every call an id (keeping the client's) and every result the id of its call.
 */
import type { Backend } from "@local-router/core"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as FunctionTools from "../FunctionTools.ts"

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const fail = (message: string) => Result.fail(ApiError.invalid(message))

/** `tools[]`, OpenAI's shape as Ollama takes it. */
export const tools = (raw: unknown): Result.Result<ReadonlyArray<Backend.Tool> | undefined, ApiError.ApiError> => FunctionTools.read(raw, "ollama")

/** `format`: `"json"`, a JSON Schema object, or nothing (`""` too); Ollama's own message otherwise. */
export const format = (raw: unknown): Result.Result<Backend.ResponseFormat | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null || raw === "") return Result.succeed(undefined)
  if (raw === "json") return Result.succeed({ _tag: "Json" })
  // "schema" is the name Ollama itself gives a format schema when it hands it to llama-server.
  if (isObject(raw)) return Result.succeed({ _tag: "JsonSchema", name: "schema", schema: raw })
  return fail(`invalid format: ${JSON.stringify(raw)}; expected "json" or a valid JSON Schema object`)
}

/**
 * `think`: true/false, or a level (`low`, `medium`, `high`; `max` is the contract's `high`).
 * Absent leaves it to the model's default, as Ollama does (a thinking model thinks).
 */
export const think = (raw: unknown): Result.Result<Backend.Reasoning | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (raw === true) return Result.succeed({ _tag: "On" })
  if (raw === false) return Result.succeed({ _tag: "Off" })
  if (raw === "low" || raw === "medium" || raw === "high") return Result.succeed({ _tag: "On", effort: raw })
  if (raw === "max") return Result.succeed({ _tag: "On", effort: "high" })
  return fail(`invalid think value: ${JSON.stringify(raw)} (must be "high", "medium", "low", "max", true, or false)`)
}

/** An assistant message's `tool_calls`: arguments are an object (or, from some clients, its JSON text). */
export const toolCalls = (
  raw: unknown,
  at: string
): Result.Result<ReadonlyArray<{ readonly id: string | undefined; readonly name: string; readonly arguments: string }> | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (!Array.isArray(raw)) return fail(`${at} must be an array`)
  const out: Array<{ readonly id: string | undefined; readonly name: string; readonly arguments: string }> = []
  for (let i = 0; i < raw.length; i++) {
    const call = raw[i]
    const fn = isObject(call) ? call.function : undefined
    if (!isObject(call) || !isObject(fn)) return fail(`${at}[${i}] must be {function:{name, arguments}}`)
    if (typeof fn.name !== "string" || fn.name === "") return fail(`${at}[${i}].function.name must be a non-empty string`)
    const args = fn.arguments
    let text: string
    if (isObject(args)) text = JSON.stringify(args)
    else if (args === undefined || args === null) text = "{}"
    else if (typeof args === "string" && parsesAsObject(args)) text = args
    else return fail(`${at}[${i}].function.arguments must be an object`)
    out.push({ id: typeof call.id === "string" && call.id !== "" ? call.id : undefined, name: fn.name, arguments: text })
  }
  return Result.succeed(out.length > 0 ? out : undefined)
}

const parsesAsObject = (text: string): boolean => {
  try {
    return isObject(JSON.parse(text))
  } catch {
    return false
  }
}

/** A message as read, before calls and results are linked. */
export interface Read {
  readonly message: Backend.Message
  /** assistant: its calls, ids where the client kept them. */
  readonly calls?: ReadonlyArray<{ readonly id: string | undefined; readonly name: string; readonly arguments: string }>
  /** tool: the id the client gave, if any (Ollama's clients mostly send only `tool_name`). */
  readonly callId?: string
}

/**
 * Ids for every call and the call each result answers. A call without an id gets
 * `call_<message>_<call>` (stable across a conversation's turns, so the same history gives the
 * same ids). A result without an id answers the earliest unanswered call of its `tool_name`
 * (Ollama's rule: results of two calls to one tool are told apart by their order), else the
 * earliest unanswered call at all.
 */
export const link = (read: ReadonlyArray<Read>): ReadonlyArray<Backend.Message> => {
  const open: Array<{ readonly id: string; readonly name: string }> = []
  return read.map((entry, m): Backend.Message => {
    if (entry.calls) {
      const calls = entry.calls.map((call, c): Backend.ToolCall => ({ id: call.id ?? `call_${m}_${c}`, name: call.name, arguments: call.arguments }))
      open.push(...calls.map((call) => ({ id: call.id, name: call.name })))
      return { ...entry.message, toolCalls: calls }
    }
    if (entry.message.role !== "tool") return entry.message
    const name = entry.message.toolName
    const at = entry.callId !== undefined
      ? open.findIndex((call) => call.id === entry.callId)
      : name !== undefined && open.some((call) => call.name === name)
      ? open.findIndex((call) => call.name === name)
      : open.length > 0
      ? 0
      : -1
    const call = at >= 0 ? open.splice(at, 1)[0] : undefined
    const id = entry.callId ?? call?.id
    const toolName = name ?? call?.name
    return {
      ...entry.message,
      ...(id === undefined ? {} : { toolCallId: id }),
      ...(toolName === undefined ? {} : { toolName })
    }
  })
}
