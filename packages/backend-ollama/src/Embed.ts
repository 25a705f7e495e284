/**
 * `POST /api/embed` (protocols.md Part 2 §A.4): a batch of strings in, one L2-normalised vector
 * each, in order. `dimensions` cuts each vector to its prefix and normalises it again (the
 * server does it); `truncate: false` (from routing.yaml's `extra`) makes an over-long input a
 * 400 instead of a silently shortened one. The legacy `/api/embeddings` is not used: it takes
 * one prompt and its vectors are not normalised.
 */
import { type Backend, BackendError, HttpCall } from "@local-router/core"
import * as Effect from "effect/Effect"
import type { Target } from "./internal/Client.ts"
import * as Failure from "./internal/Failure.ts"

/** The `/api/embed` body. `truncate` and `keep_alive` come from the request's `extra` when given. */
export const body = (request: Backend.EmbedRequest, keepAlive: string | number | undefined): Record<string, unknown> => {
  const extra = request.extra ?? {}
  const truncate = extra["truncate"]
  const hint = extra["keepAlive"] ?? extra["keep_alive"]
  const keep = typeof hint === "string" || typeof hint === "number" ? hint : keepAlive
  return {
    model: request.model,
    input: [...request.input],
    ...(request.dimensions === undefined ? {} : { dimensions: request.dimensions }),
    ...(typeof truncate === "boolean" ? { truncate } : {}),
    ...(keep === undefined ? {} : { keep_alive: keep })
  }
}

/** `{"model","embeddings":[[…]],"prompt_eval_count"}` -> the result, or what is wrong with it. */
export const resultOf = (backend: string, request: Backend.EmbedRequest, json: unknown): Backend.EmbedResult | string => {
  const answer = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : undefined
  const embeddings = answer?.["embeddings"]
  if (!Array.isArray(embeddings)) return `${backend}: /api/embed answered without "embeddings": ${JSON.stringify(json).slice(0, HttpCall.maxErrorText)}`
  if (embeddings.length !== request.input.length) {
    return `${backend}: /api/embed answered ${embeddings.length} vector(s) for ${request.input.length} input(s)`
  }
  const bad = embeddings.findIndex((v) => !Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isFinite(x)))
  if (bad >= 0) return `${backend}: /api/embed vector ${bad} is not a list of numbers`
  const tokens = answer?.["prompt_eval_count"]
  const model = answer?.["model"]
  return {
    model: typeof model === "string" && model !== "" ? model : request.model,
    vectors: embeddings as ReadonlyArray<ReadonlyArray<number>>,
    ...(typeof tokens === "number" ? { usage: { inputTokens: tokens } } : {})
  }
}

export const embed = (
  target: Target,
  backend: string,
  request: Backend.EmbedRequest,
  keepAlive: string | number | undefined
): Effect.Effect<Backend.EmbedResult, BackendError.BackendError> => {
  const where: Failure.Where = { backend, model: request.model, action: "embed" }
  const bad = (message: string) => Effect.fail(new BackendError.BackendError({ reason: "BadRequest", backend, model: request.model, message: `${backend}: ${message}` }))
  // Ollama loads the model and answers no vectors for an empty input: nothing to embed is the caller's mistake.
  if (request.input.length === 0) return bad("the embedding request has no input")
  if (request.dimensions !== undefined && !(Number.isInteger(request.dimensions) && request.dimensions > 0)) {
    return bad(`dimensions must be a positive integer (got ${request.dimensions})`)
  }
  return HttpCall.json({
    backend,
    model: request.model,
    method: "POST",
    url: `${target.host}/api/embed`,
    headers: target.headers,
    body: body(request, keepAlive)
  }).pipe(
    Effect.mapError(Failure.classify(where, "open")),
    Effect.flatMap((json) => {
      const result = resultOf(backend, request, json)
      return typeof result === "string"
        ? Effect.fail(new BackendError.BackendError({ reason: "Upstream", backend, model: request.model, message: result }))
        : Effect.succeed(result)
    })
  )
}
