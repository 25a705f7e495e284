/**
 * `POST /v1/messages/count_tokens`: `{"input_tokens": n}` for a Messages body (without
 * `max_tokens`). Agents call it to decide when to compact a conversation, so an answer must
 * come; but no server behind the router counts without generating (Ollama and mlx_lm.server
 * have no tokenize-only endpoint for chat), and each category's candidates use different
 * tokenizers. So this is an estimate, and says so in `x-local-router-estimate`:
 *
 * - text (system, turns, thinking, tool results, tool call arguments, and the tools' names,
 *   descriptions and schemas as JSON): characters / 4, rounded up, the usual figure for
 *   English with BPE tokenizers;
 * - an image: width x height / 750, Anthropic's own published estimate, from the size its
 *   header declares (a fixed 1600 when the header cannot be read).
 */
import type { Backend, Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Handler from "../Handler.ts"
import * as ImageInput from "../ImageInput.ts"
import * as MessagesRequest from "./MessagesRequest.ts"

/** The response header that marks the count as an estimate, with the method. */
export const estimateHeader = "x-local-router-estimate"
export const method = "chars/4; images w*h/750"

const imageTokens = (image: Backend.Image): number => {
  const size = ImageInput.dimensions(image.data, image.mime)
  return size ? Math.ceil((size.width * size.height) / 750) : 1600
}

/** The estimate for a decoded conversation. */
export const estimate = (conversation: MessagesRequest.Conversation): number => {
  let chars = 0
  let images = 0
  for (const m of conversation.messages) {
    chars += m.content.length + (m.reasoning?.length ?? 0)
    for (const call of m.toolCalls ?? []) chars += call.name.length + call.arguments.length
    for (const image of m.images ?? []) images += imageTokens(image)
  }
  for (const tool of conversation.tools ?? []) {
    chars += JSON.stringify({ name: tool.name, description: tool.description ?? "", input_schema: tool.parameters }).length
  }
  if (conversation.responseFormat?._tag === "JsonSchema") chars += JSON.stringify(conversation.responseFormat.schema).length
  return Math.ceil(chars / 4) + images
}

/** A `model` the gateway does not know is a 404 here too, as the API answers for an unknown model. */
const knows = (snapshot: Router.Snapshot, model: string): boolean => {
  const slash = model.indexOf("/")
  if (slash > 0) return snapshot.config.backends[model.slice(0, slash)] !== undefined
  const name = model.endsWith(":latest") && snapshot.config.categories[model] === undefined ? model.slice(0, -":latest".length) : model
  return snapshot.config.categories[name] !== undefined
}

export const count = (
  body: Record<string, unknown>,
  snapshot: Router.Snapshot,
  known: ReadonlyArray<string>
): Result.Result<string, ApiError.ApiError> => {
  const decoded = MessagesRequest.conversation(body, undefined)
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
  const { model } = decoded.success
  if (!knows(snapshot, model)) {
    return Result.fail(new ApiError.ApiError({ reason: "UnknownModel", message: `model "${model}" not found: use a category (${known.join(", ")}) or backend/model`, known }))
  }
  return Result.succeed(JSON.stringify({ input_tokens: estimate(decoded.success) }))
}

/** The route: the estimate, marked as one. */
export const handle: Handler.Handler = (ctx, request, started) =>
  Handler.routed(ctx, "anthropic", "anthropic_count_tokens", request, started, (body, snapshot) =>
    Effect.flatMap(ctx.known, (names) =>
      Effect.map(Effect.fromResult(count(body, snapshot, names)), (counted) => {
        ctx.metrics.request("anthropic_count_tokens", 200, (performance.now() - started) / 1000, (performance.now() - started) / 1000)
        return HttpServerResponse.text(counted, {
          contentType: "application/json; charset=utf-8",
          headers: { [estimateHeader]: method }
        })
      })))
