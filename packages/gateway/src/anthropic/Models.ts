/**
 * `GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape, for a caller that sends
 * `anthropic-version` (every Anthropic SDK does; OpenAI's never does, so the header tells the
 * two apart on the one path): `{data: [{type: "model", id, display_name, created_at, ...}],
 * has_more, first_id, last_id}`, the categories first, then every pinned `backend/model`.
 *
 * Anthropic's `capabilities` object describes Claude's features (batch, citations, server
 * tools, context management...), most of which mean nothing for a local model, so it is
 * null; what each name can do is under `local_router.capabilities`, as `/v1/models` gives
 * OpenAI clients. Limits (`max_input_tokens`, `max_tokens`) are null: the servers behind do not
 * report them.
 */
import type { Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Catalog from "../Catalog.ts"
import * as Handler from "../Handler.ts"
import * as AnthropicError from "./AnthropicError.ts"

/** Whether a request to the shared models path came from an Anthropic client. */
export const wanted = (headers: Readonly<Record<string, string | undefined>>): boolean => headers["anthropic-version"] !== undefined

const card = (entry: Catalog.Listed, createdAt: string) => ({
  type: "model",
  id: entry.id,
  display_name: entry.backend === undefined ? `${entry.id} (local-router category)` : entry.id,
  created_at: createdAt,
  capabilities: null,
  deprecated_at: null,
  lifecycle: "active",
  max_input_tokens: null,
  max_tokens: null,
  local_router: {
    owned_by: entry.backend ?? "local-router",
    ...(entry.description === undefined ? {} : { description: entry.description }),
    capabilities: Catalog.wireCapabilities(entry.capabilities)
  }
})

export const list = (router: Router.Router, snapshot: Router.Snapshot, createdAt: string): Effect.Effect<string> =>
  Effect.map(Catalog.withCapabilities(router, snapshot), (entries) =>
    JSON.stringify({
      data: entries.map((entry) => card(entry, createdAt)),
      has_more: false,
      first_id: entries[0]?.id ?? null,
      last_id: entries.at(-1)?.id ?? null
    }))

export const one = (router: Router.Router, snapshot: Router.Snapshot, id: string, createdAt: string): Effect.Effect<string | undefined> =>
  Effect.map(Catalog.entryWithCapabilities(router, snapshot, id), (entry) => entry && JSON.stringify(card(entry, createdAt)))

/** `GET /v1/models` for an Anthropic client. */
export const handleList = (ctx: Handler.Context) => Handler.fromSnapshot(ctx, (snapshot) => list(ctx.router, snapshot, ctx.modifiedAt))

/** `GET /v1/models/{id}` for an Anthropic client. The path's dialect is OpenAI's; this caller's 404 is in its own shape. */
export const handleOne = (ctx: Handler.Context, id: string) =>
  Effect.catch(
    Handler.model(ctx, id, (snapshot) => one(ctx.router, snapshot, id, ctx.modifiedAt)),
    (error) => Effect.succeed(AnthropicError.response(error))
  )
