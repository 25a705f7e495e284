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
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

export const MoondreamOptions = Schema.Struct({
  service: Schema.Literals(["station", "cloud"]).annotate({
    description: "station: Moondream Station on this machine (default); cloud: api.moondream.ai with apiKey"
  }).pipe(Schema.withDecodingDefaultType(Effect.succeed("station" as const))),
  home: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "The home directory holding .moondream-station/config.json, read to find Station when it moved to another port (default: your home; ~ and paths relative to routing.yaml work)"
  }),
  discoverPort: Schema.Boolean.annotate({
    description: "When Station does not answer at url, look up the port it wrote to its config.json and use that"
  }).pipe(Schema.withDecodingDefaultType(Effect.succeed(true))),
  requestTimeout: Schema.optionalKey(RoutingSchema.Millis).annotate({
    description: "Sent to Station as its per-request `timeout` (its default is 30 s, too short for the first call that loads the model)"
  }),
  probeTimeout: RoutingSchema.Millis.annotate({
    description: "How long each step of the health probe may take"
  }).pipe(Schema.withDecodingDefaultType(Effect.succeed(3_000)))
})
export type MoondreamOptions = typeof MoondreamOptions.Type
