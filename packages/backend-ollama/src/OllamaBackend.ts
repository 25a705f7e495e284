/**
 * The `ollama` backend: Ollama's native API. The chat stream is read the way core reads every
 * streamed answer (HttpCall.events, internal/ChatStream.ts); pulls go through the official
 * `ollama` client on core's HTTP (internal/Client.ts).
 *
 * - generate = `/api/chat`, streaming. `Start` is emitted when the response headers arrive,
 *   which for a cold model is after the load (Ollama spends it before the status line), so
 *   the connect deadline covers model loading; the defaults below leave room for it.
 * - With `autoPull`, a missing model is pulled (progress in the log, see Pull.ts) and the
 *   request is retried once, all before `Start`. The router's connect deadline bounds the
 *   request, not the download: a pull outlives the request that started it (Pull.autoPull).
 * - Agent features: tools, `format`, `think` (Chat.ts), `/api/embed` (Embed.ts), and what each
 *   model can do from `/api/show` (Show.ts), which the Router asks before it sends a model
 *   a request that needs tools, JSON, reasoning, images or embeddings.
 * - ensureModel does not touch the registry when the model is already listed, so an offline
 *   Mac with its models installed never fails on it.
 */
import { Backend, BackendError, Events } from "@local-router/core"
import * as Result from "effect/Result"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pkg from "../package.json" with { type: "json" }
import * as Chat from "./Chat.ts"
import * as ChatStream from "./internal/ChatStream.ts"
import * as Client from "./internal/Client.ts"
import * as ModelName from "./ModelName.ts"
import { OllamaOptions } from "./OllamaOptions.ts"
import * as Probe from "./Probe.ts"
import * as Pull from "./Pull.ts"
import * as Embed from "./Embed.ts"
import * as Show from "./Show.ts"

export const DEFAULT_URL = "http://127.0.0.1:11434"

/**
 * What an Ollama server can do with some model; what one model can do comes from /api/show
 * (`modelCapabilities`), which the Router asks before it sends a request that needs more than text.
 */
export const capabilities: Backend.Capabilities = {
  text: true,
  images: true,
  streaming: true,
  pull: true,
  tools: true,
  jsonSchema: true,
  reasoning: true,
  embeddings: true
}

const targetOf = (context: Backend.MakeContext<OllamaOptions>): Client.Target => ({
  host: (context.url ?? DEFAULT_URL).replace(/\/+$/, ""),
  // Only for an Ollama behind an authenticating proxy or ollama.com; the local server needs none.
  headers: context.apiKey === undefined ? {} : { Authorization: Redacted.make(`Bearer ${Redacted.value(context.apiKey)}`) }
})

export const make = (context: Backend.MakeContext<OllamaOptions>): Effect.Effect<Backend.Backend, never, Scope.Scope> =>
  Effect.gen(function*() {
    const target = targetOf(context)
    const backend = context.name
    const options = context.options
    const pulls = yield* Pull.autoPull(target, backend)

    const listModels = Client.modelNames(target, { backend, action: "list models" }, "/api/tags")

    const generate = (request: Backend.GenerateRequest): Events.Events<Backend.GenerateEvent, BackendError.BackendError> => {
      const body = Chat.toChatRequest(request, options)
      if (Result.isFailure(body)) {
        return Events.fail(new BackendError.BackendError({ reason: "BadRequest", backend, model: request.model, message: `${backend}: ${body.failure}` }))
      }
      return ChatStream.stream(target, backend, body.success, { oneToolCall: request.parallelToolCalls === false }, options.autoPull ? pulls.ensure : undefined)
    }

    const ensureModel = (model: string): Stream.Stream<Backend.PullProgress, BackendError.BackendError> =>
      Stream.unwrap(
        listModels.pipe(
          Effect.map((listed) =>
            ModelName.isListed(model, listed)
              ? Stream.succeed<Backend.PullProgress>({ status: "already present" })
              : Pull.pull(target, backend, model)
          )
        )
      )

    return {
      name: backend,
      type: "ollama",
      capabilities,
      probe: Probe.probe(target, backend, options.probeTimeout),
      models: listModels,
      ensureModel,
      generate,
      embed: (request) => Embed.embed(target, backend, request, options.keepAlive),
      // Asked each time: the Router keeps what it learns (per routing.yaml version).
      modelCapabilities: (model) => Show.modelCapabilities(target, backend, model)
    }
  })

export const definition: Backend.Definition<OllamaOptions> = Backend.plugin({
  name: "ollama",
  contract: Backend.CONTRACT_VERSION,
  version: pkg.version,
  options: OllamaOptions,
  // A cold model loads before Ollama sends headers: give connect room for a load.
  timeouts: { connect: 120_000, firstToken: 180_000 },
  make,
  supervise: ({ url }) => ({
    command: "ollama",
    args: ["serve"],
    port: Number(new URL(DEFAULT_URL).port),
    // `ollama serve` takes its address from OLLAMA_HOST only; without it, it binds 11434.
    env: { OLLAMA_HOST: new URL(url ?? DEFAULT_URL).host },
    installHint: "brew install ollama, or the Ollama app from https://ollama.com/download"
  }),
  normalizeModel: ModelName.normalise
})
