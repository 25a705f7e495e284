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

const card = (entry: Catalog.Listed, created: number) => ({
  id: entry.id,
  object: "model",
  created,
  owned_by: entry.backend ?? "local-router",
  capabilities: Catalog.wireCapabilities(entry.capabilities)
})

export const list = (router: Router.Router, snapshot: Router.Snapshot, created: number): Effect.Effect<string> =>
  Effect.map(Catalog.withCapabilities(router, snapshot), (entries) => JSON.stringify({ object: "list", data: entries.map((entry) => card(entry, created)) }))

export const one = (router: Router.Router, snapshot: Router.Snapshot, id: string, created: number): Effect.Effect<string | undefined> =>
  Effect.map(Catalog.entryWithCapabilities(router, snapshot, id), (entry) => entry && JSON.stringify(card(entry, created)))

/** `GET /v1/models`. */
export const handleList = (ctx: Handler.Context) => Handler.fromSnapshot(ctx, (snapshot) => list(ctx.router, snapshot, ctx.created))

/** `GET /v1/models/{id}`: a 404 for a name that is neither a category nor a pinned model. */
export const handleOne = (ctx: Handler.Context, id: string) => Handler.model(ctx, id, (snapshot) => one(ctx.router, snapshot, id, ctx.created))
