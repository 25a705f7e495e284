/**
 * The `ollama` backend's own keys in routing.yaml (besides type, url, timeouts, ...):
 *
 *   ollama:
 *     type: ollama
 *     url: "http://127.0.0.1:11434"
 *     keepAlive: 30m        # how long Ollama keeps a model loaded after a request
 *     autoPull: true        # pull a missing model, then retry the request once
 *     numCtx: 8192          # context window (Ollama's num_ctx)
 *     probeTimeout: 3s      # each step of the health probe
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { RoutingSchema } from "@local-router/core"

/**
 * Go duration syntax as Ollama parses it. A string without a unit is a 400 from the server
 * (unlike OLLAMA_KEEP_ALIVE), so it is rejected here, where the user can see the line.
 */
const GO_DURATION = /^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/

const keepAliveMessage = 'expected a duration like "5m", "1h30m", "-1m" (keep forever) or a number of seconds'

export const KeepAlive = Schema.Union([
  Schema.Number,
  Schema.String.check(Schema.isPattern(GO_DURATION, { message: keepAliveMessage }))
]).annotate({
  message: keepAliveMessage,
  description: "Ollama keep_alive: a Go duration (\"5m\", \"-1m\" = never unload, \"0s\" = unload at once) or seconds"
})

export const OllamaOptions = Schema.Struct({
  keepAlive: Schema.optionalKey(KeepAlive),
  autoPull: Schema.Boolean.annotate({
    description: "When a request names a model Ollama does not have, pull it and retry once"
  }).pipe(Schema.withDecodingDefaultType(Effect.succeed(false))),
  numCtx: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Context window in tokens (Ollama's num_ctx); unset leaves the server's default"
  }),
  probeTimeout: RoutingSchema.Millis.annotate({
    description: "How long each step of the health probe may take"
  }).pipe(Schema.withDecodingDefaultType(Effect.succeed(3_000)))
})
export type OllamaOptions = typeof OllamaOptions.Type
