/**
 * A `POST /v1/messages` body read into a router request, as the Anthropic Messages API defines
 * it (and as Claude Code and `@anthropic-ai/sdk` send it):
 *
 * - `system` (a string or text blocks) and any `role: "system"` message become system messages;
 * - `text` and `image` blocks keep their order (`parts`); an image is base64 (`source.type:
 *   "base64"`); a `url` source is refused, since the gateway never fetches what a caller points at;
 * - an assistant's `tool_use` blocks become its tool calls (`input` as JSON text), its
 *   `thinking` blocks its reasoning; `redacted_thinking` is dropped (only Anthropic can read it);
 * - a user's `tool_result` blocks become `tool` messages tied to their call (and named, for
 *   servers that match results by name), placed before the rest of that user message, as the
 *   API requires them first; `is_error` is said in the result's text, the only place a local
 *   model can read it;
 * - `tools`, `tool_choice` (with `disable_parallel_tool_use`), `thinking` (see `reasoning`),
 *   `output_config` (`effort`, `format`), `max_tokens` (required), `stop_sequences`,
 *   `temperature`, `top_p`.
 *
 * Anything malformed is a 400 naming the field as Anthropic does (`messages.1.content.0.type`).
 * Fields this API has and local models do not (`top_k`, `metadata`, `cache_control`,
 * `service_tier`, citations) are accepted and ignored; server tools (web search, bash, ...) are
 * refused, since nothing here would run them.
 */
import type { Backend, Router } from "@local-router/core"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Catalog from "../Catalog.ts"
import * as ImageInput from "../ImageInput.ts"

export interface Decoded {
  readonly model: string
  readonly stream: boolean
  readonly request: Router.Request
}

type Failure = Result.Result<never, ApiError.ApiError>
const fail = (field: string, message: string): Failure => Result.fail(ApiError.invalid(`${field}: ${message}`))

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const typeName = (u: unknown): string => (u === null ? "null" : Array.isArray(u) ? "array" : typeof u)

/** An image block's source as core's image. */
const image = (block: Record<string, unknown>, field: string): Result.Result<Backend.Image, ApiError.ApiError> => {
  const source = block.source
  if (!isObject(source)) return fail(`${field}.source`, "Field required: an object {type: \"base64\", media_type, data}")
  if (source.type === "url") {
    return fail(`${field}.source`, "image URLs are not fetched by local-router (it runs offline and never fetches addresses a caller chose): send the image as {type: \"base64\", media_type, data}")
  }
  if (source.type === "file") return fail(`${field}.source`, "file ids (the Files API) are not supported by local-router: send the image as base64")
  if (source.type !== "base64") return fail(`${field}.source.type`, `must be "base64" (got ${JSON.stringify(source.type)})`)
  if (typeof source.data !== "string") return fail(`${field}.source.data`, "Field required: the image's bytes as base64")
  if (typeof source.media_type !== "string") return fail(`${field}.source.media_type`, "Field required: image/jpeg, image/png, image/gif or image/webp")
  const decoded = ImageInput.fromBase64(source.data)
  if (Result.isFailure(decoded)) return fail(`${field}.source.data`, decoded.failure)
  return Result.succeed(decoded.success)
}

/** Text blocks (a `system` or a tool result's content), joined as Anthropic's servers join them. */
const textBlocks = (blocks: ReadonlyArray<unknown>, field: string): Result.Result<string, ApiError.ApiError> => {
  let text = ""
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]
    if (!isObject(block) || block.type !== "text") return fail(`${field}.${i}.type`, `must be "text" (got ${JSON.stringify(isObject(block) ? block.type : typeName(block))})`)
    if (typeof block.text !== "string") return fail(`${field}.${i}.text`, "Field required: a string")
    text += (text === "" ? "" : "\n") + block.text
  }
  return Result.succeed(text)
}

const message = (role: Backend.Message["role"], parts: ReadonlyArray<Backend.ContentPart>, extra: Partial<Backend.Message> = {}): Backend.Message => {
  const text = parts.flatMap((p) => (p._tag === "Text" ? [p.text] : [])).join("\n")
  const images = parts.flatMap((p) => (p._tag === "Image" ? [p.image] : []))
  return images.length > 0 ? { role, content: text, images, parts, ...extra } : { role, content: text, ...extra }
}

/** A `tool_result` block as a `tool` message. */
const toolResult = (
  block: Record<string, unknown>,
  field: string,
  names: ReadonlyMap<string, string>
): Result.Result<Backend.Message, ApiError.ApiError> => {
  const id = block.tool_use_id
  if (typeof id !== "string" || id === "") return fail(`${field}.tool_use_id`, "Field required: the id of the tool_use this is the result of")
  if (block.is_error !== undefined && typeof block.is_error !== "boolean") return fail(`${field}.is_error`, `must be a boolean (got ${typeName(block.is_error)})`)
  const parts: Array<Backend.ContentPart> = []
  const content = block.content
  if (typeof content === "string") parts.push({ _tag: "Text", text: content })
  else if (Array.isArray(content)) {
    for (let i = 0; i < content.length; i++) {
      const inner = content[i]
      const at = `${field}.content.${i}`
      if (!isObject(inner)) return fail(at, `must be a text or image block (got ${typeName(inner)})`)
      if (inner.type === "text") {
        if (typeof inner.text !== "string") return fail(`${at}.text`, "Field required: a string")
        parts.push({ _tag: "Text", text: inner.text })
      } else if (inner.type === "image") {
        const img = image(inner, at)
        if (Result.isFailure(img)) return Result.fail(img.failure)
        parts.push({ _tag: "Image", image: img.success })
      } else return fail(`${at}.type`, `unsupported block type ${JSON.stringify(inner.type)} in a tool result (text and image are supported)`)
    }
  } else if (content !== undefined && content !== null) return fail(`${field}.content`, `must be a string or an array of blocks (got ${typeName(content)})`)
  // The contract has no error flag on a result; a local model reads the result's text, so say it there.
  if (block.is_error === true) {
    const first = parts[0]
    if (first?._tag === "Text") parts[0] = { _tag: "Text", text: `Error: ${first.text}` }
    else parts.unshift({ _tag: "Text", text: "Error" })
  }
  const name = names.get(id)
  return Result.succeed(message("tool", parts, { toolCallId: id, ...(name === undefined ? {} : { toolName: name }) }))
}

/**
 * `messages` as core messages: a user turn's tool results become tool messages ahead of the
 * rest of it; system messages are collected into `systems`.
 */
const messages = (raw: unknown, systems: Array<Backend.Message>): Result.Result<Array<Backend.Message>, ApiError.ApiError> => {
  if (!Array.isArray(raw)) return fail("messages", raw === undefined ? "Field required" : `must be an array (got ${typeName(raw)})`)
  if (raw.length === 0) return fail("messages", "must hold at least one message")
  const out: Array<Backend.Message> = []
  // Tool names by call id, so a result can be named (Ollama matches results by name).
  const names = new Map<string, string>()
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i]
    const field = `messages.${i}`
    if (!isObject(m)) return fail(field, `must be an object {role, content} (got ${typeName(m)})`)
    const role = m.role
    if (role !== "user" && role !== "assistant" && role !== "system") {
      return fail(`${field}.role`, `must be "user", "assistant" or "system" (got ${JSON.stringify(role)})`)
    }
    const content = m.content
    if (role === "system") {
      const text = typeof content === "string" ? Result.succeed(content) : Array.isArray(content) ? textBlocks(content, `${field}.content`) : fail(`${field}.content`, "must be a string or text blocks")
      if (Result.isFailure(text)) return Result.fail(text.failure)
      // Claude's API keeps system text apart from the turns; servers behind the router want it first.
      systems.push({ role: "system", content: text.success })
      continue
    }
    if (typeof content === "string") {
      out.push({ role, content })
      continue
    }
    if (!Array.isArray(content)) return fail(`${field}.content`, content === undefined ? "Field required" : `must be a string or an array of blocks (got ${typeName(content)})`)
    const parts: Array<Backend.ContentPart> = []
    const results: Array<Backend.Message> = []
    const calls: Array<Backend.ToolCall> = []
    let reasoning = ""
    for (let j = 0; j < content.length; j++) {
      const block = content[j]
      const at = `${field}.content.${j}`
      if (!isObject(block)) return fail(at, `must be a content block object (got ${typeName(block)})`)
      switch (block.type) {
        case "text":
          if (typeof block.text !== "string") return fail(`${at}.text`, "Field required: a string")
          parts.push({ _tag: "Text", text: block.text })
          break
        case "image": {
          const img = image(block, at)
          if (Result.isFailure(img)) return Result.fail(img.failure)
          parts.push({ _tag: "Image", image: img.success })
          break
        }
        case "tool_use": {
          if (role !== "assistant") return fail(`${at}.type`, "tool_use blocks belong in an assistant message")
          if (typeof block.id !== "string" || block.id === "") return fail(`${at}.id`, "Field required: a string")
          if (typeof block.name !== "string" || block.name === "") return fail(`${at}.name`, "Field required: a string")
          if (!isObject(block.input)) return fail(`${at}.input`, `must be an object (got ${typeName(block.input)})`)
          names.set(block.id, block.name)
          calls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) })
          break
        }
        case "tool_result": {
          if (role !== "user") return fail(`${at}.type`, "tool_result blocks belong in a user message")
          const result = toolResult(block, at, names)
          if (Result.isFailure(result)) return Result.fail(result.failure)
          results.push(result.success)
          break
        }
        case "thinking":
          if (role !== "assistant") return fail(`${at}.type`, "thinking blocks belong in an assistant message")
          if (typeof block.thinking !== "string") return fail(`${at}.thinking`, "Field required: a string")
          reasoning += block.thinking
          break
        case "redacted_thinking":
          // Encrypted for Anthropic's own models; nothing a local model could read.
          break
        case "document":
          return fail(`${at}.type`, "document blocks (PDFs) are not supported on /v1/messages: send the text, or use local-router's /v1/vision/pdf")
        default:
          return fail(`${at}.type`, `unsupported block type ${JSON.stringify(block.type)} (text, image, tool_use, tool_result, thinking are supported)`)
      }
    }
    out.push(...results)
    if (role === "assistant") {
      if (parts.length > 0 || calls.length > 0 || reasoning !== "") {
        out.push(message("assistant", parts, {
          ...(calls.length > 0 ? { toolCalls: calls } : {}),
          ...(reasoning === "" ? {} : { reasoning })
        }))
      }
    } else if (parts.length > 0 || results.length === 0) out.push(message("user", parts))
  }
  return Result.succeed(out)
}

const tools = (raw: unknown): Result.Result<Array<Backend.Tool> | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (!Array.isArray(raw)) return fail("tools", `must be an array (got ${typeName(raw)})`)
  const out: Array<Backend.Tool> = []
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]
    const field = `tools.${i}`
    if (!isObject(t)) return fail(field, `must be an object {name, description, input_schema} (got ${typeName(t)})`)
    if (t.type !== undefined && t.type !== null && t.type !== "custom") {
      return fail(`${field}.type`, `server tool ${JSON.stringify(t.type)} is not supported by local-router: nothing here would run it (give a custom tool with input_schema)`)
    }
    if (typeof t.name !== "string" || t.name === "") return fail(`${field}.name`, "Field required: a string")
    if (t.description !== undefined && typeof t.description !== "string") return fail(`${field}.description`, `must be a string (got ${typeName(t.description)})`)
    if (!isObject(t.input_schema)) return fail(`${field}.input_schema`, t.input_schema === undefined ? "Field required: a JSON Schema object" : `must be a JSON Schema object (got ${typeName(t.input_schema)})`)
    out.push({ name: t.name, parameters: t.input_schema, ...(typeof t.description === "string" ? { description: t.description } : {}) })
  }
  return Result.succeed(out)
}

interface Choice {
  readonly toolChoice?: Backend.ToolChoice
  readonly parallelToolCalls?: boolean
}

const toolChoice = (raw: unknown, offered: ReadonlyArray<Backend.Tool> | undefined): Result.Result<Choice, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed({})
  if (!isObject(raw)) return fail("tool_choice", `must be an object {type: "auto" | "any" | "tool" | "none"} (got ${typeName(raw)})`)
  const disable = raw.disable_parallel_tool_use
  if (disable !== undefined && typeof disable !== "boolean") return fail("tool_choice.disable_parallel_tool_use", `must be a boolean (got ${typeName(disable)})`)
  const parallel = disable === true ? { parallelToolCalls: false } : {}
  switch (raw.type) {
    case "auto":
      return Result.succeed({ toolChoice: { _tag: "Auto" }, ...parallel })
    case "none":
      return Result.succeed({ toolChoice: { _tag: "None" } })
    case "any":
      return Result.succeed({ toolChoice: { _tag: "Required" }, ...parallel })
    case "tool": {
      if (typeof raw.name !== "string" || raw.name === "") return fail("tool_choice.name", "Field required: the tool to call")
      if (!offered?.some((t) => t.name === raw.name)) return fail("tool_choice.name", `${JSON.stringify(raw.name)} is not one of the tools given`)
      return Result.succeed({ toolChoice: { _tag: "Named", name: raw.name }, ...parallel })
    }
    default:
      return fail("tool_choice.type", `must be "auto", "any", "tool" or "none" (got ${JSON.stringify(raw.type)})`)
  }
}

type Effort = "minimal" | "low" | "medium" | "high"

/**
 * A thinking budget as an effort: local servers take on/off or a level, not a token budget.
 * The bands follow Anthropic's guidance (1024 the minimum, 16k+ for hard problems).
 */
export const effortOfBudget = (budget: number): Effort => (budget < 4096 ? "low" : budget < 16384 ? "medium" : "high")

const efforts: Record<string, Effort> = { low: "low", medium: "medium", high: "high", xhigh: "high", max: "high" }

/**
 * `thinking` as the contract's reasoning. Only an explicit `enabled` (with its budget) asks for
 * reasoning, so only it skips models without it. `adaptive` ("the model decides whether to
 * think") is the server's default: a thinking model thinks, another answers. Claude Code
 * sends it on every turn to models it believes can think, and refusing every turn for a
 * category of plain models would make it unusable there. `output_config.effort` alone sets
 * no reasoning either (for Claude it also shapes the answer and tool use, not only thinking);
 * with `enabled` it sets the effort.
 */
const reasoning = (thinking: unknown, effort: Effort | undefined, maxTokens: number | undefined): Result.Result<Backend.Reasoning | undefined, ApiError.ApiError> => {
  if (thinking === undefined || thinking === null) return Result.succeed(undefined)
  if (!isObject(thinking)) return fail("thinking", `must be an object {type: "enabled", budget_tokens} or {type: "disabled"} (got ${typeName(thinking)})`)
  switch (thinking.type) {
    case "disabled":
      return Result.succeed({ _tag: "Off" })
    case "adaptive":
    case "between_tools":
      return Result.succeed(undefined)
    case "enabled": {
      const budget = thinking.budget_tokens
      if (typeof budget !== "number" || !Number.isInteger(budget) || budget < 1) return fail("thinking.budget_tokens", "Field required: a positive integer")
      if (maxTokens !== undefined && budget >= maxTokens) return fail("thinking.budget_tokens", `must be less than max_tokens (${budget} >= ${maxTokens})`)
      return Result.succeed({ _tag: "On", effort: effort ?? effortOfBudget(budget) })
    }
    default:
      return fail("thinking.type", `must be "enabled", "adaptive" or "disabled" (got ${JSON.stringify(thinking.type)})`)
  }
}

const outputConfig = (raw: unknown): Result.Result<{ readonly effort?: Effort; readonly format?: Backend.ResponseFormat }, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed({})
  if (!isObject(raw)) return fail("output_config", `must be an object (got ${typeName(raw)})`)
  let effort: Effort | undefined
  if (raw.effort !== undefined && raw.effort !== null) {
    effort = typeof raw.effort === "string" ? efforts[raw.effort] : undefined
    if (effort === undefined) return fail("output_config.effort", `must be "low", "medium", "high", "xhigh" or "max" (got ${JSON.stringify(raw.effort)})`)
  }
  const format = raw.format
  if (format === undefined || format === null) return Result.succeed(effort === undefined ? {} : { effort })
  if (!isObject(format) || format.type !== "json_schema") return fail("output_config.format.type", "must be \"json_schema\"")
  if (!isObject(format.schema)) return fail("output_config.format.schema", "Field required: a JSON Schema object")
  const responseFormat: Backend.ResponseFormat = { _tag: "JsonSchema", name: "output", schema: format.schema, strict: true }
  return Result.succeed(effort === undefined ? { format: responseFormat } : { effort, format: responseFormat })
}

const number = (body: Record<string, unknown>, key: string, min: number, max: number): Result.Result<number | undefined, ApiError.ApiError> => {
  const value = body[key]
  if (value === undefined || value === null) return Result.succeed(undefined)
  if (typeof value !== "number" || !Number.isFinite(value)) return fail(key, `must be a number (got ${typeName(value)})`)
  return value < min || value > max ? fail(key, `must be between ${min} and ${max} (got ${value})`) : Result.succeed(value)
}

/** `system` as a message: a string or text blocks. */
const system = (raw: unknown): Result.Result<Backend.Message | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  const text = typeof raw === "string" ? Result.succeed(raw) : Array.isArray(raw) ? textBlocks(raw, "system") : fail("system", `must be a string or an array of text blocks (got ${typeName(raw)})`)
  if (Result.isFailure(text)) return Result.fail(text.failure)
  return Result.succeed(text.success === "" ? undefined : { role: "system", content: text.success })
}

/**
 * What both `/v1/messages` and `/v1/messages/count_tokens` read: everything but `max_tokens`,
 * `stream` and the sampling options.
 */
export interface Conversation {
  readonly model: string
  readonly messages: ReadonlyArray<Backend.Message>
  readonly tools: ReadonlyArray<Backend.Tool> | undefined
  readonly choice: Choice
  readonly reasoning: Backend.Reasoning | undefined
  readonly responseFormat: Backend.ResponseFormat | undefined
}

export const conversation = (body: Record<string, unknown>, maxTokens: number | undefined): Result.Result<Conversation, ApiError.ApiError> => {
  const model = body.model
  if (typeof model !== "string" || model === "") return fail("model", model === undefined ? "Field required: a category or backend/model" : "must be a non-empty string: a category or backend/model")
  const sys = system(body.system)
  if (Result.isFailure(sys)) return Result.fail(sys.failure)
  const systems: Array<Backend.Message> = sys.success ? [sys.success] : []
  const turns = messages(body.messages, systems)
  if (Result.isFailure(turns)) return Result.fail(turns.failure)
  const offered = tools(body.tools)
  if (Result.isFailure(offered)) return Result.fail(offered.failure)
  const choice = toolChoice(body.tool_choice, offered.success)
  if (Result.isFailure(choice)) return Result.fail(choice.failure)
  const output = outputConfig(body.output_config)
  if (Result.isFailure(output)) return Result.fail(output.failure)
  const think = reasoning(body.thinking, output.success.effort, maxTokens)
  if (Result.isFailure(think)) return Result.fail(think.failure)
  return Result.succeed({
    model,
    messages: [...systems, ...turns.success],
    tools: offered.success && offered.success.length > 0 ? offered.success : undefined,
    choice: choice.success,
    reasoning: think.success,
    responseFormat: output.success.format
  })
}

export const decode = (body: Record<string, unknown>, snapshot: Router.Snapshot): Result.Result<Decoded, ApiError.ApiError> => {
  const max = body.max_tokens
  if (max === undefined || max === null) return fail("max_tokens", "Field required: the most tokens to generate, a positive integer")
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1) return fail("max_tokens", `must be a positive integer (got ${JSON.stringify(max)})`)
  const conv = conversation(body, max)
  if (Result.isFailure(conv)) return Result.fail(conv.failure)
  const temperature = number(body, "temperature", 0, 1)
  if (Result.isFailure(temperature)) return Result.fail(temperature.failure)
  const topP = number(body, "top_p", 0, 1)
  if (Result.isFailure(topP)) return Result.fail(topP.failure)
  const stops = body.stop_sequences
  if (stops !== undefined && stops !== null && !(Array.isArray(stops) && stops.every((s) => typeof s === "string"))) {
    return fail("stop_sequences", "must be an array of strings")
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") return fail("stream", `must be a boolean (got ${typeName(body.stream)})`)
  const options: Backend.Options = {
    maxTokens: max,
    ...(temperature.success === undefined ? {} : { temperature: temperature.success }),
    ...(topP.success === undefined ? {} : { topP: topP.success }),
    ...(Array.isArray(stops) && stops.length > 0 ? { stop: stops as Array<string> } : {})
  }
  const { model, messages: turns, tools: offered, choice, reasoning: think, responseFormat } = conv.success
  const request: Router.Request = {
    ...Catalog.resolve(snapshot, model),
    messages: turns,
    options,
    ...(offered ? { tools: offered } : {}),
    ...(choice.toolChoice ? { toolChoice: choice.toolChoice } : {}),
    ...(choice.parallelToolCalls === undefined ? {} : { parallelToolCalls: choice.parallelToolCalls }),
    ...(think ? { reasoning: think } : {}),
    ...(responseFormat ? { responseFormat } : {})
  }
  return Result.succeed({ model, stream: body.stream === true, request })
}
