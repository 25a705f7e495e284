/**
 * Is `local-router serve` running, and where: the one lookup that `status` and `ask` share.
 * The address is routing.yaml's `server:` host and port (or the command's `--host/--port`); serve
 * is taken as running when its gateway's `/status` answers with the supervisor's servers.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { routingFile } from "./CliConfig.ts"
import type { ServerView, View } from "./supervisor/StatusApi.ts"

/**
 * The gateway's token when one is set here, as every request to a guarded gateway needs it:
 * the variable routing.yaml names (`server.token: env:NAME`), else LOCAL_ROUTER_TOKEN, as serve
 * itself reads them.
 */
export const authorization = (tokenEnv?: string | undefined): Record<string, string> => {
  const token = (tokenEnv === undefined ? undefined : process.env[tokenEnv]) || process.env.LOCAL_ROUTER_TOKEN
  return token ? { authorization: `Bearer ${token}` } : {}
}

/** The located routing.yaml, loaded with its supervised servers, and the address serve would listen on. */
export const address = (
  config: Option.Option<string>,
  host: Option.Option<string> = Option.none(),
  port: Option.Option<number> = Option.none()
) =>
  Effect.gen(function*() {
    const { loaderOptions, locate } = yield* routingFile
    const file = yield* locate(config)
    const Plans = yield* Effect.promise(() => import("./supervisor/Plans.ts"))
    const loaded = yield* Plans.load(file, loaderOptions)
    const h = Option.getOrElse(host, () => loaded.config.server.host)
    const p = Option.getOrElse(port, () => loaded.config.server.port)
    return { loaded, url: `http://${h}:${p}`, headers: authorization(loaded.config.server.tokenEnv) }
  })

/** The supervisor's view from serve at `url`, or none when no serve answers there. */
export const status = (url: string, headers: Record<string, string>) =>
  Effect.tryPromise(async () => {
    const response = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2_000), headers })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const body = (await response.json()) as Partial<View> & { readonly supervisor?: Partial<View> }
    // The supervisor's own API, or the gateway's /status carrying the supervisor's view.
    const servers = body.servers ?? body.supervisor?.servers
    if (!Array.isArray(servers)) throw new Error("no servers in the answer")
    const own = body.supervisor?.supervisor ?? (body as Partial<View>).supervisor
    return {
      servers: servers as ReadonlyArray<ServerView>,
      configError: body.supervisor?.configError ?? null,
      requestLog: (own as View["supervisor"] | undefined)?.requestLog ?? null
    }
  }).pipe(Effect.option)
