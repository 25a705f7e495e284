/**
 * The options a `cloud` backend entry takes in routing.yaml, besides the common keys (`url`
 * to point at a proxy or a simulator, `apiKey: env:NAME`, `timeouts`, ...).
 */
import * as Schema from "effect/Schema"

export const Provider = Schema.Literals(["openai", "anthropic", "openrouter"])
export type Provider = typeof Provider.Type

export const CloudOptions = Schema.Struct({
  provider: Provider.annotate({ description: "openai | anthropic | openrouter" }),
  referer: Schema.optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "OpenRouter app attribution: sent as HTTP-Referer"
  }),
  title: Schema.optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "OpenRouter app attribution: sent as X-Title (and X-OpenRouter-Title)"
  }),
  maxTokens: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Token limit when a request gives none (Anthropic requires one). Default 4096 for Anthropic, the provider's own otherwise"
  }),
  anthropicVersion: Schema.optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "The anthropic-version header. Default 2023-06-01"
  })
}).annotate({ title: "cloud backend options" })
export type CloudOptions = typeof CloudOptions.Type
