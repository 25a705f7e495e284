/**
 * `POST /v1/chat/completions` as OpenAI defines it: the request read into a router request,
 * the answer written back as a `chat.completion`, or as `chat.completion.chunk` SSE events
 * in OpenAI's order (role chunk, content chunks, an empty-delta finish chunk, the usage chunk
 * when `stream_options.include_usage`, then `[DONE]`).
 *
 * A failure after the first token is sent as `data: {"error":{...}}` and the stream ends with
 * no finish chunk and no `[DONE]`: the official SDKs throw an APIError on it.
 *
 * `model` echoes what the caller asked for (a category); the model that actually ran is in the
 * `x-local-router-*` headers. The router's trace rides along as `local_router.trace` (on the
 * completion, and on a stream's finish chunk), as errors carry `error.local_router`: what
 * `local-router ask` prints when it goes through serve. SDKs ignore the extra key.
 */
import type { Backend, Router } from "@local-router/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Catalog from "../Catalog.ts"
import * as Exchange from "../Exchange.ts"
import * as Handler from "../Handler.ts"
import * as ImageInput from "../ImageInput.ts"
import * as AgentFields from "./AgentFields.ts"
import * as OpenAiError from "./OpenAiError.ts"

export interface Decoded {
  readonly model: string
  readonly stream: boolean
  readonly includeUsage: boolean
  readonly request: Router.Request
}

const roles: Record<string, Backend.Message["role"]> = {
  system: "system",
  developer: "system",
  user: "user",
  assistant: "assistant",
  tool: "tool"
}

/** A message's content: its text (parts joined), its images, and the parts in order when there are images. */
const content = (
  raw: unknown,
  at: string
): Result.Result<Pick<Backend.Message, "content" | "images" | "parts">, ApiError.ApiError> => {
  if (typeof raw === "string") return Result.succeed({ content: raw })
  if (raw === null || raw === undefined) return Result.succeed({ content: "" })
  if (!Array.isArray(raw)) return Result.fail(ApiError.invalid(`${at} must be a string or an array of parts`))
  let text = ""
  const images: Array<Backend.Image> = []
  const parts: Array<Backend.ContentPart> = []
  for (let j = 0; j < raw.length; j++) {
    const part = raw[j] as { type?: unknown; text?: unknown; image_url?: unknown } | null
    if (part?.type === "text" && typeof part.text === "string") {
      text = text === "" ? part.text : `${text}\n${part.text}`
      parts.push({ _tag: "Text", text: part.text })
    } else if (part?.type === "image_url") {
      const ref = part.image_url as { url?: unknown } | string | undefined
      const url = typeof ref === "string" ? ref : ref?.url
      if (typeof url !== "string") return Result.fail(ApiError.invalid(`${at}[${j}].image_url.url must be a string`))
      const image = ImageInput.fromUrl(url)
      if (Result.isFailure(image)) return Result.fail(ApiError.invalid(`${at}[${j}]: ${image.failure}`))
      images.push(image.success)
      parts.push({ _tag: "Image", image: image.success })
    } else {
      return Result.fail(ApiError.invalid(`${at}[${j}]: unsupported part type ${JSON.stringify(part?.type)} (text and image_url are supported)`))
    }
  }
  return Result.succeed(images.length > 0 ? { content: text, images, parts } : { content: text })
}

/**
 * One message. A `tool` result names its call (`tool_call_id`); its tool's name, which Ollama
 * matches results by, is `name` when the client sent it, else the name of that call earlier in
 * the history (as Ollama's own /v1 layer looks it up).
 */
const message = (raw: unknown, i: number, calls: ReadonlyMap<string, string>): Result.Result<Backend.Message, ApiError.ApiError> => {
  if (typeof raw !== "object" || raw === null) return Result.fail(ApiError.invalid(`messages[${i}] must be an object`))
  const m = raw as Record<string, unknown>
  const role = typeof m.role === "string" ? roles[m.role] : undefined
  if (role === undefined) return Result.fail(ApiError.invalid(`messages[${i}].role must be one of system, developer, user, assistant, tool`))
  const body = content(m.content, `messages[${i}].content`)
  if (Result.isFailure(body)) return Result.fail(body.failure)
  if (role === "tool") {
    const id = m.tool_call_id
    if (typeof id !== "string" || id === "") return Result.fail(ApiError.invalid(`messages[${i}].tool_call_id must name the tool call this is the result of`))
    const name = typeof m.name === "string" && m.name !== "" ? m.name : calls.get(id)
    return Result.succeed({ role, content: body.success.content, toolCallId: id, ...(name === undefined ? {} : { toolName: name }) })
  }
  if (role !== "assistant") return Result.succeed({ role, ...body.success })
  const made = AgentFields.toolCalls(m.tool_calls, `messages[${i}].tool_calls`)
  if (Result.isFailure(made)) return Result.fail(made.failure)
  // DeepSeek, llama.cpp and vLLM send reasoning back as reasoning_content, OpenRouter and Ollama as reasoning.
  const thought = typeof m.reasoning_content === "string" ? m.reasoning_content : typeof m.reasoning === "string" ? m.reasoning : undefined
  return Result.succeed({
    role,
    ...body.success,
    ...(made.success ? { toolCalls: made.success } : {}),
    ...(thought ? { reasoning: thought } : {})
  })
}

const options = (body: Record<string, unknown>): Result.Result<Backend.Options, ApiError.ApiError> => {
  const out: { -readonly [K in keyof Backend.Options]: Backend.Options[K] } = {}
  const number = (key: string): Result.Result<number | undefined, ApiError.ApiError> => {
    const value = body[key]
    if (value === undefined || value === null) return Result.succeed(undefined)
    return typeof value === "number" && Number.isFinite(value) ? Result.succeed(value) : Result.fail(ApiError.invalid(`${key} must be a number`))
  }
  for (const [key, field] of [["temperature", "temperature"], ["top_p", "topP"], ["seed", "seed"], ["max_completion_tokens", "maxTokens"], ["max_tokens", "maxTokens"]] as const) {
    const value = number(key)
    if (Result.isFailure(value)) return Result.fail(value.failure)
    if (value.success !== undefined && out[field] === undefined) out[field] = value.success
  }
  const stop = body.stop
  if (typeof stop === "string") out.stop = [stop]
  else if (Array.isArray(stop) && stop.every((s) => typeof s === "string")) out.stop = stop as Array<string>
  else if (stop !== undefined && stop !== null) return Result.fail(ApiError.invalid("stop must be a string or an array of strings"))
  return Result.succeed(out)
}

export const decode = (body: Record<string, unknown>, snapshot: Router.Snapshot): Result.Result<Decoded, ApiError.ApiError> => {
  const model = body.model
  if (typeof model !== "string" || model === "") return Result.fail(ApiError.invalid("model is required: a category or backend/model"))
  const raw = body.messages
  if (!Array.isArray(raw) || raw.length === 0) return Result.fail(ApiError.invalid("messages must be a non-empty array"))
  if (typeof body.n === "number" && body.n !== 1) return Result.fail(ApiError.invalid("n must be 1"))
  // The deprecated spelling of tools: refused, not ignored, so an old client gets no prose where it expects a call.
  if ((body.functions !== undefined && body.functions !== null) || (body.function_call !== undefined && body.function_call !== null)) {
    return Result.fail(ApiError.invalid("functions and function_call are OpenAI's deprecated spelling: send tools and tool_choice"))
  }
  const agent = AgentFields.fields(body)
  if (Result.isFailure(agent)) return Result.fail(agent.failure)
  const messages: Array<Backend.Message> = []
  const calls = new Map<string, string>()
  for (let i = 0; i < raw.length; i++) {
    const m = message(raw[i], i, calls)
    if (Result.isFailure(m)) return Result.fail(m.failure)
    for (const call of m.success.toolCalls ?? []) calls.set(call.id, call.name)
    messages.push(m.success)
  }
  const opts = options(body)
  if (Result.isFailure(opts)) return Result.fail(opts.failure)
  const target = Catalog.resolve(snapshot, model)
  const streamOptions = body.stream_options as { include_usage?: unknown } | null | undefined
  return Result.succeed({
    model,
    stream: body.stream === true,
    includeUsage: streamOptions?.include_usage === true,
    request: { ...target, messages, options: opts.success, ...agent.success }
  })
}

/** OpenAI's finish reasons; "other" has no equivalent and reads as a plain stop. */
const finishReason = (reason: Backend.FinishReason) => (reason === "length" || reason === "tool_calls" ? reason : "stop")

const usageOf = (usage: Backend.Usage) => {
  const prompt = usage.inputTokens ?? 0
  const completion = usage.outputTokens ?? 0
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
}

// Unique per process run without a random draw per request: a random prefix and a counter.
// (Ids need not be unguessable; Web Crypto would load node:crypto into every serve.)
const idPrefix = `chatcmpl-${Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, "0")}`
let idCounter = 0
const newId = () => `${idPrefix}${(++idCounter).toString(36).padStart(8, "0")}`

/**
 * The completion's message. A turn that only calls tools has `content: null`, as OpenAI
 * answers it; reasoning goes in `reasoning_content` (DeepSeek's and llama.cpp's name, which
 * OpenAI-compatible agent clients read; OpenAI itself returns no reasoning text).
 */
const messageOf = (answer: Router.Answer) => {
  const calls = answer.toolCalls ?? []
  return {
    role: "assistant",
    content: calls.length > 0 && answer.text === "" ? null : answer.text,
    refusal: null,
    ...(answer.reasoning ? { reasoning_content: answer.reasoning } : {}),
    ...(calls.length > 0
      ? { tool_calls: calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } })) }
      : {})
  }
}

export const render = (model: string) => (answer: Router.Answer): string =>
  JSON.stringify({
    id: newId(),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: null,
    choices: [{
      index: 0,
      message: messageOf(answer),
      logprobs: null,
      finish_reason: finishReason(answer.finishReason)
    }],
    usage: usageOf(answer.usage),
    local_router: { trace: answer.trace }
  })

/**
 * Every chunk shares its envelope; only the delta and finish reason change. The envelope is
 * written once per stream so a token costs one JSON string escape and a concatenation.
 *
 * Tool calls stream as OpenAI streams them: a call's first chunk carries its `index`, `id`,
 * `type`, `function.name` and empty `arguments`; later chunks carry the `index` and a fragment
 * of the arguments. The first chunk's `content` is null when the turn opens with a tool call
 * or reasoning, as OpenAI's own tool turns begin.
 */
export const encoder = (model: string, includeUsage: boolean): Exchange.StreamEncoder => {
  const id = newId()
  const created = Math.floor(Date.now() / 1000)
  const envelope = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":[`
  const usageNull = includeUsage ? `,"usage":null` : ""
  const deltaOpen = `${envelope}{"index":0,"delta":`
  const deltaClose = `,"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`
  const contentOpen = `${deltaOpen}{"content":`
  const contentClose = `}${deltaClose}`
  let started = false
  return {
    events: (events) => {
      let out = ""
      const all = Chunk.toReadonlyArray(events)
      if (!started) {
        started = true
        const opening = all.find((e) => e._tag === "TextDelta" || e._tag === "ReasoningDelta" || e._tag === "ToolCallStart")
        const empty = opening === undefined || opening._tag === "TextDelta" ? `""` : "null"
        out = `${deltaOpen}{"role":"assistant","content":${empty}}${deltaClose}`
      }
      for (const event of all) {
        switch (event._tag) {
          case "TextDelta":
            out += contentOpen + JSON.stringify(event.text) + contentClose
            break
          case "ReasoningDelta":
            out += `${deltaOpen}{"reasoning_content":${JSON.stringify(event.text)}}${deltaClose}`
            break
          case "ToolCallStart":
            out += `${deltaOpen}{"tool_calls":[{"index":${event.index},"id":${JSON.stringify(event.id)},"type":"function","function":{"name":${
              JSON.stringify(event.name)
            },"arguments":""}}]}${deltaClose}`
            break
          case "ToolCallDelta":
            if (event.arguments !== "") {
              out += `${deltaOpen}{"tool_calls":[{"index":${event.index},"function":{"arguments":${JSON.stringify(event.arguments)}}}]}${deltaClose}`
            }
            break
          case "Done":
            out += `${envelope}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finishReason(event.finishReason)}"}]${usageNull},"local_router":{"trace":${
              JSON.stringify(event.trace)
            }}}\n\n`
            if (includeUsage) out += `${envelope}],"usage":${JSON.stringify(usageOf(event.usage))}}\n\n`
            out += "data: [DONE]\n\n"
            break
        }
      }
      return out
    },
    failed: (error) => `data: ${JSON.stringify(OpenAiError.body(error))}\n\n`
  }
}

/** The route: the answer whole, or as SSE when the caller asks for a stream. */
export const handle: Handler.Handler = (ctx, request, started) =>
  Handler.routed(ctx, "openai", "openai_chat", request, started, (body, snapshot) =>
    Effect.flatMap(Effect.fromResult(decode(body, snapshot)), (decoded) => {
      const context = Handler.exchange(ctx, request, "openai", "openai_chat", started, decoded.model)
      return decoded.stream
        ? Exchange.stream(context, decoded.request, "text/event-stream", () => encoder(decoded.model, decoded.includeUsage))
        : Exchange.run(context, decoded.request, render(decoded.model))
    }))
