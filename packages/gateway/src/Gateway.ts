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
import { NodeHttp, type Router, type RoutingConfig } from "@local-router/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import type * as http from "node:http"
import type * as net from "node:net"
import * as Access from "./Access.ts"
import * as Actions from "./Actions.ts"
import * as AnthropicError from "./anthropic/AnthropicError.ts"
import * as CountTokens from "./anthropic/CountTokens.ts"
import * as Messages from "./anthropic/Messages.ts"
import * as AnthropicModels from "./anthropic/Models.ts"
import * as MessagesRequest from "./anthropic/MessagesRequest.ts"
import * as ApiError from "./ApiError.ts"
import * as Exchange from "./Exchange.ts"
import { GatewayError } from "./GatewayError.ts"
import * as Health from "./Health.ts"
import * as Metrics from "./Metrics.ts"
import * as Catalog from "./Catalog.ts"
import * as Connections from "./Connections.ts"
import * as Embed from "./ollama/Embed.ts"
import * as Generation from "./ollama/Generation.ts"
import * as OllamaError from "./ollama/OllamaError.ts"
import * as Tags from "./ollama/Tags.ts"
import * as ChatCompletions from "./openai/ChatCompletions.ts"
import * as Embeddings from "./openai/Embeddings.ts"
import * as Models from "./openai/Models.ts"
import * as OpenAiError from "./openai/OpenAiError.ts"
import * as RequestBody from "./RequestBody.ts"
import * as RequestLog from "./RequestLog.ts"
import * as RouteTable from "./RouteTable.ts"
import * as Status from "./Status.ts"
import * as StatusPage from "./StatusPage.ts"
import * as VisionRoutes from "./vision/VisionRoutes.ts"

export { GatewayError } from "./GatewayError.ts"

export interface Settings {
  /** Address to bind; default 127.0.0.1. Anything but loopback needs `token`. */
  readonly host?: string | undefined
  /** Port; default 4141; 0 = any free port (see `Gateway.address`). */
  readonly port?: number | undefined
  readonly token?: Redacted.Redacted<string> | undefined
  /**
   * Browser origins allowed besides `Access.defaultOrigins` (this machine's pages, desktop apps),
   * exact or with `*` (`["*"]` for any). A request carrying any other `Origin` is refused (403).
   */
  readonly origins?: ReadonlyArray<string> | undefined
  /** Largest request body accepted (413 above it); default 32 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** Connection limits; each omitted one keeps its default (`defaultLimits`). */
  readonly limits?: Partial<Limits> | undefined
}

/** What one client's connections may cost serve. */
export interface Limits {
  /** A request's line and headers must arrive within this, or it gets 408 and is closed (slow-loris). */
  readonly headersTimeoutMs: number
  /** The whole request, body included, must arrive within this (a slow upload); answers may take longer. */
  readonly requestTimeoutMs: number
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number
  /** Largest request line plus headers; more is 431. */
  readonly maxHeaderBytes: number
  /** Open connections one client address may hold; past it a new one is answered 503 and closed. */
  readonly maxConnectionsPerClient: number
  /** Open connections in all; past it a new one is closed at once. */
  readonly maxConnections: number
}

export const defaultLimits: Limits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
  maxConnectionsPerClient: 128,
  maxConnections: 512
}

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
): Result.Result<Settings, GatewayError> => {
  const fromFile = server.tokenEnv === undefined ? undefined : env[server.tokenEnv]
  if (server.tokenEnv !== undefined && !fromFile) {
    return Result.fail(new GatewayError({
      reason: "TokenMissing",
      message: `routing.yaml sets server.token: env:${server.tokenEnv}, but ${server.tokenEnv} is not set`
    }))
  }
  const token = fromFile || env.LOCAL_ROUTER_TOKEN
  return Result.succeed({
    host: server.host,
    port: server.port,
    token: token ? Redacted.make(token) : undefined,
    origins: server.origins,
    limits: server.limits,
    maxBodyBytes: server.maxBodyBytes
  })
}

const nativeError = (error: ApiError.ApiError, headers?: Record<string, string>) =>
  HttpServerResponse.text(JSON.stringify({ error: { reason: error.reason, message: error.message } }), {
    status: ApiError.status(error.reason),
    contentType: "application/json",
    ...(headers ? { headers } : {})
  })

const renderError = (dialect: RouteTable.Dialect) =>
  dialect === "openai"
    ? OpenAiError.response
    : dialect === "ollama"
    ? OllamaError.response
    : dialect === "anthropic"
    ? AnthropicError.response
    : nativeError

const json = (body: string) => HttpServerResponse.text(body, { contentType: "application/json; charset=utf-8" })

const exposed = "x-local-router-backend, x-local-router-model, x-local-router-attempts, server-timing, request-id, x-local-router-estimate"

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
    const allowsOrigin = Access.origins([...Access.defaultOrigins, ...(options.origins ?? [])])
    const limits = { ...defaultLimits, ...options.limits }
    const metrics = Metrics.make()
    const log = RequestLog.make(50, options.onRequest)
    const { router, routing } = options
    const startedAt = Date.now()
    const created = Math.floor(startedAt / 1000)
    const modifiedAt = new Date(startedAt).toISOString()

    const port = options.port ?? defaultPort
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
      // Requests still running were interrupted just before (their fibers live in the scope
      // opened below); idle keep-alive connections are let go rather than waited for.
      () =>
        Effect.callback<void>((resume) => {
          nodeServer.close(() => resume(Effect.void))
          nodeServer.closeAllConnections()
        })
    )
    const bound = nodeServer.address() as net.AddressInfo
    const url = `http://${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`

    const known = Effect.map(routing.snapshot, (snapshot) => Catalog.entries(snapshot).map((e) => e.id))

    const routed = (
      dialect: Exclude<RouteTable.Dialect, "native">,
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
        Effect.catch((error) => {
          const response = renderError(dialect)(error)
          metrics.request(endpoint, response.status, (performance.now() - started) / 1000, (performance.now() - started) / 1000)
          return Effect.succeed(
            error.reason === "TooLarge" ? HttpServerResponse.setHeader(response, "connection", "close") : response
          )
        })
      )

    const exchange = (
      request: Incoming,
      dialect: Exclude<RouteTable.Dialect, "native">,
      endpoint: string,
      started: number,
      model: string
    ): Exchange.Context => ({
      response: request.sink,
      headers: request.headers.origin === undefined ? {} : corsHeaders(request.headers.origin),
      router,
      metrics,
      log,
      started,
      endpoint,
      error: renderError(dialect),
      known,
      model
    })

    const chatCompletions = (request: Incoming, started: number) =>
      routed("openai", "openai_chat", request, started, (body, snapshot) =>
        Effect.flatMap(Effect.fromResult(ChatCompletions.decode(body, snapshot)), (decoded) => {
          const context = exchange(request, "openai", "openai_chat", started, decoded.model)
          return decoded.stream
            ? Exchange.stream(context, decoded.request, "text/event-stream", () => ChatCompletions.encoder(decoded.model, decoded.includeUsage))
            : Exchange.run(context, decoded.request, ChatCompletions.render(decoded.model))
        }))

    const embeddings = (request: Incoming, started: number) =>
      routed("openai", "openai_embeddings", request, started, (body, snapshot) =>
        Effect.flatMap(Effect.fromResult(Embeddings.decode(body, snapshot)), (decoded) => {
          const context = exchange(request, "openai", "openai_embeddings", started, decoded.model)
          return Exchange.whole(context, router.embed(decoded.request), Embeddings.render(decoded.model, decoded.base64))
        }))

    const embed = (kind: Embed.Kind, request: Incoming, started: number) =>
      routed("ollama", `ollama_${kind}`, request, started, (body, snapshot) =>
        Effect.flatMap(Effect.fromResult(Embed.decode(kind, body, snapshot)), (decoded) => {
          if (decoded.empty) return Effect.succeed(json(Embed.empty(kind, decoded.model)))
          const context = exchange(request, "ollama", `ollama_${kind}`, started, decoded.model)
          return Exchange.whole(context, router.embed(decoded.request), Embed.render(kind, decoded.model))
        }))

    /** `/api/show`: what a category or backend/model can do; `name` is what older clients send. */
    const show = (request: Incoming, started: number) =>
      routed("ollama", "ollama_show", request, started, (body, snapshot) => {
        const id = typeof body.model === "string" && body.model !== "" ? body.model : body.name
        if (typeof id !== "string" || id === "") return Effect.fail(ApiError.invalid("model is required"))
        return Effect.flatMap(Tags.show(router, snapshot, id, modifiedAt), (answer) =>
          answer === undefined
            ? Effect.flatMap(known, (list) =>
              Effect.fail(new ApiError.ApiError({ reason: "UnknownModel", message: `model "${id}" not found: use a category (${list.join(", ")}) or backend/model`, known: list })))
            : Effect.succeed(json(answer)))
      })

    const generation = (kind: Generation.Kind, request: Incoming, started: number) =>
      routed("ollama", `ollama_${kind}`, request, started, (body, snapshot) =>
        Effect.flatMap(Effect.fromResult(Generation.decode(kind, body, snapshot)), (decoded) => {
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
            ? Exchange.stream(context, decoded.request, "application/x-ndjson", (routedTo) => Generation.encoder(kind, decoded.model, routedTo.backend))
            : Exchange.run(context, decoded.request, Generation.render(kind, decoded.model))
        }))

    const messages = (request: Incoming, started: number) =>
      routed("anthropic", "anthropic_messages", request, started, (body, snapshot) =>
        Effect.flatMap(Effect.fromResult(MessagesRequest.decode(body, snapshot)), (decoded) => {
          const context = exchange(request, "anthropic", "anthropic_messages", started, decoded.model)
          return decoded.stream
            ? Exchange.stream(context, decoded.request, "text/event-stream; charset=utf-8", (routedTo) => Messages.encoder(decoded.model, routedTo))
            : Exchange.run(context, decoded.request, Messages.render(decoded.model))
        }))

    const countTokens = (request: Incoming, started: number) =>
      routed("anthropic", "anthropic_count_tokens", request, started, (body, snapshot) =>
        Effect.flatMap(known, (names) =>
          Effect.map(Effect.fromResult(CountTokens.count(body, snapshot, names)), (counted) => {
            metrics.request("anthropic_count_tokens", 200, (performance.now() - started) / 1000, (performance.now() - started) / 1000)
            return HttpServerResponse.text(counted, {
              contentType: "application/json; charset=utf-8",
              headers: { [CountTokens.estimateHeader]: CountTokens.method }
            })
          })))

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
          kind === "image" ? VisionRoutes.describe(vision, input, started, log) : VisionRoutes.pdf(vision, input, started, log))
      }
      return Effect.flatMap(RequestBody.bytes(request.source, maxBodyBytes), (body) => {
        const q = request.url.indexOf("?")
        const input = VisionRoutes.upload(request.headers["content-type"], body, new URLSearchParams(q < 0 ? "" : request.url.slice(q + 1)), kind)
        if (Result.isFailure(input)) return Effect.fail(input.failure)
        return kind === "image" ? VisionRoutes.describe(vision, input.success, started, log) : VisionRoutes.pdf(vision, input.success, started, log)
      }).pipe(
        Effect.tapError((error) => Effect.sync(() => metrics.request(`vision_${kind}`, ApiError.status(error.reason), (performance.now() - started) / 1000, 0))),
        Effect.tap((response) => Effect.sync(() => metrics.request(`vision_${kind}`, response.status, (performance.now() - started) / 1000, 0)))
      )
    }

    const read = (body: string) => (): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope.Scope> =>
      Effect.succeed(json(body))
    const fromSnapshot = (render: (snapshot: Router.Snapshot) => Effect.Effect<string>) => () =>
      Effect.map(Effect.flatMap(routing.snapshot, render), json)

    const statusJson = Status.render({ routing, circuits: router.circuits, provider: options.status, gateway: { url, startedAt }, requests: log })
    const page = StatusPage.assets()
    const asset = (pick: (assets: StatusPage.Assets) => StatusPage.Asset | undefined) => (request: Incoming) => {
      const found = pick(page)
      return found
        ? Effect.succeed(StatusPage.serve(found, request.headers["accept-encoding"]))
        : Effect.fail(new ApiError.ApiError({ reason: "NotFound", message: "the status page was not built into this local-router (run ./run setup)" }))
    }

    const action = (kind: Actions.Kind) => (request: Incoming) => {
      const refused = Actions.refusal(request.headers)
      if (refused) {
        return Effect.andThen(
          Effect.logWarning(`gateway: refused the ${kind} action: ${refused}`),
          Effect.fail(new ApiError.ApiError({ reason: "Forbidden", message: refused }))
        )
      }
      return Effect.flatMap(RequestBody.json(request.source, 64 * 1024), (body) => Actions.run(kind, body, options.actions, routing.reload))
    }

    const table = RouteTable.make<Handler>([
      { method: "POST", path: "/v1/chat/completions", dialect: "openai", body: "json", handle: chatCompletions },
      { method: "POST", path: "/v1/messages", dialect: "anthropic", body: "json", handle: messages },
      { method: "POST", path: "/v1/messages/count_tokens", dialect: "anthropic", body: "json", handle: countTokens },
      // Anthropic's SDKs share this path and always send anthropic-version; they get Anthropic's shape.
      {
        method: "GET", path: "/v1/models", dialect: "openai", body: "none",
        handle: (request) =>
          AnthropicModels.wanted(request.headers)
            ? fromSnapshot((snapshot) => AnthropicModels.list(router, snapshot, modifiedAt))()
            : fromSnapshot((snapshot) => Models.list(router, snapshot, created))()
      },
      { method: "GET", path: "/v1/models/{id}", dialect: "openai", body: "none", handle: (request, _started, id = "") => model(id, AnthropicModels.wanted(request.headers)) },
      { method: "POST", path: "/v1/embeddings", dialect: "openai", body: "json", handle: embeddings },
      { method: "POST", path: "/v1/vision/describe", dialect: "openai", body: "upload", handle: (request, started) => visionRoute("image", request, started) },
      { method: "POST", path: "/v1/vision/pdf", dialect: "openai", body: "upload", handle: (request, started) => visionRoute("pdf", request, started) },
      {
        method: "GET", path: "/", dialect: "ollama", body: "none",
        // A person's browser goes to the status page; Ollama's clients (no text/html) get Ollama's answer.
        handle: (request) =>
          Effect.succeed(
            StatusPage.wantsHtml(request.headers.accept)
              ? HttpServerResponse.empty({ status: 302, headers: { location: "/ui" } })
              : HttpServerResponse.text("Ollama is running", { contentType: "text/plain; charset=utf-8" })
          )
      },
      { method: "GET", path: "/api/version", dialect: "ollama", body: "none", handle: read(JSON.stringify({ version: Tags.version })) },
      { method: "GET", path: "/api/tags", dialect: "ollama", body: "none", handle: fromSnapshot((snapshot) => Tags.tags(router, snapshot, modifiedAt)) },
      // Models are loaded by the servers behind the router, not by the gateway; /status says more.
      { method: "GET", path: "/api/ps", dialect: "ollama", body: "none", handle: read(`{"models":[]}`) },
      { method: "POST", path: "/api/chat", dialect: "ollama", body: "json", handle: (request, started) => generation("chat", request, started) },
      { method: "POST", path: "/api/generate", dialect: "ollama", body: "json", handle: (request, started) => generation("generate", request, started) },
      { method: "POST", path: "/api/embed", dialect: "ollama", body: "json", handle: (request, started) => embed("embed", request, started) },
      { method: "POST", path: "/api/embeddings", dialect: "ollama", body: "json", handle: (request, started) => embed("embeddings", request, started) },
      { method: "POST", path: "/api/show", dialect: "ollama", body: "json", handle: show },
      { method: "GET", path: "/health", dialect: "native", body: "none", handle: health },
      {
        method: "GET", path: "/status", dialect: "native", body: "none",
        handle: () => Effect.map(statusJson, json)
      },
      { method: "GET", path: "/status/events", dialect: "native", body: "none", handle: () => Effect.succeed(StatusPage.events(statusJson)) },
      { method: "GET", path: "/ui", dialect: "native", body: "none", open: true, handle: asset((assets) => assets.page) },
      { method: "GET", path: "/ui/app.js", dialect: "native", body: "none", open: true, handle: asset((assets) => assets.script) },
      { method: "POST", path: "/actions/restart", dialect: "native", body: "json", handle: action("restart") },
      { method: "POST", path: "/actions/pull", dialect: "native", body: "json", handle: action("pull") },
      { method: "POST", path: "/actions/reload", dialect: "native", body: "json", handle: action("reload") },
      { method: "GET", path: "/metrics", dialect: "native", body: "none", handle: scrape }
    ])

    function model(id: string, anthropic: boolean) {
      const one = (snapshot: Router.Snapshot) => anthropic ? AnthropicModels.one(router, snapshot, id, modifiedAt) : Models.one(router, snapshot, id, created)
      const found = Effect.flatMap(Effect.flatMap(routing.snapshot, one), (body) => {
        return body === undefined
          ? Effect.flatMap(known, (list) =>
            Effect.fail(new ApiError.ApiError({ reason: "UnknownModel", message: `model "${id}" not found: use a category or backend/model`, known: list })))
          : Effect.succeed(json(body))
      })
      // The route speaks OpenAI; an Anthropic client's 404 is in its own shape.
      return anthropic ? Effect.catch(found, (error) => Effect.succeed(AnthropicError.response(error))) : found
    }

    function health() {
      return Effect.map(Health.check({ snapshot: routing.snapshot, circuits: router.circuits, provider: options.status }), (h) =>
        HttpServerResponse.text(JSON.stringify(h), { status: Health.httpStatus(h.status), contentType: "application/json; charset=utf-8" }))
    }

    function scrape() {
      return Effect.flatMap(router.circuits, (circuits) => {
        metrics.breakers(circuits)
        return Effect.map(
          Effect.promise(() => metrics.render()),
          (text) => HttpServerResponse.text(text, { contentType: metrics.registry.contentType })
        )
      })
    }

    /** Who may make this request: a browser origin, the token, the Host name. Undefined when allowed. */
    const refusal = (request: Incoming, path: string, open: boolean): ApiError.ApiError | undefined => {
      const origin = request.headers.origin
      if (origin !== undefined && !allowsOrigin(origin)) {
        return new ApiError.ApiError({
          reason: "Forbidden",
          message: `requests from the browser origin ${clip(origin)} are not allowed: add it to server.origins in routing.yaml to let that web app in`
        })
      }
      if (gate && !open) {
        return gate.allows(request.headers.authorization) || gate.allowsKey(request.headers["x-api-key"]) ? undefined : new ApiError.ApiError({
          reason: "Unauthorized",
          message: "missing or wrong token: send Authorization: Bearer <token> (or x-api-key: <token>)"
        })
      }
      return !gate && loopback && !Access.isLocalHostHeader(request.headers.host)
        ? new ApiError.ApiError({ reason: "Forbidden", message: `requests to a loopback-bound gateway must use a local Host name (${clip(path)})` })
        : undefined
    }

    /**
     * Every request, whichever way it came in: who may ask, the route from the table, the body's
     * type, then the route's handler; errors in the route's dialect. Everything runs inside the
     * effect, so nothing a request carries can throw out of the node server.
     */
    const respond = (request: Incoming, started: number): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> => {
      const raw = request.url
      const q = raw.indexOf("?")
      const path = q < 0 ? raw : raw.slice(0, q)
      const origin = request.headers.origin
      let dialect = RouteTable.dialectOf(path)
      const handled = Effect.suspend((): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope.Scope> => {
        const match = table.match(request.method, path)
        dialect = match._tag === "Found" ? match.route.dialect : match.dialect
        const refused = refusal(request, path, match._tag === "Found" && match.route.open === true)
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
        return match.route.handle(request, started, match.param)
      }).pipe(
        Effect.catch((error) => Effect.succeed(withAllow(renderError(dialect)(error), error, table.allow(path)))),
        Effect.catchCause((cause) =>
          Effect.as(
            Effect.logError("gateway: unexpected failure", cause),
            renderError(dialect)(new ApiError.ApiError({ reason: "Internal", message: "local-router hit an internal error; see its log" }))
          )
        )
      )
      // An allowed browser origin may read the answer (CORS); a refused one was answered 403 above.
      return origin !== undefined && allowsOrigin(origin)
        ? Effect.map(handled, (response) => HttpServerResponse.setHeaders(response, corsHeaders(origin)))
        : handled
    }

    /** OPTIONS: what the path allows; for a browser's preflight, what the real request may do. */
    const preflight = (request: Incoming, path: string): HttpServerResponse.HttpServerResponse => {
      const allow = table.allow(path)
      if (allow === undefined) return renderError(RouteTable.dialectOf(path))(new ApiError.ApiError({ reason: "NotFound", message: `no route for ${clip(path)}` }))
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
        const request: Incoming = {
          method: req.method ?? "GET",
          url: req.url ?? "/",
          headers: req.headers as Incoming["headers"],
          source: req,
          sink: res
        }
        const fiber = runFork(
          Effect.scoped(Effect.flatMap(respond(request, started), (response) => send(res, response))).pipe(
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

type Handler = (request: Incoming, started: number, param: string | undefined) => Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  ApiError.ApiError,
  Scope.Scope
>

/** At most 200 characters of something a client sent, for a message or a log line. */
const clip = (text: string): string => (text.length > 200 ? `${text.slice(0, 200)}...` : text)

const corsHeaders = (origin: string): Record<string, string> => ({
  "access-control-allow-origin": origin,
  "access-control-expose-headers": exposed,
  vary: "origin"
})

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
