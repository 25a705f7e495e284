/**
 * What a candidate can do, and what a request needs of it, as pure functions.
 *
 * A model's capabilities come from four places, each over the one before:
 *   1. its backend type's defaults (`Backend.capabilities`, what the definition's `make` gives);
 *   2. the backend entry's `capabilities:` in routing.yaml (for every model of that server);
 *   3. what the server reports for the model (`Backend.modelCapabilities`: Ollama's /api/show);
 *   4. the category's model entry's `capabilities:` (`{ model, capabilities }`).
 * The server's report beats the backend-wide declaration because it is about the one model;
 * the model entry beats everything because a person wrote it about that model.
 */
import type { Capabilities, GenerateRequest, Message, ModelCapabilities } from "./Backend.ts"

/** What the server said about one model, or why it could not say (the declarations are used then). */
export type Reported =
  | { readonly _tag: "Reported"; readonly capabilities: ModelCapabilities }
  | { readonly _tag: "Unknown"; readonly why: string }

/** The capabilities a model has, from its type's defaults, the backend's and the model's declarations, and the server's report. */
export const resolve = (
  defaults: Capabilities,
  backendDeclared: ModelCapabilities,
  reported: ModelCapabilities | undefined,
  modelDeclared: ModelCapabilities | undefined
): Capabilities => ({ ...defaults, ...backendDeclared, ...reported, ...modelDeclared })

/** What a request needs of a model beyond text. */
export interface Needs {
  readonly images: boolean
  readonly tools: boolean
  readonly jsonSchema: boolean
  readonly reasoning: boolean
}

export const none: Needs = { images: false, tools: false, jsonSchema: false, reasoning: false }

export const needsOf = (
  request: { readonly [K in "tools" | "toolChoice" | "responseFormat" | "reasoning"]?: GenerateRequest[K] | undefined },
  messages: ReadonlyArray<Message>
): Needs => ({
  images: messages.some((m) => (m.images?.length ?? 0) > 0),
  // Tools offered but forbidden (tool choice none) ask nothing of the model.
  tools: (request.tools?.length ?? 0) > 0 && request.toolChoice?._tag !== "None",
  jsonSchema: request.responseFormat !== undefined && request.responseFormat._tag !== "Text",
  reasoning: request.reasoning?._tag === "On"
})

/** Whether the request needs anything a model may lack (and so whether to ask servers what their models can do). */
export const needsAny = (needs: Needs): boolean => needs.images || needs.tools || needs.jsonSchema || needs.reasoning

/** Why a model cannot serve the request ("no tool support"), or undefined when it can. */
export const lacking = (capabilities: Capabilities, needs: Needs): string | undefined =>
  needs.images && !capabilities.images
    ? "no image input"
    : !needs.images && !capabilities.text
    ? capabilities.images ? "needs an image" : "no text input"
    : needs.tools && !capabilities.tools
    ? "no tool support"
    : needs.jsonSchema && !capabilities.jsonSchema
    ? "no JSON schema support"
    : needs.reasoning && !capabilities.reasoning
    ? "no reasoning support"
    : undefined
