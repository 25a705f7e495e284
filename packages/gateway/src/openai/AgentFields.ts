/**
 * The agent fields of an OpenAI chat request, read into Contract 2.0: `tools`, `tool_choice`,
 * `parallel_tool_calls`, `response_format`, `reasoning_effort` (or `reasoning.effort`), and
 * the history an agent sends back (assistant `tool_calls`, `tool` results).
 *
 * Every field is checked where it is read and a bad one is a 400 naming its path, since a
 * tool-calling client that sent something we misread would get prose where it expects a call.
 */
import type { Backend } from "@local-router/core"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as FunctionTools from "../FunctionTools.ts"

type Fields = Pick<Backend.GenerateRequest, "tools" | "toolChoice" | "parallelToolCalls" | "responseFormat" | "reasoning">

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const fail = (message: string) => Result.fail(ApiError.invalid(message))

/** `tools[]`: function tools only (custom tools have no equivalent on the servers behind). */
export const tools = (raw: unknown): Result.Result<ReadonlyArray<Backend.Tool> | undefined, ApiError.ApiError> => FunctionTools.read(raw, "openai")

export const toolChoice = (
  raw: unknown,
  offered: ReadonlyArray<Backend.Tool> | undefined
): Result.Result<Backend.ToolChoice | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (raw === "auto") return Result.succeed({ _tag: "Auto" })
  if (raw === "none") return Result.succeed({ _tag: "None" })
  if (raw === "required") {
    // A call required with nothing to call could only fail on the server, or be ignored there.
    return offered ? Result.succeed({ _tag: "Required" }) : fail(`tool_choice "required" needs tools to choose from`)
  }
  if (isObject(raw) && raw.type === "function" && isObject(raw.function) && typeof raw.function.name === "string") {
    const name = raw.function.name
    if (!offered?.some((t) => t.name === name)) return fail(`tool_choice names the function ${JSON.stringify(name)}, which is not in tools`)
    return Result.succeed({ _tag: "Named", name })
  }
  return fail(`tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
}

export const responseFormat = (raw: unknown): Result.Result<Backend.ResponseFormat | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (!isObject(raw)) return fail("response_format must be an object with a type")
  switch (raw.type) {
    case "text":
      return Result.succeed(undefined)
    case "json_object":
      return Result.succeed({ _tag: "Json" })
    case "json_schema": {
      const spec = raw.json_schema
      if (!isObject(spec)) return fail("response_format.json_schema must be an object {name, schema, strict?}")
      if (typeof spec.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(spec.name)) {
        return fail("response_format.json_schema.name must be 1-64 letters, digits, _ or -")
      }
      if (spec.schema !== undefined && !isObject(spec.schema)) return fail("response_format.json_schema.schema must be a JSON Schema object")
      if (spec.strict !== undefined && spec.strict !== null && typeof spec.strict !== "boolean") {
        return fail("response_format.json_schema.strict must be a boolean")
      }
      return Result.succeed({
        _tag: "JsonSchema",
        name: spec.name,
        // A schema-less json_schema is valid on OpenAI and means any JSON object.
        schema: isObject(spec.schema) ? spec.schema : { type: "object" },
        ...(typeof spec.strict === "boolean" ? { strict: spec.strict } : {})
      })
    }
    default:
      return fail(`response_format.type must be "text", "json_object" or "json_schema" (got ${JSON.stringify(raw.type)})`)
  }
}

/**
 * `reasoning_effort` as OpenAI spells it (and `reasoning: {effort}`, as OpenRouter and Ollama's
 * /v1 accept): `none` turns reasoning off; `minimal`..`high` ask for it; `xhigh` and `max`
 * are the most the contract has, `high` (Ollama's /v1 maps them to its own maximum).
 */
export const reasoning = (effort: unknown, object: unknown): Result.Result<Backend.Reasoning | undefined, ApiError.ApiError> => {
  const [value, at] = effort !== undefined && effort !== null
    ? [effort, "reasoning_effort"]
    : isObject(object) && object.effort !== undefined && object.effort !== null
    ? [object.effort, "reasoning.effort"]
    : [undefined, ""]
  if (value === undefined) return Result.succeed(undefined)
  switch (value) {
    case "none":
      return Result.succeed({ _tag: "Off" })
    case "minimal":
    case "low":
    case "medium":
    case "high":
      return Result.succeed({ _tag: "On", effort: value as "minimal" | "low" | "medium" | "high" })
    case "xhigh":
    case "max":
      return Result.succeed({ _tag: "On", effort: "high" })
    default:
      return fail(`${at} must be one of none, minimal, low, medium, high, xhigh, max (got ${JSON.stringify(value)})`)
  }
}

/** All of a request's agent fields, or the first that is wrong. */
export const fields = (body: Record<string, unknown>): Result.Result<Fields, ApiError.ApiError> => {
  const offered = tools(body.tools)
  if (Result.isFailure(offered)) return Result.fail(offered.failure)
  const choice = toolChoice(body.tool_choice, offered.success)
  if (Result.isFailure(choice)) return Result.fail(choice.failure)
  const parallel = body.parallel_tool_calls
  if (parallel !== undefined && parallel !== null && typeof parallel !== "boolean") return fail("parallel_tool_calls must be a boolean")
  const format = responseFormat(body.response_format)
  if (Result.isFailure(format)) return Result.fail(format.failure)
  const thinking = reasoning(body.reasoning_effort, body.reasoning)
  if (Result.isFailure(thinking)) return Result.fail(thinking.failure)
  const kwargs = body.chat_template_kwargs
  // What clients of local OpenAI-compatible servers (vLLM, llama-server, mlx_lm) send to turn a
  // Qwen3-style model's thinking off or on; reasoning_effort wins when both are there.
  const enable = isObject(kwargs) && typeof kwargs.enable_thinking === "boolean" ? kwargs.enable_thinking : undefined
  const thought: Backend.Reasoning | undefined = thinking.success ?? (enable === undefined ? undefined : enable ? { _tag: "On" } : { _tag: "Off" })
  return Result.succeed({
    ...(offered.success ? { tools: offered.success } : {}),
    ...(choice.success ? { toolChoice: choice.success } : {}),
    ...(typeof parallel === "boolean" ? { parallelToolCalls: parallel } : {}),
    ...(format.success ? { responseFormat: format.success } : {}),
    ...(thought ? { reasoning: thought } : {})
  })
}

/**
 * An assistant message's `tool_calls`. `arguments` is JSON text on OpenAI's wire; an object
 * (what some clients build by hand) is accepted and written as JSON text.
 */
export const toolCalls = (raw: unknown, at: string): Result.Result<ReadonlyArray<Backend.ToolCall> | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (!Array.isArray(raw)) return fail(`${at} must be an array`)
  const out: Array<Backend.ToolCall> = []
  for (let i = 0; i < raw.length; i++) {
    const call = raw[i]
    const fn = isObject(call) ? call.function : undefined
    if (!isObject(call) || !isObject(fn)) return fail(`${at}[${i}] must be {id, type:"function", function:{name, arguments}}`)
    if (typeof call.id !== "string" || call.id === "") return fail(`${at}[${i}].id must be a non-empty string`)
    if (typeof fn.name !== "string" || fn.name === "") return fail(`${at}[${i}].function.name must be a non-empty string`)
    const args = fn.arguments
    let text: string
    if (typeof args === "string") {
      // Empty arguments are an empty object (llama.cpp reads them so too).
      text = args.trim() === "" ? "{}" : args
      if (!parsesAsObject(text)) return fail(`${at}[${i}].function.arguments must be the JSON text of an object`)
    } else if (isObject(args)) text = JSON.stringify(args)
    else if (args === undefined || args === null) text = "{}"
    else return fail(`${at}[${i}].function.arguments must be the JSON text of an object`)
    out.push({ id: call.id, name: fn.name, arguments: text })
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
