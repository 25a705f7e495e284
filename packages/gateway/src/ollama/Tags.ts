/**
 * Ollama's discovery routes: `GET /` (liveness text), `/api/version` and `/api/tags`, which
 * lists the categories then the pinned `backend/model` names as installed "models", so a UI
 * built for Ollama offers them in its model picker.
 */
import type { Router } from "@local-router/core"
import * as Catalog from "../Catalog.ts"

/** The Ollama API version these routes follow; clients compare it against their minimum. */
export const version = "0.6.8"

export const tags = (snapshot: Router.Snapshot, modifiedAt: string): string =>
  JSON.stringify({
    models: Catalog.entries(snapshot).map((entry) => ({
      name: entry.id,
      model: entry.id,
      modified_at: modifiedAt,
      size: 0,
      digest: "",
      details: {
        parent_model: "",
        format: "",
        family: entry.backend ?? "local-router",
        families: null,
        parameter_size: "",
        quantization_level: ""
      }
    }))
  })
