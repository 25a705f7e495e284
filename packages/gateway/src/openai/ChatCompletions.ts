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
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Catalog from "../Catalog.ts"
import * as ImageInput from "../ImageInput.ts"
import type { StreamEncoder } from "../Exchange.ts"
import * as OpenAiError from "./OpenAiError.ts"

export interface Decoded {
  readonly model: string
  readonly stream: boolean
  readonly includeUsage: boolean
  readonly request: Router.Request
}

const roles: Record<string, Backend.Message["role"]> = { system: "system", developer: "system", user: "user", assistant: "assistant" }

const message = (raw: unknown, i: number): Result.Result<Backend.Message, ApiError.ApiError> => {
  if (typeof raw !== "object" || raw === null) return Result.fail(ApiError.invalid(`messages[${i}] must be an object`))
  const { content, role } = raw as { role?: unknown; content?: unknown }
  const mapped = typeof role === "string" ? roles[role] : undefined
  if (mapped === undefined) {
    return Result.fail(ApiError.invalid(`messages[${i}].role must be one of system, developer, user, assistant (tools are not supported)`))
  }
  if (typeof content === "string") return Result.succeed({ role: mapped, content })
  if (content === null || content === undefined) return Result.succeed({ role: mapped, content: "" })
  if (!Array.isArray(content)) return Result.fail(ApiError.invalid(`messages[${i}].content must be a string or an array of parts`))
  let text = ""
  const images: Array<Backend.Image> = []
  for (let j = 0; j < content.length; j++) {
    const part = content[j] as { type?: unknown; text?: unknown; image_url?: unknown } | null
    if (part?.type === "text" && typeof part.text === "string") {
      text = text === "" ? part.text : `${text}\n${part.text}`
    } else if (part?.type === "image_url") {
      const ref = part.image_url as { url?: unknown } | string | undefined
      const url = typeof ref === "string" ? ref : ref?.url
      if (typeof url !== "string") return Result.fail(ApiError.invalid(`messages[${i}].content[${j}].image_url.url must be a string`))
      const image = ImageInput.fromUrl(url)
      if (Result.isFailure(image)) return Result.fail(ApiError.invalid(`messages[${i}].content[${j}]: ${image.failure}`))
      images.push(image.success)
    } else {
      return Result.fail(ApiError.invalid(`messages[${i}].content[${j}]: unsupported part type ${JSON.stringify(part?.type)} (text and image_url are supported)`))
    }
  }
  return Result.succeed(images.length > 0 ? { role: mapped, content: text, images } : { role: mapped, content: text })
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
  // Refused rather than ignored: a caller relying on tools or a JSON format must not get plain prose silently.
  if (Array.isArray(body.tools) && body.tools.length > 0) return Result.fail(ApiError.invalid("tools are not supported by local-router"))
  const format = (body.response_format as { type?: unknown } | null | undefined)?.type
  if (format !== undefined && format !== "text") {
    return Result.fail(ApiError.invalid(`response_format ${JSON.stringify(format)} is not supported by local-router (only "text")`))
  }
  const messages: Array<Backend.Message> = []
  for (let i = 0; i < raw.length; i++) {
    const m = message(raw[i], i)
    if (Result.isFailure(m)) return Result.fail(m.failure)
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
    request: { ...target, messages, options: opts.success }
  })
}

const finishReason = (reason: Backend.FinishReason) => (reason === "length" ? "length" : "stop")

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

export const render = (model: string) => (answer: Router.Answer): string =>
  JSON.stringify({
    id: newId(),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: null,
    choices: [{
      index: 0,
      message: { role: "assistant", content: answer.text, refusal: null },
      logprobs: null,
      finish_reason: finishReason(answer.finishReason)
    }],
    usage: usageOf(answer.usage),
    local_router: { trace: answer.trace }
  })

/**
 * Every chunk shares its envelope; only the delta and finish reason change. The envelope is
 * written once per stream so a token costs one JSON string escape and a concatenation.
 */
export const encoder = (model: string, includeUsage: boolean): StreamEncoder => {
  const id = newId()
  const created = Math.floor(Date.now() / 1000)
  const envelope = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":[`
  const usageNull = includeUsage ? `,"usage":null` : ""
  const contentOpen = `${envelope}{"index":0,"delta":{"content":`
  const contentClose = `},"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`
  let started = false
  return {
    events: (events) => {
      let out = ""
      if (!started) {
        started = true
        out = `${envelope}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`
      }
      for (const event of Chunk.toReadonlyArray(events)) {
        if (event._tag === "TextDelta") {
          out += contentOpen + JSON.stringify(event.text) + contentClose
        } else if (event._tag === "Done") {
          out += `${envelope}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finishReason(event.finishReason)}"}]${usageNull},"local_router":{"trace":${JSON.stringify(event.trace)}}}\n\n`
          if (includeUsage) out += `${envelope}],"usage":${JSON.stringify(usageOf(event.usage))}}\n\n`
          out += "data: [DONE]\n\n"
        }
      }
      return out
    },
    failed: (error) => `data: ${JSON.stringify(OpenAiError.body(error))}\n\n`
  }
}
