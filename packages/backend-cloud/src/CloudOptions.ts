/**
 * The options a `cloud` backend entry takes in routing.yaml, besides the common keys (`url`
 * to point at a proxy or a simulator, `apiKey: env:NAME`, `timeouts`, ...).
 */
import * as Schema from "effect/Schema"

export const Provider = Schema.Literal("openai", "anthropic", "openrouter")
export type Provider = typeof Provider.Type

export const CloudOptions = Schema.Struct({
  provider: Provider.annotations({ description: "openai | anthropic | openrouter" }),
  referer: Schema.optional(Schema.String.pipe(Schema.minLength(1))).annotations({
    description: "OpenRouter app attribution: sent as HTTP-Referer"
  }),
  title: Schema.optional(Schema.String.pipe(Schema.minLength(1))).annotations({
    description: "OpenRouter app attribution: sent as X-Title (and X-OpenRouter-Title)"
  }),
  maxTokens: Schema.optional(Schema.Int.pipe(Schema.positive())).annotations({
    description: "Token limit when a request gives none (Anthropic requires one). Default 4096 for Anthropic, the provider's own otherwise"
  }),
  anthropicVersion: Schema.optional(Schema.String.pipe(Schema.minLength(1))).annotations({
    description: "The anthropic-version header. Default 2023-06-01"
  })
}).annotations({ title: "cloud backend options" })
export type CloudOptions = typeof CloudOptions.Type
