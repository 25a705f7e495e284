/**
 * What one cloud model can do, where the provider can be asked or its documentation says it.
 *
 * - OpenRouter lists every model with `supported_parameters` and `architecture.input_modalities`
 *   (`GET /api/v1/models`): `tools`, `structured_outputs`, `reasoning` / `include_reasoning`,
 *   `image` input. That is the provider's own word for each model, so it is what is reported.
 * - OpenAI's model list says nothing about capabilities. Only reasoning is decided here, by the
 *   model families OpenAI documents as reasoning models (o1, o3, o4, gpt-5, codex): sending
 *   `reasoning_effort` to gpt-4o is a 400 that would stop the route instead of skipping the
 *   model. Embedding models (`text-embedding-*`) embed and do not chat. Anything else keeps the
 *   backend's declarations (and routing.yaml's per-model ones win over all of this).
 * - Anthropic has no capability list either; its declarations stand.
 */
import type { Backend } from "@local-router/core"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

/** OpenAI's reasoning families: o1, o3, o4-mini, gpt-5 (and its minis), codex-mini. */
const OPENAI_REASONING = /^(o\d+(-|$)|gpt-5|codex-)/

export const openAi = (model: string): Backend.ModelCapabilities => {
  if (/^text-embedding-/.test(model)) return { text: false, images: false, tools: false, jsonSchema: false, reasoning: false, embeddings: true }
  return { reasoning: OPENAI_REASONING.test(model), embeddings: false }
}

/** One entry of OpenRouter's model list -> what it says the model supports; {} when it says nothing. */
export const openRouter = (entry: unknown): Backend.ModelCapabilities => {
  if (!isRecord(entry)) return {}
  const parameters = entry["supported_parameters"]
  const architecture = entry["architecture"]
  const inputs = isRecord(architecture) ? architecture["input_modalities"] : undefined
  const has = (name: string) => Array.isArray(parameters) && parameters.includes(name)
  return {
    ...(Array.isArray(parameters)
      ? { tools: has("tools"), jsonSchema: has("structured_outputs"), reasoning: has("reasoning") || has("include_reasoning") }
      : {}),
    ...(Array.isArray(inputs) ? { images: inputs.includes("image") } : {})
  }
}
