// @ts-check
/**
 * The options a llama.cpp backend entry takes in routing.yaml, besides the common keys
 * (`url`, `apiKey`, `timeouts`, ...). local-router's loader validates them with this schema
 * and reports a mistake with its file:line:column and a did-you-mean.
 */
import * as Schema from "effect/Schema"

export const LlamaCppOptions = Schema.Struct({
  model: Schema.optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "The GGUF file the supervisor starts llama-server with (-m)"
  }),
  alias: Schema.optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "The name llama-server lists its model under (--alias); categories may name the model by it"
  }),
  contextSize: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Context size the supervisor starts llama-server with (-c); it is split between the slots"
  }),
  parallel: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Slots the supervisor starts llama-server with (-np): requests generated at once"
  }),
  embeddings: Schema.optional(Schema.Boolean).annotate({
    description: "Start llama-server with --embeddings, so that /v1/embeddings answers (501 otherwise)"
  }),
  maxTokens: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Token limit sent when a request gives none (llama-server's own default is unlimited). Default 4096"
  }),
  probeTimeout: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Milliseconds a health probe waits for each answer. Default 5000"
  })
}).annotate({ title: "llama.cpp backend options" })

/** @typedef {typeof LlamaCppOptions.Type} Options */
