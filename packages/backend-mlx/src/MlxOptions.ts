/**
 * The options an `mlx` backend entry takes in routing.yaml, besides the common keys (`url`,
 * `timeouts`, ...). Unknown keys are rejected by the config loader with a did-you-mean.
 */
import * as Schema from "effect/Schema"

export const MlxOptions = Schema.Struct({
  model: Schema.optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "The model the supervisor starts the server with (--model); requests name their own model"
  }),
  vision: Schema.optional(Schema.Boolean).annotate({
    description: "The server is mlx_vlm.server (or another server that reads image_url parts): send images to it"
  }),
  maxTokens: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Token limit sent when a request gives none (mlx_lm.server stops at 512 otherwise). Default 4096"
  }),
  probeTimeout: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Milliseconds a health probe waits for each answer. Default 5000"
  })
}).annotate({ title: "mlx backend options" })
export type MlxOptions = typeof MlxOptions.Type
