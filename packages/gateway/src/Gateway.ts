/**
 * The gateway: local-router's HTTP front door. Any OpenAI or Ollama client pointed at it gets
 * routing, fallback and supervision, with a category (or `backend/model`) as its model.
 *
 *   const gateway = yield* Gateway.make({ router, routing: live, host: "127.0.0.1", port: 4141 })
 *   gateway.url // http://127.0.0.1:4141
 *
 * This module is the server: the bind rules, the node server and its limits, who may ask, and
 * `respond`, which matches the request against the route table (Routes.ts), checks its body's
 * type and runs the row's handler with the gateway's one `Handler.Context`.
 *
 * Invariants:
 * - It binds 127.0.0.1 by default and refuses any non-loopback host without a token; with a
 *   token every request must carry it (`Authorization: Bearer`).
 * - Every response is written here (`send`): errors are JSON in the route's dialect, never a
 *   stack trace; a defect is logged here and answered as a plain 500.
 * - The server, its connections and requests in flight live in the caller's scope: closing
 *   it stops listening and interrupts what is running (which aborts the upstream requests).
 */
import { NodeHttp, type Router } from "@local-router/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import type * as http from "node:http"
import type * as net from "node:net"
import * as Access from "./Access.ts"
import type * as Actions from "./Actions.ts"
import * as ApiError from "./ApiError.ts"
import * as Catalog from "./Catalog.ts"
import * as Connections from "./Connections.ts"
import * as Exchange from "./Exchange.ts"
import { GatewayError } from "./GatewayError.ts"
import * as Handler from "./Handler.ts"
import * as Metrics from "./Metrics.ts"
import * as RequestLog from "./RequestLog.ts"
import * as Routes from "./Routes.ts"
import * as RouteTable from "./RouteTable.ts"
import { defaultHost, defaultLimits, defaultMaxBodyBytes, defaultPort, type Limits, type Settings } from "./Settings.ts"
import * as Status from "./Status.ts"
import * as StatusPage from "./StatusPage.ts"
import type * as VisionRoutes from "./vision/VisionRoutes.ts"

export { GatewayError } from "./GatewayError.ts"
export { defaultHost, defaultLimits, defaultMaxBodyBytes, defaultPort, type Limits, type Settings, settingsFromConfig } from "./Settings.ts"

export interface Options extends Settings {
  readonly router: Router.Router
  /** The running routing (a `LiveRouting` fits): for /v1/models, /api/tags and /status. */
  readonly routing: Status.Routing
  /** The supervisor's state for /status, when the app has one. */
  readonly status?: Status.Provider | undefined
  /** packages/vision's service, for /v1/vision/describe and /v1/vision/pdf (404 without it). */
  readonly vision?: VisionRoutes.VisionService | undefined
  /** The status page's actions on the app's servers (restart, pull); reload comes from `routing`. */
  readonly actions?: Actions.Actions | undefined
  /** Every routed request as it finishes (serve writes them to its request log file). */
  readonly onRequest?: ((entry: RequestLog.Entry) => void) | undefined
}

export interface Gateway {
  readonly address: { readonly host: string; readonly port: number }
  /** `http://host:port`, ready for a client's base URL (add `/v1` for OpenAI clients). */
  readonly url: string
  readonly metrics: Metrics.Metrics
}

export const Gateway = Context.Service<Gateway>("@local-router/gateway/Gateway")

/** Bind, then serve until the scope closes. */
export const make = (options: Options): Effect.Effect<Gateway, GatewayError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? defaultHost
    const loopback = Access.isLoopback(host)
    if (!loopback && options.token === undefined) {
      return yield* new GatewayError({
        reason: "UnsafeBind",
        message: `refusing to listen on ${host} without a token: anything but 127.0.0.1, ::1 or localhost is reachable ` +
          `from the network. Set LOCAL_ROUTER_TOKEN (or server.token: env:NAME in routing.yaml), or bind 127.0.0.1.`
      })
    }
    const guard: Guard = {
      gate: options.token ? Access.bearer(options.token) : undefined,
      allowsOrigin: Access.origins([...Access.defaultOrigins, ...(options.origins ?? [])]),
      loopback
    }
    const metrics = Metrics.make()
    const log = RequestLog.make(50, options.onRequest)
    const { router, routing } = options
    const startedAt = Date.now()

    const { nodeServer, overLimit } = yield* listen(host, options.port ?? defaultPort, { ...defaultLimits, ...options.limits })
    const bound = nodeServer.address() as net.AddressInfo
    const url = `http://${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`

    const ctx: Handler.Context = {
      router,
      routing,
      metrics,
      log,
      maxBodyBytes: options.maxBodyBytes ?? defaultMaxBodyBytes,
      known: Effect.map(routing.snapshot, (snapshot) => Catalog.entries(snapshot).map((e) => e.id)),
      created: Math.floor(startedAt / 1000),
      modifiedAt: new Date(startedAt).toISOString(),
      status: Status.render({ routing, circuits: router.circuits, provider: options.status, gateway: { url, startedAt }, requests: log }),
      supervisor: options.status,
      page: StatusPage.assets(),
      vision: options.vision,
      actions: options.actions
    }

    // Each request is a fiber of the gateway's scope: closing the scope interrupts what is still
    // running (which aborts its upstream request), and a client that leaves interrupts its own.
    const runFork = yield* FiberSet.makeRuntime<never>()
    nodeServer.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const started = performance.now()
      if (overLimit(req.socket)) {
        res.destroy()
        return
      }
      try {
        const request: Handler.Incoming = {
          method: req.method ?? "GET",
          url: req.url ?? "/",
          headers: req.headers as Handler.Incoming["headers"],
          source: req,
          sink: res
        }
        const fiber = runFork(
          Effect.scoped(Effect.flatMap(respond(ctx, guard, request, started), (response) => send(res, response))).pipe(
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.void
                : Effect.andThen(Effect.logError("gateway: an answer could not be written", cause), Effect.sync(() => abandon(res)))
            )
          )
        )
        res.on("close", () => {
          if (!res.writableEnded) fiber.interruptUnsafe()
        })
      } catch (defect) {
        // Nothing above should throw; if it ever does, this request fails alone and serve goes on.
        runFork(Effect.logError("gateway: a request could not be started", Cause.die(defect)))
        abandon(res)
      }
    })

    return { address: { host: bound.address, port: bound.port }, url, metrics }
  })

/**
 * The node server with its limits, listening on host:port until the scope closes. Requests
 * still running then were interrupted just before (their fibers live in a scope opened after
 * this one); idle keep-alive connections are let go rather than waited for.
 */
const listen = (host: string, port: number, limits: Limits) =>
  Effect.gen(function*() {
    const nodeServer = NodeHttp.createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // How often the timeouts above are checked (Node's default, 30 s, would let a slow-loris
      // client hold its connection up to 30 s past them).
      connectionsCheckingInterval: 1_000
    })
    nodeServer.maxConnections = limits.maxConnections
    const overLimit = Connections.limitPerClient(nodeServer, limits.maxConnectionsPerClient)
    yield* Effect.acquireRelease(
      Effect.callback<void, GatewayError>((resume) => {
        const refused = (error: Error) =>
          resume(Effect.fail(new GatewayError({ reason: "Listen", message: `cannot listen on ${host}:${port}: ${describe(error)}` })))
        nodeServer.once("error", refused)
        nodeServer.listen(port, host, () => {
          nodeServer.off("error", refused)
          resume(Effect.void)
        })
      }),
      () =>
        Effect.callback<void>((resume) => {
          nodeServer.close(() => resume(Effect.void))
          nodeServer.closeAllConnections()
        })
    )
    return { nodeServer, overLimit }
  })

/** Who may ask: the token's gate, the allowed browser origins, and whether the bind is loopback. */
interface Guard {
  readonly gate: Access.Gate | undefined
  readonly allowsOrigin: (origin: string) => boolean
  readonly loopback: boolean
}

/** Who may make this request: a browser origin, the token, the Host name. Undefined when allowed. */
const refusal = (guard: Guard, request: Handler.Incoming, path: string, open: boolean): ApiError.ApiError | undefined => {
  const origin = request.headers.origin
  if (origin !== undefined && !guard.allowsOrigin(origin)) {
    return new ApiError.ApiError({
      reason: "Forbidden",
      message: `requests from the browser origin ${clip(origin)} are not allowed: add it to server.origins in routing.yaml to let that web app in`
    })
  }
  if (guard.gate && !open) {
    return guard.gate.allows(request.headers.authorization) || guard.gate.allowsKey(request.headers["x-api-key"]) ? undefined : new ApiError.ApiError({
      reason: "Unauthorized",
      message: "missing or wrong token: send Authorization: Bearer <token> (or x-api-key: <token>)"
    })
  }
  return !guard.gate && guard.loopback && !Access.isLocalHostHeader(request.headers.host)
    ? new ApiError.ApiError({ reason: "Forbidden", message: `requests to a loopback-bound gateway must use a local Host name (${clip(path)})` })
    : undefined
}

/**
 * Every request, whichever way it came in: who may ask, the route from the table, the body's
 * type, then the route's handler; errors in the route's dialect. Everything runs inside the
 * effect, so nothing a request carries can throw out of the node server.
 */
const respond = (
  ctx: Handler.Context,
  guard: Guard,
  request: Handler.Incoming,
  started: number
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> => {
  const raw = request.url
  const q = raw.indexOf("?")
  const path = q < 0 ? raw : raw.slice(0, q)
  const origin = request.headers.origin
  let dialect = RouteTable.dialectOf(path)
  const handled = Effect.suspend((): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope.Scope> => {
    const match = Routes.table.match(request.method, path)
    dialect = match._tag === "Found" ? match.route.dialect : match.dialect
    const refused = refusal(guard, request, path, match._tag === "Found" && match.route.open === true)
    if (refused) {
      return Effect.andThen(
        Effect.logWarning(`gateway: refused ${clip(request.method)} ${clip(path)}: ${refused.message}`),
        Effect.fail(refused)
      )
    }
    if (request.method === "OPTIONS") return Effect.succeed(preflight(request, path))
    switch (match._tag) {
      case "NotFound":
        return Effect.fail(new ApiError.ApiError({ reason: "NotFound", message: `no route for ${clip(path)}` }))
      case "WrongMethod":
        return Effect.fail(new ApiError.ApiError({ reason: "MethodNotAllowed", message: `${clip(request.method)} is not allowed on ${path}; use ${match.allow}` }))
      case "BadPath":
        return Effect.fail(ApiError.invalid(match.message))
    }
    const wrongType = RouteTable.refusedType(match.route.body, request.headers["content-type"])
    if (wrongType) return Effect.fail(new ApiError.ApiError({ reason: "UnsupportedMediaType", message: wrongType }))
    return match.route.handle(ctx, request, started, match.param)
  }).pipe(
    Effect.catch((error) => Effect.succeed(withAllow(Handler.renderError(dialect)(error), error, Routes.table.allow(path)))),
    Effect.catchCause((cause) =>
      Effect.as(
        Effect.logError("gateway: unexpected failure", cause),
        Handler.renderError(dialect)(new ApiError.ApiError({ reason: "Internal", message: "local-router hit an internal error; see its log" }))
      )
    )
  )
  // An allowed browser origin may read the answer (CORS); a refused one was answered 403 above.
  return origin !== undefined && guard.allowsOrigin(origin)
    ? Effect.map(handled, (response) => HttpServerResponse.setHeaders(response, Handler.corsHeaders(origin)))
    : handled
}

/** OPTIONS: what the path allows; for a browser's preflight, what the real request may do. */
const preflight = (request: Handler.Incoming, path: string): HttpServerResponse.HttpServerResponse => {
  const allow = Routes.table.allow(path)
  if (allow === undefined) return Handler.renderError(RouteTable.dialectOf(path))(new ApiError.ApiError({ reason: "NotFound", message: `no route for ${clip(path)}` }))
  const asked = request.headers["access-control-request-headers"]
  return HttpServerResponse.empty({
    status: 204,
    headers: request.headers.origin === undefined ? { allow } : {
      allow,
      "access-control-allow-methods": allow,
      "access-control-allow-headers": asked !== undefined && /^[\w!#$%&'*+.^`|~, -]{0,1024}$/.test(asked) ? asked : "authorization, content-type",
      "access-control-max-age": "600"
    }
  })
}

/** At most 200 characters of something a client sent, for a message or a log line. */
const clip = (text: string): string => (text.length > 200 ? `${text.slice(0, 200)}...` : text)

/** A 405 says which methods the path takes. */
const withAllow = (response: HttpServerResponse.HttpServerResponse, error: ApiError.ApiError, allow: string | undefined) =>
  error.reason === "MethodNotAllowed" && allow !== undefined ? HttpServerResponse.setHeader(response, "allow", allow) : response

/** The last resort for a request whose answer failed to be written: a plain 500, or a cut connection. */
const abandon = (res: http.ServerResponse): void => {
  try {
    if (res.headersSent || res.destroyed) res.destroy()
    else {
      res.writeHead(500, { "content-type": "application/json", connection: "close" })
      res.end(`{"error":{"message":"local-router hit an internal error; see its log","type":"server_error"}}`)
    }
  } catch {
    res.destroy()
  }
}

/**
 * Write one of the gateway's responses to the node response, unless it was written already (a
 * routed stream writes its own frames). A body stream (the PDF route's NDJSON) is written chunk
 * by chunk, waiting for the client's socket when it is full; if it fails, the connection is cut
 * so the answer cannot look complete.
 */
const send = (res: http.ServerResponse, response: HttpServerResponse.HttpServerResponse): Effect.Effect<void> => {
  if (res.writableEnded || res.destroyed) return Effect.void
  const body = response.body
  const headers: Record<string, string> = { ...response.headers }
  switch (body._tag) {
    case "Uint8Array":
      headers["content-type"] = body.contentType
      headers["content-length"] = String(body.body.length)
      res.writeHead(response.status, headers)
      res.end(body.body)
      return Effect.void
    case "Empty":
      res.writeHead(response.status, headers)
      res.end()
      return Effect.void
    case "Stream": {
      headers["content-type"] = body.contentType
      if (body.contentLength !== undefined) headers["content-length"] = String(body.contentLength)
      res.writeHead(response.status, headers)
      // A HEAD gets the headers alone: Node drops a HEAD's body writes and would hold the
      // headers until the end, which an event stream (/status/events) never reaches.
      if (res.req.method === "HEAD") {
        res.end()
        return Effect.void
      }
      const drained = Exchange.drain(res)
      return body.stream.pipe(
        Stream.runForEach((chunk) => (res.write(chunk) || res.destroyed ? Effect.void : drained)),
        Effect.matchCauseEffect({
          onSuccess: () => Effect.sync(() => res.end()),
          onFailure: (cause) =>
            Cause.hasInterruptsOnly(cause)
              ? Effect.sync(() => res.destroy())
              : Effect.andThen(Effect.logError("gateway: a response stream failed", cause), Effect.sync(() => res.destroy()))
        })
      )
    }
    default:
      res.writeHead(500, { "content-type": "application/json" })
      res.end(`{"error":{"message":"local-router hit an internal error: a ${body._tag} body it cannot send"}}`)
      return Effect.void
  }
}

/** The gateway as a layer; it listens while the layer is in use. */
export const layer = (options: Options): Layer.Layer<Gateway, GatewayError> => Layer.effect(Gateway, make(options))

const describe = (cause: unknown): string => {
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message
  return Cause.isCause(cause) ? Cause.pretty(cause) : String(cause)
}
