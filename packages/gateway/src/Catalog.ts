/**
 * What the gateway offers as "models": the categories of the running routing.yaml, then every
 * `backend/model` it names (to pin one backend). A `model` field is resolved against it.
 *
 * Category names cannot contain `/`, so a slash always means a pin; the model part keeps any
 * further slashes (`mlx/mlx-community/Qwen2.5-Coder-32B-Instruct-4bit`). Ollama clients append
 * `:latest` to bare names, so `fast:latest` is the category `fast`.
 */
import type { Router } from "@local-router/core"

export interface Entry {
  readonly id: string
  /** The backend, for a pinned name; undefined for a category. */
  readonly backend: string | undefined
  readonly description: string | undefined
}

export type Target =
  | { readonly category: string; readonly pin?: undefined }
  | { readonly category?: undefined; readonly pin: { readonly backend: string; readonly model: string } }

/** Categories first (in routing.yaml order), then pinned names of enabled backends. */
export const entries = (snapshot: Router.Snapshot): ReadonlyArray<Entry> => {
  const { config } = snapshot
  const categories = Object.values(config.categories).map((c): Entry => ({ id: c.name, backend: undefined, description: c.description }))
  const seen = new Set<string>()
  const pinned: Array<Entry> = []
  for (const category of Object.values(config.categories)) {
    for (const [backend, model] of Object.entries(category.models)) {
      const id = `${backend}/${model}`
      if (seen.has(id) || !config.backends[backend]?.enabled) continue
      seen.add(id)
      pinned.push({ id, backend, description: undefined })
    }
  }
  return [...categories, ...pinned]
}

export const categories = (snapshot: Router.Snapshot): ReadonlyArray<string> => Object.keys(snapshot.config.categories)

export const resolve = (snapshot: Router.Snapshot, model: string): Target => {
  const slash = model.indexOf("/")
  if (slash > 0) return { pin: { backend: model.slice(0, slash), model: model.slice(slash + 1) } }
  if (model.endsWith(":latest") && snapshot.config.categories[model] === undefined) {
    return { category: model.slice(0, -":latest".length) }
  }
  return { category: model }
}
