/**
 * `POST /api/embed` and the older `POST /api/embeddings`, as Ollama defines them.
 *
 * - `/api/embed` takes `input` (a string or strings) and `dimensions`, and answers
 *   `embeddings` (one vector per input) with `prompt_eval_count` and a nanosecond
 *   `total_duration`. An absent or empty input is Ollama's "load the model" call, answered
 *   `embeddings: []` at once, since the router loads nothing ahead of time.
 * - `/api/embeddings` takes one `prompt` and answers one `embedding`; an empty prompt gives
 *   `embedding: []`, as on Ollama.
 */
import type { Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Embedding from "../Embedding.ts"
import * as Exchange from "../Exchange.ts"
import * as Handler from "../Handler.ts"

export type Kind = "embed" | "embeddings"

export interface Decoded {
  readonly model: string
  /** Nothing to embed: answer at once without routing. */
  readonly empty: boolean
  readonly request: Router.EmbedInput
}

export const decode = (kind: Kind, body: Record<string, unknown>, snapshot: Router.Snapshot): Result.Result<Decoded, ApiError.ApiError> => {
  const model = body.model
  if (typeof model !== "string" || model === "") return Result.fail(ApiError.invalid("model is required"))
  let input: ReadonlyArray<string>
  if (kind === "embeddings") {
    const prompt = body.prompt ?? ""
    if (typeof prompt !== "string") return Result.fail(ApiError.invalid("prompt must be a string"))
    input = prompt === "" ? [] : [prompt]
  } else if (body.input === undefined || body.input === null || body.input === "") {
    input = []
  } else {
    const read = Embedding.texts(body.input, "input")
    // Ollama's own words for token arrays and other types.
    if (Result.isFailure(read)) return Result.fail(ApiError.invalid(`invalid input type: ${read.failure.message}`))
    input = read.success
  }
  const dims = kind === "embed" ? Embedding.dimensions(body.dimensions) : Result.succeed(undefined)
  if (Result.isFailure(dims)) return Result.fail(dims.failure)
  return Result.succeed({ model, empty: input.length === 0, request: Embedding.request(snapshot, model, input, dims.success) })
}

export const render = (kind: Kind, model: string) => (answer: Router.Embedded): string =>
  kind === "embeddings"
    ? JSON.stringify({ embedding: answer.vectors[0] ?? [] })
    : JSON.stringify({
      model,
      embeddings: answer.vectors,
      ...(answer.trace.durationMs > 0 ? { total_duration: Math.round(answer.trace.durationMs * 1e6) } : {}),
      ...(answer.usage.inputTokens ? { prompt_eval_count: answer.usage.inputTokens } : {})
    })

export const empty = (kind: Kind, model: string): string =>
  kind === "embeddings" ? JSON.stringify({ embedding: [] }) : JSON.stringify({ model, embeddings: [] })

/** The route for `kind`: nothing to embed is answered at once, else one model's vectors, whole. */
export const handle = (kind: Kind): Handler.Handler => {
  const endpoint = `ollama_${kind}`
  return (ctx, request, started) =>
    Handler.routed(ctx, "ollama", endpoint, request, started, (body, snapshot) =>
      Effect.flatMap(Effect.fromResult(decode(kind, body, snapshot)), (decoded) => {
        if (decoded.empty) return Effect.succeed(Handler.json(empty(kind, decoded.model)))
        const context = Handler.exchange(ctx, request, "ollama", endpoint, started, decoded.model)
        return Exchange.whole(context, ctx.router.embed(decoded.request), render(kind, decoded.model))
      }))
}
