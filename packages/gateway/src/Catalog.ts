/**
 * What the gateway offers as "models": the categories of the running routing.yaml, then every
 * `backend/model` it names (to pin one backend). A `model` field is resolved against it.
 *
 * Category names cannot contain `/`, so a slash always means a pin; the model part keeps any
 * further slashes (`mlx/mlx-community/Qwen2.5-Coder-32B-Instruct-4bit`). Ollama clients append
 * `:latest` to bare names, so `fast:latest` is the category `fast`.
 */
import type { Backend, Router } from "@local-router/core"
import * as Effect from "effect/Effect"

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

/** What a model name can do, as the gateway advertises it. */
export type Capabilities = Required<Backend.ModelCapabilities>

const none: Capabilities = { text: false, images: false, tools: false, jsonSchema: false, reasoning: false, embeddings: false }

/**
 * How long the servers' own reports (Ollama's /api/show, which the router asks and remembers)
 * may take before a listing goes on without them: a model list must not hang on a server
 * that is down. Those models then count as able to do nothing more than the listing knew.
 */
const reportTimeout = "2 seconds"

/**
 * What a category (or `backend/model`) can do, as the router reads it: for a category, what
 * any of its candidates can (the router falls back to the one that can); an `embed` category
 * makes vectors and nothing else, and a chat category makes none. Undefined for a name the catalog does not have.
 */
export const capabilities = (router: Router.Router, snapshot: Router.Snapshot, id: string): Effect.Effect<Capabilities | undefined> => {
  const target = resolve(snapshot, id)
  const known = target.pin ? snapshot.config.backends[target.pin.backend] !== undefined : snapshot.config.categories[target.category] !== undefined
  if (!known) return Effect.succeed(undefined)
  const input = target.category === undefined ? undefined : snapshot.config.categories[target.category]?.input
  return router.capabilities(target).pipe(
    Effect.timeoutOption(reportTimeout),
    Effect.map((found): Capabilities => {
      if (found._tag === "None") return none
      const { embeddings, images, jsonSchema, reasoning, text, tools } = found.value.any
      // A category is for chat or for vectors, as its input says; a pinned model may be either.
      return input === "embed"
        ? { ...none, embeddings }
        : { text, images, tools, jsonSchema, reasoning, embeddings: input === undefined && embeddings }
    }),
    Effect.orElseSucceed(() => none)
  )
}

/** A catalog entry with what it can do. */
export type Listed = Entry & { readonly capabilities: Capabilities }

/** Capabilities of every catalog entry, in catalog order. */
export const withCapabilities = (
  router: Router.Router,
  snapshot: Router.Snapshot
): Effect.Effect<ReadonlyArray<Listed>> =>
  Effect.all(
    entries(snapshot).map((entry) => Effect.map(capabilities(router, snapshot, entry.id), (caps) => ({ ...entry, capabilities: caps ?? none }))),
    { concurrency: "unbounded" }
  )

/** One catalog entry with its capabilities; undefined for a name the catalog does not list. */
export const entryWithCapabilities = (
  router: Router.Router,
  snapshot: Router.Snapshot,
  id: string
): Effect.Effect<Listed | undefined> => {
  const entry = entries(snapshot).find((e) => e.id === id)
  if (!entry) return Effect.succeed(undefined)
  return Effect.map(capabilities(router, snapshot, id), (caps) => caps && { ...entry, capabilities: caps })
}

/** Capabilities as the model lists put them on the wire (`json_schema` in snake case), for OpenAI and Anthropic clients alike. */
export const wireCapabilities = (caps: Capabilities) => ({
  text: caps.text,
  images: caps.images,
  tools: caps.tools,
  json_schema: caps.jsonSchema,
  reasoning: caps.reasoning,
  embeddings: caps.embeddings
})
