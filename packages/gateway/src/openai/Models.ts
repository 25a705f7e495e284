/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the categories first, then every pinned
 * `backend/model`. `owned_by` says which: `local-router` for a category, the backend's name
 * for a pinned model.
 */
import type { Router } from "@local-router/core"
import * as Catalog from "../Catalog.ts"

const card = (entry: Catalog.Entry, created: number) => ({
  id: entry.id,
  object: "model",
  created,
  owned_by: entry.backend ?? "local-router"
})

export const list = (snapshot: Router.Snapshot, created: number): string =>
  JSON.stringify({ object: "list", data: Catalog.entries(snapshot).map((entry) => card(entry, created)) })

export const one = (snapshot: Router.Snapshot, id: string, created: number): string | undefined => {
  const entry = Catalog.entries(snapshot).find((e) => e.id === id)
  return entry ? JSON.stringify(card(entry, created)) : undefined
}
