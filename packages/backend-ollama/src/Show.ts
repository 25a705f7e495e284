/**
 * What one model can do, as Ollama says it: `POST /api/show` -> `capabilities` (protocols.md
 * Part 2 §A.5). The strings are Ollama's own (types/model/capability.go); the mapping to the
 * contract's capabilities is a table, and JSON Schema follows `completion`, because Ollama
 * applies `format` as a grammar to any model that generates text.
 */
import { type Backend, BackendError, HttpCall } from "@local-router/core"
import * as Effect from "effect/Effect"
import type { Target } from "./internal/Client.ts"
import * as Failure from "./internal/Failure.ts"

/**
 * A model's capabilities from its `capabilities` list. Every key is given (the list is the
 * whole truth for that model); an Ollama too old to send the list says nothing, and the
 * backend's own capabilities then hold.
 */
export const capabilitiesOf = (capabilities: unknown): Backend.ModelCapabilities => {
  if (!Array.isArray(capabilities)) return {}
  const has = (name: string) => capabilities.includes(name)
  return {
    text: has("completion"),
    images: has("vision"),
    tools: has("tools"),
    jsonSchema: has("completion"),
    reasoning: has("thinking"),
    embeddings: has("embedding")
  }
}

/** `/api/show` for a model, read for its capabilities. A 404 is ModelMissing. */
export const modelCapabilities = (
  target: Target,
  backend: string,
  model: string
): Effect.Effect<Backend.ModelCapabilities, BackendError.BackendError> =>
  HttpCall.json({ backend, model, method: "POST", url: `${target.host}/api/show`, headers: target.headers, body: { model } }).pipe(
    Effect.mapError(Failure.classify({ backend, model, action: "show" }, "open")),
    Effect.flatMap((json) =>
      typeof json === "object" && json !== null
        ? Effect.succeed(capabilitiesOf((json as { capabilities?: unknown }).capabilities))
        : Effect.fail(new BackendError.BackendError({ reason: "Upstream", backend, model, message: `${backend}: /api/show answered with something that is not an object` }))
    )
  )
