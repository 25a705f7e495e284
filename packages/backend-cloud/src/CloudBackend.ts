/**
 * The `cloud` backend: OpenAI, Anthropic or OpenRouter, chosen by `provider`. OpenAI and
 * OpenRouter go through core's OpenAiChat (the one OpenAI-compatible client); Anthropic
 * through its own small translation (Anthropic.ts).
 *
 * - The API key comes from `apiKey: env:NAME` as a Redacted value and is only unwrapped on
 *   the wire; it never appears in an error, a probe or an event.
 * - A missing key fails only this backend, and only when it is used: generate and models fail
 *   with `Auth` naming the environment variable to set (never a value). Loading never fails
 *   for it, so a Mac without cloud keys still routes locally.
 * - The probe is token-free: it lists models (`GET /v1/models`), which no provider bills.
 */
import { Backend, BackendError, Events, HttpCall, OpenAiChat } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import pkg from "../package.json" with { type: "json" }
import * as Anthropic from "./Anthropic.ts"
import * as ModelCapabilities from "./ModelCapabilities.ts"
import { CloudOptions, type Provider } from "./CloudOptions.ts"

export const DEFAULT_URLS: Record<Provider, string> = {
  openai: "https://api.openai.com/v1",
  openrouter: "https://openrouter.ai/api/v1",
  anthropic: Anthropic.DEFAULT_URL
}

/** The variable a user is told to set when routing.yaml names none. */
export const CONVENTIONAL_KEY_ENV: Record<Provider, string> = {
  openai: "OPENAI_API_KEY",
  openrouter: "OPENROUTER_API_KEY",
  anthropic: "ANTHROPIC_API_KEY"
}

/**
 * Per provider (protocols.md Part 2 §D, §E): OpenAI and OpenRouter call tools, constrain output
 * to a JSON Schema and reason (the o-series and other reasoning models; OpenAI reports no
 * reasoning text, OpenRouter does); only OpenAI embeds here. Anthropic calls tools and thinks,
 * and is not declared for JSON Schema: its structured outputs (`output_config.format`) exist on
 * recent models only, so a user who has one declares it per model in routing.yaml.
 */
export const capabilitiesOf = (provider: Provider): Backend.Capabilities => ({
  text: true,
  images: true,
  streaming: true,
  pull: false,
  tools: true,
  jsonSchema: provider !== "anthropic",
  reasoning: true,
  embeddings: provider === "openai"
})

/**
 * OpenAI-compatible bases include the version segment (as the OpenAI SDK's baseURL does); a
 * bare origin such as a simulator's `http://127.0.0.1:PORT` gets `/v1`.
 */
export const openAiBaseOf = (url: string): string => {
  const trimmed = url.replace(/\/+$/, "")
  return new URL(trimmed).pathname === "/" ? `${trimmed}/v1` : trimmed
}

/** Anthropic's base is the origin; a `/v1` written in routing.yaml is tolerated. */
export const anthropicBaseOf = (url: string): string => url.replace(/\/+$/, "").replace(/\/v1$/, "")

type CloudContext = Backend.MakeContext<CloudOptions>

const missingKey = (context: CloudContext, model?: string): BackendError.BackendError => {
  const env = context.apiKeyEnv ?? CONVENTIONAL_KEY_ENV[context.options.provider]
  return new BackendError.BackendError({
    reason: "Auth",
    backend: context.name,
    ...(model === undefined ? {} : { model }),
    message: context.apiKeyEnv === undefined
      ? `${context.name}: no API key: add \`apiKey: env:${env}\` to this backend in routing.yaml and set ${env}`
      : `${context.name}: no API key: the environment variable ${env} is not set`
  })
}

/** What a provider needs to answer: its generate, its model list, its embeddings if it has them. */
interface Wire {
  readonly generate: (request: Backend.GenerateRequest) => Events.Events<Backend.GenerateEvent, BackendError.BackendError>
  readonly models: Effect.Effect<ReadonlyArray<string>, BackendError.BackendError>
  readonly embed?: (request: Backend.EmbedRequest) => Effect.Effect<Backend.EmbedResult, BackendError.BackendError>
  readonly modelCapabilities?: (model: string) => Effect.Effect<Backend.ModelCapabilities, BackendError.BackendError>
}

/** OpenRouter's own word on one model: its entry in `GET /models` (supported_parameters, input modalities). */
const openRouterCapabilities = (client: OpenAiChat.Client) => (model: string) =>
  HttpCall.json({ backend: client.backend, url: `${client.baseUrl}/models`, ...(client.headers ? { headers: client.headers } : {}) }).pipe(
    Effect.flatMap((json) => {
      const data = typeof json === "object" && json !== null ? (json as { data?: unknown }).data : undefined
      const entry = Array.isArray(data) ? data.find((m) => typeof m === "object" && m !== null && (m as { id?: unknown }).id === model) : undefined
      return entry === undefined
        ? Effect.fail(new BackendError.BackendError({ reason: "ModelMissing", backend: client.backend, model, message: `${client.backend}: OpenRouter does not list ${model}` }))
        : Effect.succeed(ModelCapabilities.openRouter(entry))
    })
  )

const wireOf = (context: CloudContext, apiKey: Redacted.Redacted<string>): Wire => {
  const { name, options } = context
  const url = context.url ?? DEFAULT_URLS[options.provider]
  if (options.provider === "anthropic") {
    const client: Anthropic.Client = {
      backend: name,
      baseUrl: anthropicBaseOf(url),
      apiKey,
      version: options.anthropicVersion ?? Anthropic.DEFAULT_VERSION,
      defaultMaxTokens: options.maxTokens ?? Anthropic.DEFAULT_MAX_TOKENS
    }
    return { generate: (request) => Anthropic.generate(client, request), models: Anthropic.models(client) }
  }
  const openrouter = options.provider === "openrouter"
  const client: OpenAiChat.Client = {
    backend: name,
    baseUrl: openAiBaseOf(url),
    flavour: openrouter ? "openrouter" : "openai",
    headers: {
      authorization: Redacted.make(`Bearer ${Redacted.value(apiKey)}`),
      ...(openrouter && options.referer !== undefined ? { "HTTP-Referer": options.referer } : {}),
      ...(openrouter && options.title !== undefined ? { "X-Title": options.title, "X-OpenRouter-Title": options.title } : {})
    },
    // OpenAI's reasoning models reject the older `max_tokens`; OpenRouter documents `max_tokens`.
    maxTokensField: openrouter ? "max_tokens" : "max_completion_tokens",
    ...(options.maxTokens === undefined ? {} : { defaultMaxTokens: options.maxTokens })
  }
  const generate = (request: Backend.GenerateRequest) =>
    OpenAiChat.generate(client, request, {
      // OpenRouter answers an unknown model with 400 "… is not a valid model ID"; for the Router
      // that is a missing model (try elsewhere), not a request every backend would reject.
      refine: (error) =>
        openrouter && error.reason === "BadRequest" && /not a valid model/i.test(error.message)
          ? new BackendError.BackendError({
            reason: "ModelMissing",
            backend: error.backend,
            message: error.message,
            model: request.model,
            ...(error.status === undefined ? {} : { status: error.status })
          })
          : error
    })
  return {
    generate,
    models: OpenAiChat.models(client),
    ...(openrouter
      ? { modelCapabilities: openRouterCapabilities(client) }
      : { embed: (request: Backend.EmbedRequest) => OpenAiChat.embed(client, request) })
  }
}

export const make = (context: CloudContext): Effect.Effect<Backend.Backend> =>
  Effect.sync(() => {
    const apiKey = context.apiKey
    const wire = apiKey === undefined ? undefined : wireOf(context, apiKey)
    const models = wire?.models ?? Effect.fail(missingKey(context))

    const probe: Effect.Effect<Backend.Probe> = Effect.map(Effect.result(models), (result) => {
      if (Result.isSuccess(result)) return Backend.Probe.Ready({ models: result.success, loaded: [] })
      const error = result.failure
      if (error.reason === "Overloaded") return Backend.Probe.Busy({ detail: error.message })
      // A missing or rejected key leaves the API out of reach as surely as a network failure.
      return Backend.Probe.Unreachable({ detail: error.message })
    })

    return {
      name: context.name,
      type: "cloud",
      capabilities: capabilitiesOf(context.options.provider),
      probe,
      models,
      ensureModel: (model) =>
        Stream.fromEffect(models).pipe(
          Stream.flatMap((listed) =>
            listed.includes(model)
              ? Stream.make({ status: `${model} is available` })
              : Stream.fail(
                new BackendError.BackendError({
                  reason: "ModelMissing",
                  backend: context.name,
                  model,
                  message: `${context.name}: ${context.options.provider} does not list ${model}`
                })
              )
          )
        ),
      generate: (request) => (wire === undefined ? Events.fail(missingKey(context, request.model)) : wire.generate(request)),
      ...(capabilitiesOf(context.options.provider).embeddings
        ? {
          embed: (request: Backend.EmbedRequest) =>
            wire?.embed === undefined ? Effect.fail(missingKey(context, request.model)) : wire.embed(request)
        }
        : {}),
      ...(context.options.provider === "openai"
        ? { modelCapabilities: (model: string) => Effect.succeed(ModelCapabilities.openAi(model)) }
        : context.options.provider === "openrouter"
        ? {
          modelCapabilities: (model: string) =>
            wire?.modelCapabilities === undefined ? Effect.fail(missingKey(context, model)) : wire.modelCapabilities(model)
        }
        : {})
    }
  })

export const definition: Backend.Definition<CloudOptions> = Backend.plugin({
  name: "cloud",
  contract: Backend.CONTRACT_VERSION,
  version: pkg.version,
  options: CloudOptions,
  make
})
