/**
 * `GET /status`: what the router is running (config version, backends, circuits, the last
 * rejected edit) and, when the app plugs one in, the supervisor's view of its servers.
 * Nothing here is a secret: backends are shown by name, type and URL, keys by their
 * variable name only.
 */
import type { CircuitBreaker, ConfigError, LiveRouting, Router } from "@local-router/core"
import * as Effect from "effect/Effect"

/** The app's view of its servers (the supervisor's state), as JSON-ready data. */
export type Provider = Effect.Effect<unknown>

/** What the gateway reads of the running routing. `LiveRouting` is one. */
export interface Routing {
  readonly snapshot: Effect.Effect<Router.Snapshot>
  readonly file?: string
  readonly lastError?: Effect.Effect<ConfigError.ConfigError | undefined>
  readonly plugins?: Effect.Effect<ReadonlyArray<LiveRouting.PluginInfo>>
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
    return JSON.stringify({
      status: "ok",
      gateway: { url: input.gateway.url, uptimeSeconds: Math.round((Date.now() - input.gateway.startedAt) / 1000), memory: memory() },
      router: {
        file: input.routing.file ?? config.file,
        configVersion: snapshot.version,
        lastError: lastError ? lastError.message : null,
        categories: Object.keys(config.categories),
        backends,
        ...(plugins ? { plugins } : {})
      },
      supervisor
    })
  })
