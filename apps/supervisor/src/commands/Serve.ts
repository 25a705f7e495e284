/**
 * `local-router serve [--host 127.0.0.1] [--port N] [--log-dir DIR]`: one process that
 * supervises the local model servers routing.yaml names (started or adopted, probed, restarted,
 * models pulled) and serves the gateway on host:port — OpenAI- and Ollama-compatible APIs,
 * vision uploads, /health, /status (router and supervisor), /metrics. SIGINT/SIGTERM stop the
 * gateway, then every child's process group.
 */
import { Command, Options } from "@effect/cli"
import { LiveRouting, Router } from "@local-router/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { configOption, loaderOptions, locate } from "../CliConfig.ts"
import { root } from "../Root.ts"
import * as LazyVision from "../serve/LazyVision.ts"
import * as Paths from "../supervisor/Paths.ts"
import * as StatusApi from "../supervisor/StatusApi.ts"
import * as Supervisor from "../supervisor/Supervisor.ts"

export const hostOption = Options.text("host").pipe(
  Options.withDescription("Address to listen on (default: server.host in routing.yaml, else 127.0.0.1; anything else needs a token)"),
  Options.optional
)
export const portOption = Options.integer("port").pipe(
  Options.withDescription("Port to listen on (default: server.port in routing.yaml, else 4141)"),
  Options.optional
)

export const serve = Command.make(
  "serve",
  {
    config: configOption,
    host: hostOption,
    port: portOption,
    logDir: Options.directory("log-dir").pipe(
      Options.withDescription("Where each server's <name>.log goes (default: ~/Library/Logs/local-router/servers on macOS)"),
      Options.optional
    )
  },
  ({ config, host, logDir, port }) =>
    Effect.gen(function*() {
      const parent = yield* root
      const file = yield* locate(config, parent.config)
      const logs = Option.getOrElse(logDir, () => Paths.serverLogs())
      const supervisor = yield* Supervisor.make(file, { logDir: logs, loader: loaderOptions })
      const live = yield* LiveRouting.make(file, loaderOptions)
      const router = yield* Router.make(live.snapshot)
      const { config: routing } = yield* live.snapshot
      const { Gateway } = yield* Effect.promise(() => import("@local-router/gateway"))
      const settings = yield* Either.match(Gateway.settingsFromConfig(routing.server), { onLeft: Effect.fail, onRight: Effect.succeed })
      const scope = yield* Effect.scope
      const gateway = yield* Gateway.make({
        ...settings,
        host: Option.getOrElse(host, () => settings.host),
        port: Option.getOrElse(port, () => settings.port),
        router,
        routing: live,
        status: StatusApi.view(supervisor),
        vision: yield* LazyVision.make(router, scope)
      })
      const servers = yield* supervisor.servers
      yield* Console.log(
        `local-router on ${gateway.url} (OpenAI clients: ${gateway.url}/v1), routing from ${file}; ` +
          `supervising ${servers.length} server${servers.length === 1 ? "" : "s"}` +
          `${servers.length ? ` (${servers.map((s) => s.name).join(", ")})` : ""}; logs in ${logs}`
      )
      return yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Supervise the local model servers and serve the OpenAI/Ollama-compatible gateway, in the foreground"))
