/**
 * What every dialect's embeddings route shares: the input read into a list of texts, and the
 * routed request. The vectors come from one model; which one is in the answer (and so in the
 * `x-local-router-backend` / `-model` headers), since vectors from another model would not
 * match an index built with the first.
 */
import type { Router } from "@local-router/core"
import * as Result from "effect/Result"
import * as ApiError from "./ApiError.ts"
import * as Catalog from "./Catalog.ts"

/**
 * A string or an array of strings. Token-id arrays (OpenAI's other forms) are refused: the
 * servers behind take text, and token ids from one tokenizer mean nothing to another model.
 */
export const texts = (raw: unknown, at: string): Result.Result<ReadonlyArray<string>, ApiError.ApiError> => {
  if (typeof raw === "string") return Result.succeed([raw])
  if (Array.isArray(raw) && raw.every((item) => typeof item === "string")) return Result.succeed(raw as ReadonlyArray<string>)
  if (Array.isArray(raw) && raw.every((item) => typeof item === "number" || Array.isArray(item))) {
    return Result.fail(ApiError.invalid(`${at} as token ids is not supported by local-router: send the text (a string or an array of strings)`))
  }
  return Result.fail(ApiError.invalid(`${at} must be a string or an array of strings`))
}

/** More dimensions than any embedding model makes (the largest are a few thousand). */
const maxDimensions = 65_536

/** `dimensions`: a positive whole number no larger than any model makes, or absent. */
export const dimensions = (raw: unknown): Result.Result<number | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  return typeof raw === "number" && Number.isInteger(raw) && raw > 0 && raw <= maxDimensions
    ? Result.succeed(raw)
    : Result.fail(ApiError.invalid(`dimensions must be a whole number from 1 to ${maxDimensions} (got ${JSON.stringify(raw)})`))
}

/** The router's embed request for a category or `backend/model`. */
export const request = (snapshot: Router.Snapshot, model: string, input: ReadonlyArray<string>, dims: number | undefined): Router.EmbedInput => ({
  ...Catalog.resolve(snapshot, model),
  input,
  ...(dims === undefined ? {} : { dimensions: dims })
})

/** Vectors as OpenAI's `encoding_format: "base64"` sends them: little-endian float32, standard base64. */
export const base64 = (vector: ReadonlyArray<number>): string => {
  const bytes = Buffer.allocUnsafe(vector.length * 4)
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4)
  return bytes.toString("base64")
}
