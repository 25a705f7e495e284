/**
 * The options an `mlx` backend entry takes in routing.yaml, besides the common keys (`url`,
 * `timeouts`, ...). Unknown keys are rejected by the config loader with a did-you-mean.
 */
import * as Schema from "effect/Schema"

export const MlxOptions = Schema.Struct({
  model: Schema.optional(Schema.String.pipe(Schema.minLength(1))).annotations({
    description: "The model the supervisor starts the server with (--model); requests name their own model"
  }),
  vision: Schema.optional(Schema.Boolean).annotations({
    description: "The server is mlx_vlm.server (or another server that reads image_url parts): send images to it"
  }),
  maxTokens: Schema.optional(Schema.Int.pipe(Schema.positive())).annotations({
    description: "Token limit sent when a request gives none (mlx_lm.server stops at 512 otherwise). Default 4096"
  }),
  probeTimeout: Schema.optional(Schema.Int.pipe(Schema.positive())).annotations({
    description: "Milliseconds a health probe waits for each answer. Default 5000"
  })
}).annotations({ title: "mlx backend options" })
export type MlxOptions = typeof MlxOptions.Type
