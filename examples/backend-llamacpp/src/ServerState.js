// @ts-check
/**
 * What a llama-server says about itself, read without spending a token:
 *
 *   GET /health     200 {"status":"ok"}, or 503 "Loading model" while the model loads (the
 *                   port is bound first, so a 503 is a live server that is not ready yet)
 *   GET /v1/models  the one model it runs: the -m path, or --alias
 *   GET /props      the model file and the context size of each slot
 *   GET /slots      each slot and whether it is generating (absent on builds without --slots)
 *
 * /props and /slots may need the API key and may be switched off; their absence never makes
 * a ready server look unready, it only leaves those facts unknown.
 */
import { BackendError, HttpCall, OpenAiChat } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"

/**
 * @typedef {object} Target
 * @property {string} backend   the backend's name from routing.yaml, for errors
 * @property {string} origin    `http://host:port`, without `/v1`
 * @property {OpenAiChat.Client} client
 */

/**
 * @typedef {object} Slots
 * @property {number} total
 * @property {number} processing
 */

/**
 * @typedef {object} Ready
 * @property {"Ready"} _tag
 * @property {string} model               what /v1/models lists (the -m path or the alias)
 * @property {string | undefined} modelPath  the GGUF file, from /props
 * @property {number | undefined} contextSize  tokens of context per slot, from /props
 * @property {Slots | undefined} slots
 */

/** @typedef {{ readonly _tag: "Loading", readonly detail: string } | Ready} State */

/** @param {unknown} u @returns {u is Record<string, unknown>} */
const isRecord = (u) => typeof u === "object" && u !== null

/**
 * The server's state; a failure means it is unreachable or answers errors (not loading).
 * @param {Target} target
 * @returns {Effect.Effect<State, BackendError.BackendError>}
 */
export const read = (target) =>
  Effect.gen(function*() {
    const headers = target.client.headers ?? {}
    const health = yield* Effect.result(HttpCall.json({ backend: target.backend, url: `${target.origin}/health`, headers }))
    if (Result.isFailure(health)) {
      if (health.failure.status === 503) return /** @type {State} */ ({ _tag: "Loading", detail: `${target.backend} is loading its model (${health.failure.message})` })
      return yield* health.failure
    }
    const listed = yield* OpenAiChat.models(target.client)
    const model = listed[0]
    if (model === undefined) return yield* new BackendError.BackendError({ reason: "Upstream", backend: target.backend, message: `${target.backend}: /v1/models lists no model` })
    // Optional facts: an old build, a key-protected /props or a server without --slots is still ready.
    const props = yield* Effect.option(HttpCall.json({ backend: target.backend, url: `${target.origin}/props`, headers }))
    const slots = yield* Effect.option(HttpCall.json({ backend: target.backend, url: `${target.origin}/slots`, headers }))
    return /** @type {State} */ ({ _tag: "Ready", model, ...propsOf(props._tag === "Some" ? props.value : undefined), slots: slotsOf(slots._tag === "Some" ? slots.value : undefined) })
  })

/** @param {unknown} props @returns {{ modelPath: string | undefined, contextSize: number | undefined }} */
export const propsOf = (props) => {
  if (!isRecord(props)) return { modelPath: undefined, contextSize: undefined }
  const settings = props["default_generation_settings"]
  const nCtx = isRecord(settings) ? settings["n_ctx"] : undefined
  return {
    modelPath: typeof props["model_path"] === "string" ? props["model_path"] : undefined,
    contextSize: typeof nCtx === "number" ? nCtx : undefined
  }
}

/** @param {unknown} slots @returns {Slots | undefined} */
export const slotsOf = (slots) => {
  if (!Array.isArray(slots)) return undefined
  return { total: slots.length, processing: slots.filter((s) => isRecord(s) && s["is_processing"] === true).length }
}

/**
 * What the running model can do, as /props says (protocols.md Part 2 §C.6). Only what it says:
 * a /props that cannot be read gives nothing, and the backend's own capabilities hold.
 * @param {Target} target
 * @returns {Effect.Effect<import("@local-router/core").Backend.ModelCapabilities>}
 */
export const capabilitiesOf = (target) =>
  Effect.map(
    Effect.option(HttpCall.json({ backend: target.backend, url: `${target.origin}/props`, headers: target.client.headers ?? {} })),
    (props) => propsCapabilities(props._tag === "Some" ? props.value : undefined)
  )

/** @param {unknown} props @returns {import("@local-router/core").Backend.ModelCapabilities} */
export const propsCapabilities = (props) => {
  if (!isRecord(props)) return {}
  const modalities = props["modalities"]
  const caps = props["chat_template_caps"]
  const vision = isRecord(modalities) ? modalities["vision"] : undefined
  const tools = isRecord(caps) ? caps["supports_tools"] : undefined
  return {
    ...(typeof vision === "boolean" ? { images: vision } : {}),
    ...(typeof tools === "boolean" ? { tools } : {})
  }
}
