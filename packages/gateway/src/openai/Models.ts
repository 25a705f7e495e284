/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the categories first, then every pinned
 * `backend/model`. `owned_by` says which: `local-router` for a category, the backend's name
 * for a pinned model. `capabilities` (an extra key SDKs ignore) says what each can do: for a
 * category, what any of its backends can, since the router falls back to the one that can.
 */
import type { Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Catalog from "../Catalog.ts"
import * as Handler from "../Handler.ts"

const card = (entry: Catalog.Entry & { readonly capabilities: Catalog.Capabilities }, created: number) => ({
  id: entry.id,
  object: "model",
  created,
  owned_by: entry.backend ?? "local-router",
  capabilities: {
    text: entry.capabilities.text,
    images: entry.capabilities.images,
    tools: entry.capabilities.tools,
    json_schema: entry.capabilities.jsonSchema,
    reasoning: entry.capabilities.reasoning,
    embeddings: entry.capabilities.embeddings
  }
})

export const list = (router: Router.Router, snapshot: Router.Snapshot, created: number): Effect.Effect<string> =>
  Effect.map(Catalog.withCapabilities(router, snapshot), (entries) => JSON.stringify({ object: "list", data: entries.map((entry) => card(entry, created)) }))

export const one = (router: Router.Router, snapshot: Router.Snapshot, id: string, created: number): Effect.Effect<string | undefined> => {
  const entry = Catalog.entries(snapshot).find((e) => e.id === id)
  if (!entry) return Effect.succeed(undefined)
  return Effect.map(Catalog.capabilities(router, snapshot, id), (caps) => caps && JSON.stringify(card({ ...entry, capabilities: caps }, created)))
}

/** `GET /v1/models`. */
export const handleList = (ctx: Handler.Context) => Handler.fromSnapshot(ctx, (snapshot) => list(ctx.router, snapshot, ctx.created))

/** `GET /v1/models/{id}`: a 404 for a name that is neither a category nor a pinned model. */
export const handleOne = (ctx: Handler.Context, id: string) => Handler.model(ctx, id, (snapshot) => one(ctx.router, snapshot, id, ctx.created))
