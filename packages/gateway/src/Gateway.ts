/**
 * The gateway: local-router's HTTP front door. Any OpenAI or Ollama client pointed at it gets
 * routing, fallback and supervision, with a category (or `backend/model`) as its model.
 *
 *   const gateway = yield* Gateway.make({ router, routing: live, host: "127.0.0.1", port: 4141 })
 *   gateway.url // http://127.0.0.1:4141
 *
 * Invariants:
 * - It binds 127.0.0.1 by default and refuses any non-loopback host without a token; with a
 *   token every request must carry it (`Authorization: Bearer`).
 * - Every response comes from this module's own renderers: errors are JSON in the caller's
 *   dialect, never a stack trace; a defect is logged here and answered as a plain 500.
 * - The server, its connections and requests in flight live in the caller's scope: closing
 *   it stops listening and interrupts what is running (which aborts the upstream requests).
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { NodeHttp, type Router, type RoutingConfig } from "@local-router/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import type * as http from "node:http"
import type * as net from "node:net"
import * as Access from "./Access.ts"
import * as ApiError from "./ApiError.ts"
import * as Exchange from "./Exchange.ts"
import { GatewayError } from "./GatewayError.ts"
import * as Metrics from "./Metrics.ts"
import * as Catalog from "./Catalog.ts"
import * as Generation from "./ollama/Generation.ts"
import * as OllamaError from "./ollama/OllamaError.ts"
import * as Tags from "./ollama/Tags.ts"
import * as ChatCompletions from "./openai/ChatCompletions.ts"
import * as Models from "./openai/Models.ts"
import * as OpenAiError from "./openai/OpenAiError.ts"
import * as RequestBody from "./RequestBody.ts"
import * as Status from "./Status.ts"
import * as VisionRoutes from "./vision/VisionRoutes.ts"

export { GatewayError } from "./GatewayError.ts"

export interface Settings {
  /** Address to bind; default 127.0.0.1. Anything but loopback needs `token`. */
  readonly host?: string | undefined
  /** Port; default 4141; 0 = any free port (see `Gateway.address`). */
  readonly port?: number | undefined
  readonly token?: Redacted.Redacted<string> | undefined
  /** Browser origins allowed to call the gateway (`*` for any); CORS is off when absent. */
  readonly cors?: { readonly origins: ReadonlyArray<string> } | undefined
  /** Largest request body accepted (413 above it); default 32 MiB. */
  readonly maxBodyBytes?: number | undefined
}

export interface Options extends Settings {
  readonly router: Router.Router
  /** The running routing (a `LiveRouting` fits): for /v1/models, /api/tags and /status. */
  readonly routing: Status.Routing
  /** The supervisor's state for /status, when the app has one. */
  readonly status?: Status.Provider | undefined
  /** packages/vision's service, for /v1/vision/describe and /v1/vision/pdf (404 without it). */
  readonly vision?: VisionRoutes.VisionService | undefined
}

export interface Gateway {
  readonly address: { readonly host: string; readonly port: number }
  /** `http://host:port`, ready for a client's base URL (add `/v1` for OpenAI clients). */
  readonly url: string
  readonly metrics: Metrics.Metrics
}

export const Gateway = Context.GenericTag<Gateway>("@local-router/gateway/Gateway")

export const defaultHost = "127.0.0.1"
export const defaultPort = 4141
export const defaultMaxBodyBytes = 32 * 1024 * 1024

/**
 * The settings routing.yaml's `server:` block asks for. The token comes from the variable it
 * names (`token: env:NAME`), else from LOCAL_ROUTER_TOKEN.
 */
export const settingsFromConfig = (
  server: RoutingConfig.ServerConfig,
  env: Readonly<Record<string, string | undefined>> = process.env
): Either.Either<Settings, GatewayError> => {
  const fromFile = server.tokenEnv === undefined ? undefined : env[server.tokenEnv]
  if (server.tokenEnv !== undefined && !fromFile) {
    return Either.left(new GatewayError({
      reason: "TokenMissing",
      message: `routing.yaml sets server.token: env:${server.tokenEnv}, but ${server.tokenEnv} is not set`
    }))
  }
  const token = fromFile || env.LOCAL_ROUTER_TOKEN
  return Either.right({
    host: server.host,
    port: server.port,
    token: token ? Redacted.make(token) : undefined,
    cors: server.corsOrigins.length > 0 ? { origins: server.corsOrigins } : undefined,
    maxBodyBytes: server.maxBodyBytes
  })
}

type Dialect = "openai" | "ollama" | "native"

const dialectOf = (path: string): Dialect =>
  path.startsWith("/v1/") ? "openai" : path === "/health" || path === "/status" || path === "/metrics" ? "native" : "ollama"

const nativeError = (error: ApiError.ApiError, headers?: Record<string, string>) =>
  HttpServerResponse.text(JSON.stringify({ error: { reason: error.reason, message: error.message } }), {
    status: ApiError.status(error.reason),
    contentType: "application/json",
    ...(headers ? { headers } : {})
  })

const renderError = (dialect: Dialect) =>
  dialect === "openai" ? OpenAiError.response : dialect === "ollama" ? OllamaError.response : nativeError

const json = (body: string) => HttpServerResponse.text(body, { contentType: "application/json; charset=utf-8" })

const exposed = "x-local-router-backend, x-local-router-model, x-local-router-attempts, server-timing"

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
    const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
    const gate = options.token ? Access.bearer(options.token) : undefined
    const origins = options.cors ? new Set(options.cors.origins) : undefined
    const metrics = Metrics.make()
    const { router, routing } = options
    const startedAt = Date.now()
    const created = Math.floor(startedAt / 1000)
    const modifiedAt = new Date(startedAt).toISOString()

    const port = options.port ?? defaultPort
    const nodeServer = NodeHttp.createServer()
    yield* Effect.acquireRelease(
      Effect.async<void, GatewayError>((resume) => {
        const refused = (error: Error) =>
          resume(Effect.fail(new GatewayError({ reason: "Listen", message: `cannot listen on ${host}:${port}: ${describe(error)}` })))
        nodeServer.once("error", refused)
        nodeServer.listen(port, host, () => {
          nodeServer.off("error", refused)
          resume(Effect.void)
        })
      }),
      // Requests still running were interrupted just before (their fibers live in the scope
      // opened below); idle keep-alive connections are let go rather than waited for.
      () =>
        Effect.async<void>((resume) => {
          nodeServer.close(() => resume(Effect.void))
          nodeServer.closeAllConnections()
        })
    )
    const bound = nodeServer.address() as net.AddressInfo
    const url = `http://${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`

    const known = Effect.map(routing.snapshot, (snapshot) => Catalog.entries(snapshot).map((e) => e.id))

    const routed = (
      dialect: "openai" | "ollama",
      endpoint: string,
      request: Incoming,
      started: number,
      decode: (body: Record<string, unknown>, snapshot: Router.Snapshot) => Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope.Scope>
    ) =>
      Effect.gen(function*() {
        const body = yield* RequestBody.json(request.source, maxBodyBytes)
        const snapshot = yield* routing.snapshot
        return yield* decode(body, snapshot)
      }).pipe(
        Effect.catchAll((error) => {
          const response = renderError(dialect)(error)
          metrics.request(endpoint, response.status, (performance.now() - started) / 1000, (performance.now() - started) / 1000)
          return Effect.succeed(
            error.reason === "TooLarge" ? HttpServerResponse.setHeader(response, "connection", "close") : response
          )
        })
      )

    const exchange = (
      request: Incoming,
      dialect: "openai" | "ollama",
      endpoint: string,
      started: number,
      model: string
    ): Exchange.Context => ({
      response: request.sink,
      headers: cors(request) ?? {},
      router,
      metrics,
      started,
      endpoint,
      error: renderError(dialect),
      known,
      model
    })

    const chatCompletions = (request: Incoming, started: number) =>
      routed("openai", "openai_chat", request, started, (body, snapshot) =>
        Effect.flatMap(ChatCompletions.decode(body, snapshot), (decoded) => {
          const context = exchange(request, "openai", "openai_chat", started, decoded.model)
          return decoded.stream
            ? Exchange.stream(context, decoded.request, "text/event-stream", () => ChatCompletions.encoder(decoded.model, decoded.includeUsage))
            : Exchange.run(context, decoded.request, ChatCompletions.render(decoded.model))
        }))

    const generation = (kind: Generation.Kind, request: Incoming, started: number) =>
      routed("ollama", `ollama_${kind}`, request, started, (body, snapshot) =>
        Effect.flatMap(Generation.decode(kind, body, snapshot), (decoded) => {
          const context = exchange(request, "ollama", `ollama_${kind}`, started, decoded.model)
          if (decoded.load) {
            const line = Generation.loaded(kind, decoded.model)
            return Effect.succeed(
              decoded.stream
                ? HttpServerResponse.text(`${line}\n`, { contentType: "application/x-ndjson" })
                : json(line)
            )
          }
          return decoded.stream
            ? Exchange.stream(context, decoded.request, "application/x-ndjson", () => Generation.encoder(kind, decoded.model))
            : Exchange.run(context, decoded.request, Generation.render(kind, decoded.model))
        }))

    const visionRoute = (
      kind: "image" | "pdf",
      request: Incoming,
      started: number
    ): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope.Scope> => {
      const vision = options.vision
      if (!vision) {
        return Effect.fail(new ApiError.ApiError({ reason: "NotFound", message: "the vision endpoints are not enabled in this local-router" }))
      }
      const type = request.headers["content-type"]
      const form = type?.startsWith("multipart/form-data") ? VisionRoutes.multipart(request.source, kind, maxBodyBytes) : undefined
      if (form) {
        return Effect.flatMap(form, (input) =>
          kind === "image" ? VisionRoutes.describe(vision, input, started) : VisionRoutes.pdf(vision, input, started))
      }
      return Effect.flatMap(RequestBody.bytes(request.source, maxBodyBytes), (body) => {
        const q = request.url.indexOf("?")
        const input = VisionRoutes.upload(request.headers["content-type"], body, new URLSearchParams(q < 0 ? "" : request.url.slice(q + 1)), kind)
        if (Either.isLeft(input)) return Effect.fail(input.left)
        return kind === "image" ? VisionRoutes.describe(vision, input.right, started) : VisionRoutes.pdf(vision, input.right, started)
      }).pipe(
        Effect.tapBoth({
          onFailure: (error) => Effect.sync(() => metrics.request(`vision_${kind}`, ApiError.status(error.reason), (performance.now() - started) / 1000, 0)),
          onSuccess: (response) => Effect.sync(() => metrics.request(`vision_${kind}`, response.status, (performance.now() - started) / 1000, 0))
        })
      )
    }

    const notFound = (path: string) => new ApiError.ApiError({ reason: "NotFound", message: `no route for ${path}` })
    const wrongMethod = (method: string, path: string) =>
      new ApiError.ApiError({ reason: "MethodNotAllowed", message: `${method} is not allowed on ${path}` })

    const dispatch = (
      request: Incoming,
      path: string,
      started: number
    ): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope.Scope> => {
      const method = request.method
      const read = method === "GET" || method === "HEAD"
      if (method === "POST") {
        switch (path) {
          case "/v1/chat/completions":
            return chatCompletions(request, started)
          case "/api/chat":
            return generation("chat", request, started)
          case "/api/generate":
            return generation("generate", request, started)
          case "/v1/vision/describe":
            return visionRoute("image", request, started)
          case "/v1/vision/pdf":
            return visionRoute("pdf", request, started)
        }
      } else if (read) {
        switch (path) {
          case "/":
            return Effect.succeed(HttpServerResponse.text("Ollama is running", { contentType: "text/plain; charset=utf-8" }))
          case "/api/version":
            return Effect.succeed(json(JSON.stringify({ version: Tags.version })))
          case "/api/tags":
            return Effect.map(routing.snapshot, (snapshot) => json(Tags.tags(snapshot, modifiedAt)))
          case "/api/ps":
            // Models are loaded by the servers behind the router, not by the gateway; /status says more.
            return Effect.succeed(json(`{"models":[]}`))
          case "/v1/models":
            return Effect.map(routing.snapshot, (snapshot) => json(Models.list(snapshot, created)))
          case "/health":
            return Effect.succeed(json(`{"status":"ok"}`))
          case "/status":
            return Effect.map(
              Status.render({ routing, circuits: router.circuits, provider: options.status, gateway: { url, startedAt } }),
              json
            )
          case "/metrics":
            return Effect.flatMap(router.circuits, (circuits) => {
              metrics.breakers(circuits)
              return Effect.map(
                Effect.promise(() => metrics.render()),
                (text) => HttpServerResponse.text(text, { contentType: metrics.registry.contentType })
              )
            })
        }
        if (path.startsWith("/v1/models/")) {
          const id = decodeURIComponent(path.slice("/v1/models/".length))
          return Effect.flatMap(routing.snapshot, (snapshot) => {
            const body = Models.one(snapshot, id, created)
            return body === undefined
              ? Effect.flatMap(known, (list) =>
                Effect.fail(new ApiError.ApiError({ reason: "UnknownModel", message: `model "${id}" not found: use a category or backend/model`, known: list })))
              : Effect.succeed(json(body))
          })
        }
      }
      const exists = [
        "/v1/chat/completions", "/api/chat", "/api/generate", "/v1/vision/describe", "/v1/vision/pdf", "/", "/api/version", "/api/tags", "/api/ps", "/v1/models", "/health", "/status", "/metrics"
      ].includes(path)
      return Effect.fail(exists ? wrongMethod(method, path) : notFound(path))
    }

    const cors = (request: Incoming): Record<string, string> | undefined => {
      if (!origins) return undefined
      const origin = request.headers.origin
      if (origin === undefined || !(origins.has(origin) || origins.has("*"))) return undefined
      return { "access-control-allow-origin": origin, "access-control-expose-headers": exposed, vary: "origin" }
    }

    /** Every request, whichever way it came in: access, CORS, the route, and errors in the caller's dialect. */
    const respond = (request: Incoming, started: number): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> => {
      const raw = request.url
      const q = raw.indexOf("?")
      const path = q < 0 ? raw : raw.slice(0, q)
      const dialect = dialectOf(path)
      const allowed = cors(request)
      if (request.method === "OPTIONS" && origins) {
        // A preflight carries no credentials; it only learns what the real request may do.
        return Effect.succeed(HttpServerResponse.empty({
          status: 204,
          headers: allowed
            ? {
              ...allowed,
              "access-control-allow-methods": "GET, HEAD, POST, OPTIONS",
              "access-control-allow-headers": request.headers["access-control-request-headers"] ?? "authorization, content-type",
              "access-control-max-age": "600"
            }
            : {}
        }))
      }
      const refused = gate
        ? (gate.allows(request.headers.authorization) ? undefined : new ApiError.ApiError({
          reason: "Unauthorized",
          message: "missing or wrong token: send Authorization: Bearer <token>"
        }))
        : loopback && !Access.isLocalHostHeader(request.headers.host)
        ? new ApiError.ApiError({ reason: "Forbidden", message: "requests to a loopback-bound gateway must use a local Host name" })
        : undefined
      const handled: Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> = refused
        ? Effect.succeed(renderError(dialect)(refused))
        : dispatch(request, path, started).pipe(
          Effect.catchAll((error) => Effect.succeed(renderError(dialect)(error))),
          Effect.catchAllCause((cause) =>
            Effect.as(
              Effect.logError("gateway: unexpected failure", cause),
              renderError(dialect)(new ApiError.ApiError({ reason: "Internal", message: "local-router hit an internal error; see its log" }))
            )
          )
        )
      return allowed ? Effect.map(handled, (response) => HttpServerResponse.setHeaders(response, allowed)) : handled
    }

    // Each request is a fiber of the gateway's scope: closing the scope interrupts what is still
    // running (which aborts its upstream request), and a client that leaves interrupts its own.
    const runFork = yield* FiberSet.makeRuntime<never>()
    nodeServer.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const started = performance.now()
      const request: Incoming = {
        method: req.method ?? "GET",
        url: req.url ?? "/",
        headers: req.headers as Incoming["headers"],
        source: req,
        sink: res
      }
      const fiber = runFork(Effect.scoped(Effect.flatMap(respond(request, started), (response) => send(res, response))))
      res.on("close", () => {
        if (!res.writableEnded) fiber.unsafeInterruptAsFork(FiberId.none)
      })
    })

    return { address: { host: bound.address, port: bound.port }, url, metrics }
  })

/** What the routes read of a request. */
interface Incoming {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly source: http.IncomingMessage
  readonly sink: http.ServerResponse
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
      const drained = Exchange.drain(res)
      return body.stream.pipe(
        Stream.runForEach((chunk) => (res.write(chunk) || res.destroyed ? Effect.void : drained)),
        Effect.matchCauseEffect({
          onSuccess: () => Effect.sync(() => res.end()),
          onFailure: (cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.sync(() => res.destroy())
              : Effect.zipRight(Effect.logError("gateway: a response stream failed", cause), Effect.sync(() => res.destroy()))
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
export const layer = (options: Options): Layer.Layer<Gateway, GatewayError> => Layer.scoped(Gateway, make(options))

const describe = (cause: unknown): string => {
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message
  return Cause.isCause(cause) ? Cause.pretty(cause) : String(cause)
}
