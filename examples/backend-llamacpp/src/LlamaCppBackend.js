// @ts-check
/**
 * The llama.cpp backend: llama.cpp's `llama-server`, through core's OpenAI-compatible chat
 * client for the wire, plus what the generic OpenAI-compatible path cannot know:
 *
 * - Loading is busy, not dead. llama-server binds its port before it loads the model and
 *   answers 503 "Loading model" meanwhile: the probe says Busy, and a request in that window
 *   fails Overloaded (the router falls back and does not call the server dead).
 * - One model per process, and any `model` name is accepted and echoed. A request naming a
 *   model this server does not run would be answered by the wrong model without a word, so the
 *   name is checked against what the server lists first (ModelMissing otherwise).
 * - `/props` (model file, context per slot) and `/slots` (how many are generating) feed the
 *   probe: every slot busy is Busy (requests queue), not Ready.
 * - An error inside a stream (`error: {…}` before `[DONE]`) fails the answer; it never ends
 *   it as an empty success. core's OpenAiChat reads that line.
 * - How the supervisor starts it: `llama-server -m <gguf> --host 127.0.0.1 --port N`.
 * - Contract 2.0: llama-server has every agent feature (protocols.md Part 2 §C): tools and
 *   reasoning through its Jinja chat template (on by default), JSON Schema as a grammar,
 *   `/v1/embeddings` when started with `--embeddings` (a server without it answers 501, which
 *   fails that request only). core's OpenAiChat speaks all of it with the `local` spelling
 *   (tool_choice as a string, which is all llama-server reads). What one model can do beyond
 *   that, it says in `/props`: `modalities.vision` and the template's `supports_tools`.
 */
import { Backend, BackendError, OpenAiChat } from "@local-router/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import pkg from "../package.json" with { type: "json" }
import { LlamaCppOptions } from "./LlamaCppOptions.js"
import * as ServerState from "./ServerState.js"

/** @typedef {import("./LlamaCppOptions.js").Options} Options */

export const DEFAULT_URL = "http://127.0.0.1:8080"
export const DEFAULT_MAX_TOKENS = 4096
export const DEFAULT_PROBE_TIMEOUT_MS = 5000

/**
 * The model is loaded before the server is ready (never inside a request), so headers come
 * quickly; the first token waits for prompt processing, which on a CPU is slow for long prompts.
 * @type {Partial<Backend.Timeouts>}
 */
export const timeouts = { connect: 15_000, firstToken: 120_000 }

/** `http://host:port`, whether routing.yaml wrote the url with `/v1` or without. @param {string | undefined} url */
export const originOf = (url) => (url ?? DEFAULT_URL).replace(/\/+$/, "").replace(/\/v1$/, "")

/**
 * The names a request may use for the model a server runs: what it lists (the -m path or the
 * alias), the file name, and the file name without `.gguf`.
 * @param {string} listed
 * @param {string | undefined} alias
 * @returns {ReadonlyArray<string>}
 */
export const namesOf = (listed, alias) => {
  const file = path.basename(listed)
  return [...new Set([listed, file, file.replace(/\.gguf$/i, ""), ...(alias === undefined ? [] : [alias])])]
}

/**
 * @param {Backend.MakeContext<Options>} context
 * @returns {Effect.Effect<Backend.Backend>}
 */
export const make = (context) =>
  Effect.sync(() => {
    const backend = context.name
    const options = context.options
    const origin = originOf(context.url)
    /** @type {OpenAiChat.Client} */
    const client = {
      backend,
      baseUrl: `${origin}/v1`,
      flavour: "local",
      maxTokensField: "max_tokens",
      defaultMaxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      ...(context.apiKey === undefined ? {} : { headers: { authorization: Redacted.make(`Bearer ${Redacted.value(context.apiKey)}`) } })
    }
    const target = { backend, origin, client }
    const probeTimeout = options.probeTimeout ?? DEFAULT_PROBE_TIMEOUT_MS

    /** The names this server answers to now. A loading server fails Overloaded (503). */
    const models = Effect.map(OpenAiChat.models(client), (listed) => listed.flatMap((id) => namesOf(id, options.alias)))

    /** @param {string} model */
    const missing = (model) =>
      Effect.flatMap(models, (names) =>
        names.includes(model)
          ? Effect.void
          : Effect.fail(
            new BackendError.BackendError({
              reason: "ModelMissing",
              backend,
              model,
              message: `${backend}: this llama-server runs ${names[0] ?? "no model"}, not ${model}; llama-server serves one model per process, so start another one with -m for it`
            })
          ))

    /** @type {Effect.Effect<Backend.Probe>} */
    const probe = ServerState.read(target).pipe(
      Effect.map((state) => {
        if (state._tag === "Loading") return Backend.Probe.Busy({ detail: state.detail })
        if (state.slots !== undefined && state.slots.total > 0 && state.slots.processing >= state.slots.total) {
          return Backend.Probe.Busy({ detail: `${backend}: all ${state.slots.total} slots are generating; new requests wait in its queue` })
        }
        return Backend.Probe.Ready({ models: namesOf(state.model, options.alias), loaded: [state.model] })
      }),
      Effect.catch((error) =>
        Effect.succeed(
          error.reason === "Unreachable"
            ? Backend.Probe.Unreachable({ detail: error.message })
            : Backend.Probe.Starting({ detail: error.message })
        )
      ),
      Effect.timeoutOrElse({
        duration: Duration.millis(probeTimeout),
        orElse: () =>
          Effect.succeed(Backend.Probe.Starting({ detail: `${origin} accepted the connection but did not answer within ${probeTimeout}ms` }))
      })
    )

    /**
     * @param {Backend.GenerateRequest} request
     * @returns {ReturnType<Backend.Backend["generate"]>}
     */
    const generate = (request) =>
      OpenAiChat.generate(client, request, {
        before: missing(request.model),
        refine: (error) =>
          error.reason === "Overloaded" && /Loading model/i.test(error.message)
            ? new BackendError.BackendError({
              reason: "Overloaded",
              backend,
              model: request.model,
              ...(error.status === undefined ? {} : { status: error.status }),
              ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
              message: `${backend} is still loading its model (HTTP 503); it answers once the model is in memory`
            })
            : error
      })

    /**
     * What the running model can do, from /props (protocols.md Part 2 §C.6): images when a
     * projector is loaded, tools when the chat template takes them. What /props does not say
     * (an old build, a key-protected /props) is left to the backend's capabilities.
     * @param {string} model
     * @returns {Effect.Effect<Backend.ModelCapabilities, BackendError.BackendError>}
     */
    const modelCapabilities = (model) =>
      Effect.flatMap(missing(model), () => ServerState.capabilitiesOf(target))

    return {
      name: backend,
      type: "llamacpp",
      // llama-server has all of these (protocols.md Part 2 §C): tools and reasoning through
      // its Jinja chat template, JSON Schema as a grammar, embeddings when started with
      // --embeddings (501 otherwise, which fails the request, never the process).
      capabilities: { text: true, images: false, streaming: true, pull: false, tools: true, jsonSchema: true, reasoning: true, embeddings: true },
      probe,
      models,
      /** @param {string} model */
      ensureModel: (model) =>
        Stream.fromEffect(Effect.as(missing(model), { status: `${model} is loaded` })),
      generate,
      /** @param {Backend.EmbedRequest} request */
      embed: (request) => Effect.flatMap(missing(request.model), () => OpenAiChat.embed(client, request)),
      modelCapabilities
    }
  })

/**
 * `llama-server -m <gguf> --host 127.0.0.1 --port N [--alias A] [-c N] [-np N]`.
 * @param {Backend.MakeContext<Options>} context
 * @returns {Backend.SuperviseDefaults}
 */
export const supervise = (context) => {
  const url = new URL(originOf(context.url))
  const o = context.options
  return {
    command: "llama-server",
    args: [
      ...(o.model === undefined ? [] : ["-m", o.model]),
      "--host",
      url.hostname.replace(/^\[|\]$/g, ""),
      "--port",
      url.port || "80",
      ...(o.alias === undefined ? [] : ["--alias", o.alias]),
      ...(o.contextSize === undefined ? [] : ["-c", String(o.contextSize)]),
      ...(o.parallel === undefined ? [] : ["-np", String(o.parallel)]),
      // Without it /v1/embeddings answers 501; with it the same server still chats.
      ...(o.embeddings === true ? ["--embeddings"] : [])
    ],
    installHint: "brew install llama.cpp (or build llama.cpp from source); the entry needs `model: /path/to/model.gguf` to be started by local-router"
  }
}

export const definition = Backend.plugin({
  name: "llamacpp",
  // The contract this package was written against, not the running core's: local-router
  // refuses a definition whose major differs from its own.
  contract: "2.0",
  version: pkg.version,
  options: LlamaCppOptions,
  timeouts,
  make,
  supervise
})
