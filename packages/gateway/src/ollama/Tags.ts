/**
 * Ollama's discovery routes: `GET /` (liveness text), `/api/version`, `/api/tags`, which
 * lists the categories then the pinned `backend/model` names as installed "models" (so a UI
 * built for Ollama offers them in its model picker), and `/api/show`, which the ollama CLI and
 * Open WebUI ask before they chat. Both say what each name can do in Ollama's words
 * (`completion`, `vision`, `tools`, `thinking`, `embedding`), as current Ollama does.
 */
import type { Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as ApiError from "../ApiError.ts"
import * as Catalog from "../Catalog.ts"
import * as Handler from "../Handler.ts"

/**
 * The Ollama API version these routes follow; clients compare it against their minimum. One
 * with tools, schema `format`, `think` and `/api/embed` (all there since 0.9), so a client that
 * gates those features on the version offers them.
 */
export const version = "0.12.6"

/** Ollama's capability names for what a name can do (JSON schema output has none: every Ollama model takes `format`). */
export const ollamaCapabilities = (caps: Catalog.Capabilities): ReadonlyArray<string> => [
  ...(caps.text ? ["completion"] : []),
  ...(caps.tools ? ["tools"] : []),
  ...(caps.reasoning ? ["thinking"] : []),
  ...(caps.images ? ["vision"] : []),
  ...(caps.embeddings ? ["embedding"] : [])
]

const details = (entry: Catalog.Entry) => ({
  parent_model: "",
  format: "",
  family: entry.backend ?? "local-router",
  families: null,
  parameter_size: "",
  quantization_level: ""
})

export const tags = (router: Router.Router, snapshot: Router.Snapshot, modifiedAt: string): Effect.Effect<string> =>
  Effect.map(Catalog.withCapabilities(router, snapshot), (entries) =>
    JSON.stringify({
      models: entries.map((entry) => ({
        name: entry.id,
        model: entry.id,
        modified_at: modifiedAt,
        size: 0,
        digest: "",
        details: details(entry),
        capabilities: ollamaCapabilities(entry.capabilities)
      }))
    }))

/**
 * `/api/show` for a category or `backend/model`, in Ollama's ShowResponse shape. There is no
 * Modelfile or template to show (the servers behind hold those); `model_info` says which
 * backends a category routes to.
 */
export const show = (router: Router.Router, snapshot: Router.Snapshot, id: string, modifiedAt: string): Effect.Effect<string | undefined> => {
  const target = Catalog.resolve(snapshot, id)
  const name = target.category ?? id
  const entry: Catalog.Entry = Catalog.entries(snapshot).find((e) => e.id === name) ??
    { id: name, backend: target.pin?.backend, description: undefined }
  const category = target.category === undefined ? undefined : snapshot.config.categories[target.category]
  return Effect.map(Catalog.capabilities(router, snapshot, name), (caps) =>
    caps && JSON.stringify({
      license: "",
      modelfile: "",
      parameters: "",
      template: "",
      details: details(entry),
      model_info: {
        "general.architecture": entry.backend ?? "local-router",
        ...(category
          ? { "local_router.category": category.name, "local_router.input": category.input, "local_router.backends": category.priority.filter((b) => category.models[b] !== undefined).map((b) => `${b}/${category.models[b]}`) }
          : {})
      },
      capabilities: ollamaCapabilities(caps),
      modified_at: modifiedAt
    }))
}

const versionBody = JSON.stringify({ version })

/** `GET /api/version`. */
export const handleVersion = () => Effect.succeed(Handler.json(versionBody))

/** `GET /api/tags`. */
export const handleTags = (ctx: Handler.Context) => Handler.fromSnapshot(ctx, (snapshot) => tags(ctx.router, snapshot, ctx.modifiedAt))

/** `GET /api/ps`: empty, since the servers behind the router load models, not the gateway (/status says more). */
export const handlePs = () => Effect.succeed(Handler.json(`{"models":[]}`))

/** `POST /api/show`: `name` is what older clients send for `model`; an unknown name is a 404 listing the categories. */
export const handleShow: Handler.Handler = (ctx, request, started) =>
  Handler.routed(ctx, "ollama", "ollama_show", request, started, (body, snapshot) => {
    const id = typeof body.model === "string" && body.model !== "" ? body.model : body.name
    if (typeof id !== "string" || id === "") return Effect.fail(ApiError.invalid("model is required"))
    return Effect.flatMap(show(ctx.router, snapshot, id, ctx.modifiedAt), (answer) =>
      answer === undefined
        ? Effect.flatMap(ctx.known, (list) =>
          Effect.fail(new ApiError.ApiError({ reason: "UnknownModel", message: `model "${id}" not found: use a category (${list.join(", ")}) or backend/model`, known: list })))
        : Effect.succeed(Handler.json(answer)))
  })
