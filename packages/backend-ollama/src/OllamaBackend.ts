/**
 * The `ollama` backend: Ollama's native API through the official `ollama` client, except a
 * local server's chat stream, which is read as a core Source (internal/ChatSource.ts: the
 * client's fetch, stream and iterator cost several times the exchange on every answer).
 *
 * - generate = `/api/chat`, streaming. `Start` is emitted when the response headers arrive,
 *   which for a cold model is after the load (Ollama spends it before the status line), so
 *   the connect deadline covers model loading; the defaults below leave room for it.
 * - With `autoPull`, a missing model is pulled (progress in the log, see Pull.ts) and the
 *   request is retried once, all before `Start`. The router's connect deadline bounds the
 *   request, not the download: a pull outlives the request that started it (Pull.autoPull).
 * - ensureModel does not touch the registry when the model is already listed, so an offline
 *   Mac with its models installed never fails on it.
 */
import { Backend, type BackendError, Source } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pkg from "../package.json" with { type: "json" }
import * as Chat from "./Chat.ts"
import * as ChatSource from "./internal/ChatSource.ts"
import * as Client from "./internal/Client.ts"
import * as ModelName from "./ModelName.ts"
import { OllamaOptions } from "./OllamaOptions.ts"
import * as Probe from "./Probe.ts"
import * as Pull from "./Pull.ts"

export const DEFAULT_URL = "http://127.0.0.1:11434"

export const capabilities: Backend.Capabilities = { text: true, images: true, streaming: true, pull: true }

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

    const openChat = (request: Backend.GenerateRequest) =>
      Client.open(
        target,
        { backend, model: request.model, action: "chat" },
        (ollama) => ollama.chat(Chat.toChatRequest(request, options))
      )

    /** Through ollama-js: a remote (`https:`) Ollama. */
    const viaClient = (request: Backend.GenerateRequest): Stream.Stream<Backend.GenerateEvent, BackendError.BackendError> =>
      Stream.unwrapScoped(
        openChat(request).pipe(
          Effect.catchIf(
            (error) => options.autoPull && error.reason === "ModelMissing",
            () => pulls.ensure(request.model).pipe(Effect.zipRight(openChat(request)))
          ),
          Effect.map((chunks) =>
            Stream.concat(
              Stream.make(Backend.GenerateEvent.Start({ model: request.model })),
              Stream.flatMap(chunks, (chunk) => Stream.fromIterable(Chat.eventsOf(chunk)))
            )
          )
        )
      )

    /** A local Ollama's chat stream, read as a core Source (see internal/ChatSource.ts). */
    const viaSource = (request: Backend.GenerateRequest): Stream.Stream<Backend.GenerateEvent, BackendError.BackendError> =>
      Source.toStream(() => ChatSource.open(target, backend, Chat.toChatRequest(request, options)))

    const local = target.host.startsWith("http:") && URL.canParse(target.host)
    const generate = (request: Backend.GenerateRequest): Stream.Stream<Backend.GenerateEvent, BackendError.BackendError> => {
      if (!local) return viaClient(request)
      if (!options.autoPull) return viaSource(request)
      // A missing model is a 404 before any event: pull it, then ask once more.
      return Stream.catchAll(viaSource(request), (error) =>
        error.reason === "ModelMissing"
          ? Stream.unwrap(Effect.as(pulls.ensure(request.model), viaSource(request)))
          : Stream.fail(error))
    }

    const ensureModel = (model: string): Stream.Stream<Backend.PullProgress, BackendError.BackendError> =>
      Stream.unwrap(
        listModels.pipe(
          Effect.map((listed) =>
            ModelName.isListed(model, listed) ? Stream.succeed<Backend.PullProgress>({ status: "already present" }) : Pull.pull(target, backend, model)
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
      generate
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
    // `ollama serve` takes its address from OLLAMA_HOST only; without it, it binds 11434.
    env: { OLLAMA_HOST: new URL(url ?? DEFAULT_URL).host },
    installHint: "brew install ollama, or the Ollama app from https://ollama.com/download"
  })
})
