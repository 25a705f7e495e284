/**
 * The `moondream` backend's own keys in routing.yaml (besides type, url, apiKey, timeouts):
 *
 *   moondream:                      # Moondream Station on this Mac
 *     type: moondream
 *     url: "http://127.0.0.1:2020/v1"
 *     home: /Users/me               # where .moondream-station/config.json lives (default: your home)
 *     requestTimeout: 5m            # Station's own per-request wait limit (its default is 30 s)
 *
 *   moondream-cloud:                # the Moondream cloud API
 *     type: moondream
 *     service: cloud
 *     apiKey: env:MOONDREAM_API_KEY
 */
import { RoutingSchema } from "@local-router/core"
import * as Schema from "effect/Schema"

const optional = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

export const MoondreamOptions = Schema.Struct({
  service: Schema.optionalWith(Schema.Literal("station", "cloud"), { default: () => "station" as const }).annotations({
    description: "station: Moondream Station on this machine (default); cloud: api.moondream.ai with apiKey"
  }),
  home: optional(Schema.String.pipe(Schema.minLength(1))).annotations({
    description: "The home directory holding .moondream-station/config.json, read to find Station when it moved to another port (default: your home; ~ and paths relative to routing.yaml work)"
  }),
  discoverPort: Schema.optionalWith(Schema.Boolean, { default: () => true }).annotations({
    description: "When Station does not answer at url, look up the port it wrote to its config.json and use that"
  }),
  requestTimeout: optional(RoutingSchema.Millis).annotations({
    description: "Sent to Station as its per-request `timeout` (its default is 30 s, too short for the first call that loads the model)"
  }),
  probeTimeout: Schema.optionalWith(RoutingSchema.Millis, { default: () => 3_000 }).annotations({
    description: "How long each step of the health probe may take"
  })
})
export type MoondreamOptions = typeof MoondreamOptions.Type
