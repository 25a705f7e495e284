/**
 * `GET /status`: what the router is running (config version, backends, circuits, the last
 * rejected edit) and, when the app plugs one in, the supervisor's view of its servers.
 * Nothing here is a secret: backends are shown by name, type and URL, keys by their
 * variable name only.
 */
import { type CircuitBreaker, type ConfigError, type LiveRouting, Plan, type Router } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Handler from "./Handler.ts"
import type * as RequestLog from "./RequestLog.ts"

/** The app's view of its servers (the supervisor's state), as JSON-ready data. */
export type Provider = Effect.Effect<unknown>

/** What the gateway reads of the running routing. `LiveRouting` is one. */
export interface Routing {
  readonly snapshot: Effect.Effect<Router.Snapshot>
  readonly file?: string
  readonly lastError?: Effect.Effect<ConfigError.ConfigError | undefined>
  readonly plugins?: Effect.Effect<ReadonlyArray<LiveRouting.PluginInfo>>
  /** Re-read routing.yaml now (the status page's reload action). */
  readonly reload?: Effect.Effect<LiveRouting.ReloadResult>
}

/** The process's memory in MiB: resident, the JavaScript heap (used of allocated) and buffers outside it. */
const memory = () => {
  const m = process.memoryUsage()
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20 * 10) / 10
  return { rss: mib(m.rss), heapUsed: mib(m.heapUsed), heapTotal: mib(m.heapTotal), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) }
}

export const render = (input: {
  readonly routing: Routing
  readonly circuits: Effect.Effect<Readonly<Record<string, CircuitBreaker.View>>>
  readonly provider: Provider | undefined
  readonly gateway: { readonly url: string; readonly startedAt: number }
  readonly requests?: RequestLog.RequestLog | undefined
}): Effect.Effect<string> =>
  Effect.gen(function*() {
    const snapshot = yield* input.routing.snapshot
    const circuits = yield* input.circuits
    const lastError = input.routing.lastError ? yield* input.routing.lastError : undefined
    const plugins = input.routing.plugins ? yield* input.routing.plugins : undefined
    const supervisor = input.provider ? yield* input.provider : null
    const { config } = snapshot
    const backends = Object.fromEntries(Object.values(config.backends).map((b) => {
      const slot = snapshot.backends.get(b.name)
      return [b.name, {
        type: b.type,
        url: b.url ?? null,
        enabled: b.enabled,
        loaded: slot?._tag === "Ready",
        ...(slot?._tag === "Failed" ? { loadError: slot.reason } : {}),
        circuit: circuits[b.name] ?? "closed"
      }]
    }))
    const { down, missing } = serversNow(supervisor)
    const routes = routesNow(snapshot, circuits, down, missing)
    const now = Date.now()
    return JSON.stringify({
      status: "ok",
      gateway: { url: input.gateway.url, uptimeSeconds: Math.round((Date.now() - input.gateway.startedAt) / 1000), memory: memory() },
      router: {
        file: input.routing.file ?? config.file,
        configVersion: snapshot.version,
        lastError: lastError ? lastError.message : null,
        categories: Object.keys(config.categories),
        backends,
        routes,
        ...(plugins ? { plugins } : {})
      },
      supervisor,
      ...(input.requests ? { requests: { recent: input.requests.recent(), hour: input.requests.hour(now) } } : {})
    })
  })

/** `GET /status`: the gateway's status (`render`'s effect, made once per gateway), read now. */
export const handle = (ctx: Handler.Context) => Effect.map(ctx.status, Handler.json)

/** One category's route as it would go now: the backend that would answer and why each one before it would not. */
export interface CategoryRoute {
  readonly category: string
  readonly input: string
  /** The first candidate the router would try with a chance of answering; undefined when none is left. */
  readonly answer: { readonly backend: string; readonly model: string } | undefined
  /** Every candidate in priority order, with the reason it is passed over (absent for the answer and those after it). */
  readonly candidates: ReadonlyArray<{ readonly backend: string; readonly model: string | null; readonly skip?: string }>
}

// The image a planned image category is asked about: only its presence matters to the plan.
const anImage = { data: new Uint8Array(0), mime: "image/png" }

/**
 * Core's Plan for a request to each category, with what only the running process knows on top:
 * an open circuit, and a supervised server that is not up (the router would try it, time out
 * or be refused, and fall back; the page says so before a request pays for it).
 */
export const routesNow = (
  snapshot: Router.Snapshot,
  circuits: Readonly<Record<string, CircuitBreaker.View>>,
  down: ReadonlyMap<string, string>,
  missing: ReadonlyMap<string, Missing> = new Map()
): ReadonlyArray<CategoryRoute> =>
  Object.entries(snapshot.config.categories).map(([category, config]) => {
    const wantsImage = config.input === "image" || config.input === "pdf"
    // An embed category plans an embeddings request (a chat request to it is refused).
    const plan = config.input === "embed"
      ? Plan.forEmbed(snapshot, { category, input: ["status"] })
      : Plan.forRequest(snapshot, {
        category,
        messages: [{ role: "user", content: "status", ...(wantsImage ? { images: [anImage] } : {}) }]
      })
    if (Result.isFailure(plan)) return { category, input: config.input, answer: undefined, candidates: [] }
    let answer: CategoryRoute["answer"]
    const candidates = plan.success.candidates.map((c) => {
      if (answer) return { backend: c.backend, model: c.model ?? null }
      const skip = c._tag === "Skip"
        ? c.reason
        : circuits[c.backend] === "open"
        ? "circuit open"
        : down.has(c.backend)
        ? `server ${down.get(c.backend)}`
        : missing.get(c.backend)?.models.has(c.model)
        ? `model ${c.model} missing on the server ${missing.get(c.backend)?.canPull ? "(pull it)" : "(it cannot pull: put the model there by hand)"}`
        : undefined
      if (skip === undefined && c._tag === "Try") answer = { backend: c.backend, model: c.model }
      return { backend: c.backend, model: c.model ?? null, ...(skip === undefined ? {} : { skip }) }
    })
    return { category, input: config.input, answer, candidates }
  })

/** A supervised server's missing models, and whether it can pull them (absent from an older supervisor: it can). */
export interface Missing {
  readonly models: ReadonlySet<string>
  readonly canPull: boolean
}

/**
 * Supervised servers that are not up (by name, with their phase) and the models each lacks; read
 * from the provider's `servers` when it has them.
 */
export const serversNow = (supervisor: unknown) => {
  const servers = typeof supervisor === "object" && supervisor !== null && "servers" in supervisor ? supervisor.servers : undefined
  const down = new Map<string, string>()
  const missing = new Map<string, Missing>()
  if (!Array.isArray(servers)) return { down, missing }
  for (const server of servers as ReadonlyArray<{ readonly name?: unknown; readonly phase?: unknown; readonly canPull?: unknown; readonly models?: { readonly missing?: unknown } }>) {
    if (typeof server.name !== "string") continue
    if (typeof server.phase === "string" && server.phase !== "ready" && server.phase !== "adopted") down.set(server.name, server.phase)
    if (Array.isArray(server.models?.missing)) missing.set(server.name, {
        models: new Set(server.models.missing.filter((m): m is string => typeof m === "string")),
        canPull: server.canPull !== false
      })
  }
  return { down, missing }
}
