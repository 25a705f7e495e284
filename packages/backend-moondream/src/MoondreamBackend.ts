/**
 * The `moondream` backend: Moondream Station on this machine, or the Moondream cloud API,
 * over plain HTTP through core's HttpCall and Sse reader.
 *
 * - It answers about images only (capabilities.text is false): caption for a Caption task or
 *   an image with no words, query for a question about an image. Detect and point are extra
 *   functions with typed results (`detect`, `point` below).
 * - Station reports failures as HTTP 200 with an `error` key; they are read before `Start`
 *   is emitted, so a refused request never looks like an accepted one.
 * - When Station does not answer at the configured URL, the port it wrote to its
 *   config.json is tried (port drift); once found there, requests go there until it moves.
 */
import { Backend, BackendError, Events, HttpCall } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import pkg from "../package.json" with { type: "json" }
import * as Answer from "./Answer.ts"
import * as Endpoint from "./Endpoint.ts"
import { MoondreamOptions } from "./MoondreamOptions.ts"
import * as Probe from "./Probe.ts"
import * as Spatial from "./Spatial.ts"

/** Captions and visual questions only: no tools, JSON schema, reasoning or embeddings on any Moondream endpoint. */
export const capabilities: Backend.Capabilities = {
  text: false,
  images: true,
  streaming: true,
  pull: false,
  tools: false,
  jsonSchema: false,
  reasoning: false,
  embeddings: false
}

/** A Backend with Moondream's spatial functions. */
export interface MoondreamBackend extends Backend.Backend {
  readonly detect: (request: Spatial.SpatialRequest) => Effect.Effect<Spatial.Detected, BackendError.BackendError>
  readonly point: (request: Spatial.SpatialRequest) => Effect.Effect<Spatial.Pointed, BackendError.BackendError>
}

export const isMoondream = (backend: Backend.Backend): backend is MoondreamBackend =>
  backend.type === "moondream" && typeof (backend as Partial<MoondreamBackend>).detect === "function"

const notMoondream = (backend: Backend.Backend) =>
  new BackendError.BackendError({ reason: "BadRequest", backend: backend.name, message: `${backend.name} is a ${backend.type} backend; detect and point need a moondream one` })

/** Bounding boxes of `object` in the image, as fractions of its size. */
export const detect = (backend: Backend.Backend, request: Spatial.SpatialRequest): Effect.Effect<Spatial.Detected, BackendError.BackendError> =>
  isMoondream(backend) ? backend.detect(request) : Effect.fail(notMoondream(backend))

/** Centre points of `object` in the image, as fractions of its size. */
export const point = (backend: Backend.Backend, request: Spatial.SpatialRequest): Effect.Effect<Spatial.Pointed, BackendError.BackendError> =>
  isMoondream(backend) ? backend.point(request) : Effect.fail(notMoondream(backend))

export const make = (context: Backend.MakeContext<MoondreamOptions>): Effect.Effect<MoondreamBackend, BackendError.BackendError> =>
  Effect.gen(function*() {
    const name = context.name
    const options = context.options
    const cloud = options.service === "cloud"
    if (cloud && context.apiKey === undefined) {
      return yield* new BackendError.BackendError({
        reason: "Auth",
        backend: name,
        message: context.apiKeyEnv === undefined
          ? `${name}: the Moondream cloud needs a key: add apiKey: env:MOONDREAM_API_KEY`
          : `${name}: the Moondream cloud needs a key, and ${context.apiKeyEnv} is not set`
      })
    }
    const configured = Endpoint.parse(context.url ?? (cloud ? Endpoint.DEFAULT_CLOUD_URL : Endpoint.DEFAULT_STATION_URL))
    // Where Station answers now (it drifts to another port when its own is taken).
    let current = configured
    const home = Endpoint.homeOf(options.home, context.configDir)
    const discover = !cloud && options.discoverPort
    const headers: Record<string, Redacted.Redacted<string>> = context.apiKey === undefined ? {} : { "X-Moondream-Auth": context.apiKey }
    // Station's own wait limit; the cloud keeps its own.
    const timeoutSeconds = cloud || options.requestTimeout === undefined ? undefined : options.requestTimeout / 1000

    /** Nothing answered at `endpoint`: move to where Station's config.json says it went, if it answers there. */
    const relocate = (endpoint: Endpoint.Endpoint, error: BackendError.BackendError) =>
      Effect.flatMap(Endpoint.rediscover(name, configured, endpoint, home), (found) =>
        Result.isSuccess(found)
          ? Effect.sync(() => {
            current = found.success
          }).pipe(
            Effect.andThen(Effect.logWarning(`${name}: Moondream Station answers on port ${found.success.port}, not ${endpoint.port}; using it`)),
            Effect.as(found.success)
          )
          : Effect.fail(new BackendError.BackendError({ reason: "Unreachable", backend: name, message: `${error.message}; ${found.failure}` })))

    const drifted = (error: BackendError.BackendError) => discover && error.reason === "Unreachable"

    /** Runs `use` at the current endpoint; when nothing answers there, once more where Station went. */
    const located = <A>(use: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, BackendError.BackendError>) =>
      Effect.suspend(() => {
        const endpoint = current
        return use(endpoint).pipe(Effect.catchIf(drifted, (error) => Effect.flatMap(relocate(endpoint, error), use)))
      })

    // No model in the call: Station ignores it, so a 404 is a wrong URL, never a missing model.
    const callFor = (endpoint: Endpoint.Endpoint, fn: string, body: unknown): HttpCall.Call => ({
      backend: name,
      url: `${endpoint.api}/${fn}`,
      headers,
      body
    })

    const generate = (request: Backend.GenerateRequest): Events.Events<Backend.GenerateEvent, BackendError.BackendError> => {
      const model = request.model
      const wire = Answer.toWire(name, request, timeoutSeconds)
      if (wire instanceof BackendError.BackendError) return Events.fail(wire)
      const endpoint = current
      return HttpCall.events(callFor(endpoint, wire.fn, wire.body), (reply) => Answer.reader(name, model, reply), {
        // Unreachable comes before any event, so asking again where Station went never repeats a token.
        retry: (error) => (drifted(error) ? Effect.map(relocate(endpoint, error), (found) => callFor(found, wire.fn, wire.body)) : undefined)
      })
    }

    const spatial = <A, I>(fn: "detect" | "point", schema: Schema.Codec<A, I>) =>
      (request: Spatial.SpatialRequest): Effect.Effect<A, BackendError.BackendError> =>
        located((endpoint) =>
          HttpCall.json(callFor(endpoint, fn, Spatial.wireBody(request, Answer.dataUrl(request.image), timeoutSeconds)))
        ).pipe(Effect.flatMap((body) => Spatial.decode(name, schema, body)))

    const models: Effect.Effect<ReadonlyArray<string>, BackendError.BackendError> = cloud
      ? Effect.succeed([])
      : located((endpoint) => HttpCall.json({ backend: name, url: `${endpoint.origin}/v1/models` })).pipe(Effect.map(Probe.modelIds))

    const probe: Effect.Effect<Backend.Probe> = Effect.gen(function*() {
      if (cloud) {
        // The cloud has no token-free health route we know of: reaching it is all we can check.
        const reached = yield* Effect.result(HttpCall.send({ backend: name, url: `${configured.origin}/`, headers }))
        return Result.isFailure(reached) && (reached.failure.reason === "Unreachable" || reached.failure.reason === "Timeout")
          ? Backend.Probe.Unreachable({ detail: reached.failure.message })
          : Backend.Probe.Ready({ models: [], loaded: [] })
      }
      const found = yield* Effect.result(located((endpoint) =>
        Effect.map(Endpoint.health(name, endpoint), (isStation) => ({ endpoint, isStation }))
      ))
      if (Result.isFailure(found)) {
        return found.failure.reason === "Unreachable" ? Backend.Probe.Unreachable({ detail: found.failure.message }) : Backend.Probe.Starting({ detail: found.failure.message })
      }
      const { endpoint, isStation } = found.success
      if (!isStation) return Backend.Probe.Unreachable({ detail: `${name}: something other than Moondream Station answers at ${endpoint.origin}` })
      return yield* Probe.station(name, endpoint, options.probeTimeout)
    })

    const ensureModel = (model: string): Stream.Stream<Backend.PullProgress, BackendError.BackendError> =>
      // Station picks and downloads its own model (`models switch` in its REPL); the model
      // named in routing.yaml is a label. Being reachable is all there is to ensure.
      Stream.fromEffect(Effect.map(models, (listed) => ({ status: listed.includes(model) ? "already present" : `Moondream serves ${listed.join(", ") || "its own model"}; it does not pull on request` })))

    return {
      name,
      type: "moondream",
      capabilities,
      probe,
      models,
      ensureModel,
      generate,
      detect: spatial("detect", Spatial.Detected),
      point: spatial("point", Spatial.Pointed)
    }
  })

export const definition: Backend.Definition<MoondreamOptions> = Backend.plugin({
  name: "moondream",
  contract: Backend.CONTRACT_VERSION,
  version: pkg.version,
  options: MoondreamOptions,
  // Station answers `Request timeout` itself after its 30 s wait limit; connect leaves room for it.
  timeouts: { connect: 45_000, firstToken: 60_000 },
  make,
  supervise: () => ({
    // An interactive REPL: it needs a stdin pipe that stays open (it loops on EOF) and stops
    // cleanly on SIGINT or the `exit` command (protocols.md §3.1).
    command: "moondream-station",
    args: [],
    port: Number(new URL(Endpoint.DEFAULT_STATION_URL).port),
    stdin: "pipe",
    stopSignal: "SIGINT",
    installHint: "pip install moondream-station"
  })
})
