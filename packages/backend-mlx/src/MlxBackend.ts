/**
 * The `mlx` backend: mlx_lm.server, and any server that speaks the OpenAI chat protocol
 * locally (mlx_vlm.server with `vision: true`, llama.cpp's llama-server, vLLM, LM Studio).
 * All of the wire work is core's OpenAiChat; this module only knows addresses, defaults and
 * how to start the server.
 *
 * - `Start` is emitted when the response headers arrive. mlx_lm loads or swaps a model
 *   before it writes them, so the connect and first-token deadlines here are long; the Router
 *   keeps them.
 * - The model string is sent exactly as routing.yaml spells it: mlx_lm treats any other
 *   spelling of the same weights as a different model and reloads.
 * - A token limit is always sent, because mlx_lm's own default (512) cuts long answers.
 * - Agent features (protocols.md Part 2 §B): tools and reasoning go through (mlx_lm parses the
 *   chat template's tool calls and streams `reasoning`); `response_format` and embeddings are
 *   not declared, because mlx_lm.server never reads the one and has no endpoint for the other.
 *   The `local` spelling of tool choice and reasoning (OpenAiChat) is what mlx_lm, llama-server
 *   and vLLM read.
 * - ensureModel never downloads: mlx_lm would fetch from the Hugging Face Hub on demand, which
 *   is slow, needs the network and happens before the headers.
 */
import { Backend, BackendError, OpenAiChat } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import pkg from "../package.json" with { type: "json" }
import { MlxOptions } from "./MlxOptions.ts"
import * as Probe from "./Probe.ts"

export const DEFAULT_URL = "http://127.0.0.1:11435"
export const DEFAULT_MAX_TOKENS = 4096
export const DEFAULT_PROBE_TIMEOUT_MS = 5000

/** Loading a 32B or 70B model takes minutes, and it happens before the headers. */
export const timeouts: Partial<Backend.Timeouts> = { connect: 180_000, firstToken: 240_000 }

/** `http://host:port`, whether routing.yaml wrote the url with `/v1` or without. */
export const originOf = (url: string | undefined): string => (url ?? DEFAULT_URL).replace(/\/+$/, "").replace(/\/v1$/, "")

/**
 * mlx_lm.server's own: tools (parsed from the chat template) and reasoning (a `reasoning`
 * field, switched with `chat_template_kwargs.enable_thinking`), but it never reads
 * `response_format` and has no embeddings endpoint (protocols.md Part 2 §B). Another
 * OpenAI-compatible server behind this type (llama-server, vLLM) declares more in routing.yaml.
 */
export const capabilitiesOf = (options: MlxOptions): Backend.Capabilities => ({
  text: true,
  images: options.vision === true,
  streaming: true,
  pull: false,
  tools: true,
  jsonSchema: false,
  reasoning: true,
  embeddings: false
})

export const make = (context: Backend.MakeContext<MlxOptions>): Effect.Effect<Backend.Backend> =>
  Effect.sync(() => {
    const backend = context.name
    const options = context.options
    const origin = originOf(context.url)
    const client: OpenAiChat.Client = {
      backend,
      baseUrl: `${origin}/v1`,
      flavour: "local",
      maxTokensField: "max_tokens",
      defaultMaxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      // Only for a server behind an authenticating proxy or started with --api-key (llama-server).
      ...(context.apiKey === undefined ? {} : { headers: { authorization: Redacted.make(`Bearer ${Redacted.value(context.apiKey)}`) } })
    }
    const models = OpenAiChat.models(client)

    const ensureModel = (model: string): Stream.Stream<Backend.PullProgress, BackendError.BackendError> =>
      Stream.fromEffect(models).pipe(
        Stream.flatMap((listed) =>
          listed.includes(model)
            ? Stream.make({ status: `${model} is present` })
            : Stream.fail(
              new BackendError.BackendError({
                reason: "ModelMissing",
                backend,
                model,
                message: `${backend}: ${model} is not in the server's model list; download it first (huggingface-cli download ${model}), local-router does not pull for mlx`
              })
            )
        )
      )

    return {
      name: backend,
      type: "mlx",
      capabilities: capabilitiesOf(options),
      probe: Probe.probe({ backend, origin, client, timeoutMs: options.probeTimeout ?? DEFAULT_PROBE_TIMEOUT_MS }),
      models,
      ensureModel,
      generate: (request) => OpenAiChat.generate(client, request),
      // mlx_lm.server has no embeddings (its capabilities say so); this is for an
      // OpenAI-compatible server behind this type that routing.yaml declares `embeddings` for.
      embed: (request) => Effect.mapError(OpenAiChat.embed(client, request), (error) => noEmbeddings(error, request.model))
    }
  })

/**
 * mlx_lm answers a route it does not have with a bare 404 `Not Found`, which would read as a
 * missing model (try another spelling) when it is a server without embeddings (try another
 * server). A server that has the route and not the model says more than `Not Found`.
 */
const noEmbeddings = (error: BackendError.BackendError, model: string): BackendError.BackendError =>
  error.status === 404 && /: Not Found$/.test(error.message)
    ? new BackendError.BackendError({
      reason: "Upstream",
      backend: error.backend,
      model,
      status: 404,
      message: `${error.message} (this server has no /v1/embeddings: mlx_lm.server does not embed; use Ollama or llama-server --embeddings)`
    })
    : error

/** `mlx_lm.server --host 127.0.0.1 --port 11435 --model <model>` (mlx_vlm.server with `vision`). */
export const supervise = (context: Backend.MakeContext<MlxOptions>): Backend.SuperviseDefaults => {
  const url = new URL(originOf(context.url))
  const vision = context.options.vision === true
  return {
    command: vision ? "mlx_vlm.server" : "mlx_lm.server",
    // Both must be given: mlx_vlm defaults to 0.0.0.0:8080, which collides with mlx_lm's default.
    args: [
      "--host",
      url.hostname.replace(/^\[|\]$/g, ""),
      "--port",
      url.port || "80",
      ...(context.options.model === undefined ? [] : ["--model", context.options.model])
    ],
    port: Number(new URL(DEFAULT_URL).port),
    installHint: vision ? "pip install mlx-vlm" : "pip install mlx-lm"
  }
}

export const definition: Backend.Definition<MlxOptions> = Backend.plugin({
  name: "mlx",
  contract: Backend.CONTRACT_VERSION,
  version: pkg.version,
  options: MlxOptions,
  timeouts,
  make,
  supervise
})
