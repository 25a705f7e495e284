/**
 * The request half of the OpenAI-compatible client (OpenAiChat): a GenerateRequest as the chat
 * completions body each kind of server reads. The servers agree on messages, tools and
 * `response_format`; they differ on tool choice and reasoning, which `Client.flavour` says
 * (protocols.md Part 2 §B.0, §C.1–C.3, §D, §F.7, §F.10).
 */
import * as Result from "effect/Result"
import type * as Redacted from "effect/Redacted"
import type { GenerateRequest, Message, Reasoning, ResponseFormat, Tool, ToolChoice } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"

export interface Client {
  /** The backend's name from routing.yaml, for errors. */
  readonly backend: string
  /** The API base including its version segment, as the OpenAI SDK takes it: `http://127.0.0.1:11435/v1`. */
  readonly baseUrl: string
  /** Extra headers; secrets (Authorization) as Redacted. */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>>
  /**
   * The field that carries the token limit. OpenAI's reasoning models reject `max_tokens`;
   * older local servers only know `max_tokens`. Default `max_tokens`.
   */
  readonly maxTokensField?: "max_tokens" | "max_completion_tokens"
  /** Ask for a final usage chunk (`stream_options: {include_usage: true}`). Default true. */
  readonly streamUsage?: boolean
  /** The token limit to send when a request gives none (mlx_lm silently stops at 512). */
  readonly defaultMaxTokens?: number
  /**
   * How the server spells tool choice and reasoning. Default `local`.
   * - `openai`: `tool_choice` strings or `{type:"function",function:{name}}`; `reasoning_effort`.
   * - `openrouter`: as OpenAI for tools; `reasoning: {effort | enabled}`.
   * - `local` (mlx_lm, llama-server, vLLM, LM Studio): `tool_choice` as a string only
   *   (llama-server silently reads an object as `auto`), reasoning switched with
   *   `chat_template_kwargs.enable_thinking` (the chat template's own switch, which each of them
   *   passes through) plus `reasoning_effort` for an effort.
   */
  readonly flavour?: Flavour
}

export type Flavour = "openai" | "openrouter" | "local"

/** The chat request body, or why the request cannot be sent. */
export const body = (client: Client, request: GenerateRequest): Result.Result<Record<string, unknown>, BackendError> => {
  const bad = (message: string) =>
    Result.fail(new BackendError({ reason: "BadRequest", backend: client.backend, model: request.model, message: `${client.backend}: ${message}` }))
  const o = request.options ?? {}
  if (request.messages.length === 0) return bad("the request has no messages")
  if (o.temperature !== undefined && !(Number.isFinite(o.temperature) && o.temperature >= 0)) {
    return bad(`temperature must be a number ≥ 0 (got ${o.temperature})`)
  }
  if (o.topP !== undefined && !(o.topP >= 0 && o.topP <= 1)) return bad(`topP must be between 0 and 1 (got ${o.topP})`)
  if (o.maxTokens !== undefined && !(Number.isInteger(o.maxTokens) && o.maxTokens > 0)) {
    return bad(`maxTokens must be a positive integer (got ${o.maxTokens})`)
  }
  if (o.seed !== undefined && !Number.isInteger(o.seed)) return bad(`seed must be an integer (got ${o.seed})`)
  const flavour = client.flavour ?? "local"
  const tools = toolsOf(flavour, request.tools ?? [], request.toolChoice)
  if (typeof tools === "string") return bad(tools)
  const maxTokens = o.maxTokens ?? client.defaultMaxTokens
  const streamUsage = client.streamUsage ?? true
  const reasoning = reasoningOf(flavour, request.reasoning, request.model)
  const kwargs = request.extra?.["chat_template_kwargs"]
  return Result.succeed({
    ...request.extra,
    model: request.model,
    messages: request.messages.map((message) => toWire(flavour, message)),
    ...tools,
    ...(request.parallelToolCalls === undefined || tools.tools === undefined ? {} : { parallel_tool_calls: request.parallelToolCalls }),
    ...responseFormatOf(request.responseFormat),
    ...reasoning.fields,
    // The template switch merges into kwargs routing.yaml may already pass through `extra`.
    ...(reasoning.kwargs === undefined ? {} : { chat_template_kwargs: { ...(isRecord(kwargs) ? kwargs : {}), ...reasoning.kwargs } }),
    ...(o.temperature === undefined ? {} : { temperature: o.temperature }),
    ...(o.topP === undefined ? {} : { top_p: o.topP }),
    ...(maxTokens === undefined ? {} : { [client.maxTokensField ?? "max_tokens"]: maxTokens }),
    ...(o.stop === undefined || o.stop.length === 0 ? {} : { stop: [...o.stop] }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    stream: true,
    // The key must be present whenever the object is: mlx_lm ends the stream early otherwise.
    ...(streamUsage ? { stream_options: { include_usage: true } } : {})
  })
}

/**
 * One message on the wire. Text and images keep the caller's order where it gave `parts`; an
 * assistant turn carries its tool calls (arguments as the JSON text they are), a tool turn the
 * id of the call it answers.
 */
const toWire = (flavour: Flavour, message: Message): Record<string, unknown> => {
  if (message.role === "tool") {
    return {
      role: "tool",
      ...(message.toolCallId === undefined ? {} : { tool_call_id: message.toolCallId }),
      // Ollama's /v1 matches a result to its tool by `name` (and templates that print the tool's
      // name read it); OpenAI's schema has no such key on a tool message.
      ...(flavour === "local" && message.toolName !== undefined ? { name: message.toolName } : {}),
      content: message.content
    }
  }
  const calls = message.toolCalls ?? []
  if (message.role === "assistant" && (calls.length > 0 || message.reasoning !== undefined)) {
    return {
      role: "assistant",
      // OpenAI's own tool-only turn has `content: null`; every local server accepts it too.
      content: message.content.length === 0 && calls.length > 0 ? null : message.content,
      ...(calls.length === 0
        ? {}
        : { tool_calls: calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } })) }),
      // llama-server and vLLM re-inject it through the template; OpenAI and OpenRouter reject
      // unknown message keys, and nothing there reads it back.
      ...(flavour === "local" && message.reasoning !== undefined ? { reasoning_content: message.reasoning } : {})
    }
  }
  const parts = message.parts ?? [
    ...(message.content.length > 0 ? [{ _tag: "Text" as const, text: message.content }] : []),
    ...(message.images ?? []).map((image) => ({ _tag: "Image" as const, image }))
  ]
  if (!parts.some((part) => part._tag === "Image")) return { role: message.role, content: message.content }
  return {
    role: message.role,
    content: parts.map((part) =>
      part._tag === "Text"
        ? { type: "text", text: part.text }
        : { type: "image_url", image_url: { url: `data:${part.image.mime};base64,${Buffer.from(part.image.data).toString("base64")}` } }
    )
  }
}

const toolOf = (tool: Tool) => ({
  type: "function",
  function: { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters: tool.parameters }
})

/**
 * `tools` and `tool_choice`, or what is wrong with them. A local server reads `tool_choice`
 * only as a string (protocols.md Part 2 §F.7), so a named tool is sent as the only tool with
 * `required`, and `none` sends no tools at all (mlx_lm ignores `tool_choice` entirely).
 */
const toolsOf = (
  flavour: Flavour,
  tools: ReadonlyArray<Tool>,
  choice: ToolChoice | undefined
): { readonly tools?: ReadonlyArray<unknown>; readonly tool_choice?: unknown } | string => {
  if (tools.length === 0) return choice === undefined || choice._tag === "Auto" || choice._tag === "None" ? {} : `tool choice ${choice._tag} needs tools, and the request has none`
  if (choice?._tag === "Named" && !tools.some((tool) => tool.name === choice.name)) {
    return `tool choice names "${choice.name}", which is not one of the request's tools (${tools.map((tool) => tool.name).join(", ")})`
  }
  if (flavour === "local") {
    if (choice?._tag === "None") return {}
    if (choice?._tag === "Named") return { tools: tools.filter((tool) => tool.name === choice.name).map(toolOf), tool_choice: "required" }
    return { tools: tools.map(toolOf), ...(choice?._tag === "Required" ? { tool_choice: "required" } : {}) }
  }
  const wire = choice === undefined
    ? undefined
    : choice._tag === "Named"
    ? { type: "function", function: { name: choice.name } }
    : choice._tag === "Auto"
    ? "auto"
    : choice._tag === "None"
    ? "none"
    : "required"
  return { tools: tools.map(toolOf), ...(wire === undefined ? {} : { tool_choice: wire }) }
}

/** OpenAI's `response_format`; llama-server reads the same shape (not its README's unwrapped one). */
const responseFormatOf = (format: ResponseFormat | undefined): Record<string, unknown> => {
  if (format === undefined || format._tag === "Text") return {}
  if (format._tag === "Json") return { response_format: { type: "json_object" } }
  return {
    response_format: {
      type: "json_schema",
      json_schema: { name: format.name, schema: format.schema, ...(format.strict === undefined ? {} : { strict: format.strict }) }
    }
  }
}

/** The request's reasoning as the server spells it: top-level fields, and chat-template switches. */
const reasoningOf = (
  flavour: Flavour,
  reasoning: Reasoning | undefined,
  model: string
): { readonly fields: Record<string, unknown>; readonly kwargs?: Record<string, unknown> } => {
  if (reasoning === undefined) return { fields: {} }
  const effort = reasoning._tag === "On" ? reasoning.effort : undefined
  switch (flavour) {
    // OpenAI has no switch for reasoning itself: a reasoning model always reasons (and shows
    // none of it), another never does; only an effort can be asked for.
    case "openai":
      // `minimal` exists for gpt-5 only; the o-series answer it with a 400, `low` is their least.
      return { fields: effort === undefined ? {} : { reasoning_effort: effort === "minimal" && !/^gpt-5/.test(model) ? "low" : effort } }
    case "openrouter":
      return {
        fields: { reasoning: reasoning._tag === "Off" ? { enabled: false } : effort === undefined ? { enabled: true } : { effort } }
      }
    case "local":
      return {
        // llama-server passes any effort to the template; vLLM knows low, medium and high only.
        fields: effort === undefined ? {} : { reasoning_effort: effort === "minimal" ? "low" : effort },
        kwargs: { enable_thinking: reasoning._tag === "On" }
      }
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null
