/**
 * `POST /v1/embeddings` as OpenAI defines it: `input` a string or an array of strings,
 * `encoding_format` `float` (the wire default) or `base64` (what the official SDKs ask for
 * by default, decoding it themselves), `dimensions` where the model can shorten its vectors.
 *
 * `model` echoes what the caller asked for (a category); the model that made the vectors is in
 * the `x-local-router-*` headers and in `local_router` (with the trace).
 */
import type { Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Embedding from "../Embedding.ts"
import * as Exchange from "../Exchange.ts"
import * as Handler from "../Handler.ts"

export interface Decoded {
  readonly model: string
  readonly base64: boolean
  readonly request: Router.EmbedInput
}

export const decode = (body: Record<string, unknown>, snapshot: Router.Snapshot): Result.Result<Decoded, ApiError.ApiError> => {
  const model = body.model
  if (typeof model !== "string" || model === "") return Result.fail(ApiError.invalid("model is required: an embed category or backend/model"))
  const input = Embedding.texts(body.input, "input")
  if (Result.isFailure(input)) return Result.fail(input.failure)
  if (input.success.length === 0) return Result.fail(ApiError.invalid("input must not be empty"))
  const empty = input.success.findIndex((text) => text === "")
  if (empty >= 0) return Result.fail(ApiError.invalid(`input[${empty}] is empty: every input must have text`))
  const format = body.encoding_format
  // Case-insensitive, as Ollama's /v1 reads it.
  const encoding = typeof format === "string" ? format.toLowerCase() : format
  if (encoding !== undefined && encoding !== null && encoding !== "float" && encoding !== "base64") {
    return Result.fail(ApiError.invalid(`Invalid value for 'encoding_format' = ${String(format)}. Supported values: ['float', 'base64'].`))
  }
  const dims = Embedding.dimensions(body.dimensions)
  if (Result.isFailure(dims)) return Result.fail(dims.failure)
  return Result.succeed({ model, base64: encoding === "base64", request: Embedding.request(snapshot, model, input.success, dims.success) })
}

export const render = (model: string, base64: boolean) => (answer: Router.Embedded): string => {
  const prompt = answer.usage.inputTokens ?? 0
  return JSON.stringify({
    object: "list",
    data: answer.vectors.map((vector, index) => ({ object: "embedding", index, embedding: base64 ? Embedding.base64(vector) : vector })),
    model,
    usage: { prompt_tokens: prompt, total_tokens: prompt },
    local_router: { backend: answer.backend, model: answer.model, trace: answer.trace }
  })
}

/** The route: the vectors of one model, whole. */
export const handle: Handler.Handler = (ctx, request, started) =>
  Handler.routed(ctx, "openai", "openai_embeddings", request, started, (body, snapshot) =>
    Effect.flatMap(Effect.fromResult(decode(body, snapshot)), (decoded) => {
      const context = Handler.exchange(ctx, request, "openai", "openai_embeddings", started, decoded.model)
      return Exchange.whole(context, ctx.router.embed(decoded.request), render(decoded.model, decoded.base64))
    }))
