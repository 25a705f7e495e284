/**
 * What a route's handler is given, and the request plumbing every dialect shares.
 *
 * Gateway.make builds one `Context` per gateway (the router, the running routing, metrics, the
 * request log, limits, what the app plugged in); a row of Routes.ts hands it to the row's
 * handler with the request, the time it arrived and the path's parameter. A handler is a plain
 * function made once, never a closure per request.
 *
 * A dialect's handler only translates: `routed` reads the JSON body under the size limit and
 * the routing snapshot, and answers a failure in the dialect's shape (counted in the metrics);
 * `exchange` is what Exchange needs to run one routed request. Neither is repeated per dialect.
 */
import type { Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Scope from "effect/Scope"
import type * as http from "node:http"
import type * as Actions from "./Actions.ts"
import * as AnthropicError from "./anthropic/AnthropicError.ts"
import * as ApiError from "./ApiError.ts"
import type * as Exchange from "./Exchange.ts"
import type * as Metrics from "./Metrics.ts"
import * as OllamaError from "./ollama/OllamaError.ts"
import * as OpenAiError from "./openai/OpenAiError.ts"
import * as RequestBody from "./RequestBody.ts"
import type * as RequestLog from "./RequestLog.ts"
import type * as RouteTable from "./RouteTable.ts"
import type * as Status from "./Status.ts"
import type * as StatusPage from "./StatusPage.ts"
import type * as VisionRoutes from "./vision/VisionRoutes.ts"

/** What every handler may use; one per gateway. */
export interface Context {
  readonly router: Router.Router
  /** The running routing (a `LiveRouting`): snapshots, reload. */
  readonly routing: Status.Routing
  readonly metrics: Metrics.Metrics
  /** Recent requests for the status page (never their text). */
  readonly log: RequestLog.RequestLog
  /** Largest request body accepted (413 above it). */
  readonly maxBodyBytes: number
  /** Known model names for an unknown-model error (read only when needed). */
  readonly known: Effect.Effect<ReadonlyArray<string>>
  /** When the gateway started, as model lists date their names: Unix seconds (OpenAI) and ISO text (Ollama, Anthropic). */
  readonly created: number
  readonly modifiedAt: string
  /** The `/status` JSON, rendered each time it is read. */
  readonly status: Effect.Effect<string>
  /** The supervisor's state, when the app has one. */
  readonly supervisor: Status.Provider | undefined
  /** The status page's files, read once. */
  readonly page: StatusPage.Assets
  /** packages/vision's service; the vision routes are 404 without it. */
  readonly vision: VisionRoutes.VisionService | undefined
  /** The status page's actions on the app's servers. */
  readonly actions: Actions.Actions | undefined
}

/** What the routes read of a request. */
export interface Incoming {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly source: http.IncomingMessage
  readonly sink: http.ServerResponse
}

/** A route's handler: the row's `handle`. `param` is the path's `{name}`, decoded. */
export type Handler = (ctx: Context, request: Incoming, started: number, param: string | undefined) => Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  ApiError.ApiError,
  Scope.Scope
>

/** A JSON body already written as text. */
export const json = (body: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(body, { contentType: "application/json; charset=utf-8" })

const nativeError = (error: ApiError.ApiError, headers?: Record<string, string>) =>
  HttpServerResponse.text(JSON.stringify({ error: { reason: error.reason, message: error.message } }), {
    status: ApiError.status(error.reason),
    contentType: "application/json",
    ...(headers ? { headers } : {})
  })

/** How a dialect renders an error. */
export const renderError = (dialect: RouteTable.Dialect) =>
  dialect === "openai"
    ? OpenAiError.response
    : dialect === "ollama"
    ? OllamaError.response
    : dialect === "anthropic"
    ? AnthropicError.response
    : nativeError

const exposed = "x-local-router-backend, x-local-router-model, x-local-router-attempts, server-timing, request-id, x-local-router-estimate"

/** The headers that let an allowed browser origin read an answer (CORS). */
export const corsHeaders = (origin: string): Record<string, string> => ({
  "access-control-allow-origin": origin,
  "access-control-expose-headers": exposed,
  vary: "origin"
})

/**
 * A routed request's start: its JSON body and the routing snapshot, handed to `decode`. A
 * failure anywhere is answered in the dialect's shape and counted under `endpoint`; a body too
 * large also closes the connection, so the rest of it is not read.
 */
export const routed = (
  ctx: Context,
  dialect: Exclude<RouteTable.Dialect, "native">,
  endpoint: string,
  request: Incoming,
  started: number,
  decode: (body: Record<string, unknown>, snapshot: Router.Snapshot) => Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope.Scope>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> =>
  Effect.gen(function*() {
    const body = yield* RequestBody.json(request.source, ctx.maxBodyBytes)
    const snapshot = yield* ctx.routing.snapshot
    return yield* decode(body, snapshot)
  }).pipe(
    Effect.catch((error) => {
      const response = renderError(dialect)(error)
      ctx.metrics.request(endpoint, response.status, (performance.now() - started) / 1000, (performance.now() - started) / 1000)
      return Effect.succeed(
        error.reason === "TooLarge" ? HttpServerResponse.setHeader(response, "connection", "close") : response
      )
    })
  )

/** What Exchange needs to run one request to the router and answer it in `dialect`. */
export const exchange = (
  ctx: Context,
  request: Incoming,
  dialect: Exclude<RouteTable.Dialect, "native">,
  endpoint: string,
  started: number,
  model: string
): Exchange.Context => ({
  response: request.sink,
  headers: request.headers.origin === undefined ? {} : corsHeaders(request.headers.origin),
  router: ctx.router,
  metrics: ctx.metrics,
  log: ctx.log,
  started,
  endpoint,
  error: renderError(dialect),
  known: ctx.known,
  model
})

/** `/v1/models/{id}` in a dialect's shape (`render` says undefined for a name it does not know: a 404 listing the names). */
export const model = (
  ctx: Context,
  id: string,
  render: (snapshot: Router.Snapshot) => Effect.Effect<string | undefined>
): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError> =>
  Effect.flatMap(Effect.flatMap(ctx.routing.snapshot, render), (body) =>
    body === undefined
      ? Effect.flatMap(ctx.known, (list) =>
        Effect.fail(new ApiError.ApiError({ reason: "UnknownModel", message: `model "${id}" not found: use a category or backend/model`, known: list })))
      : Effect.succeed(json(body)))

/** A listing read from the current snapshot, as JSON. */
export const fromSnapshot = (ctx: Context, render: (snapshot: Router.Snapshot) => Effect.Effect<string>): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.map(Effect.flatMap(ctx.routing.snapshot, render), json)
