/**
 * `local-router serve [--host 127.0.0.1] [--port N] [--log-dir DIR]`: run the supervisor in the
 * foreground. Every server routing.yaml supervises is started (or adopted) and kept alive; the
 * status API answers on host:port. SIGINT/SIGTERM stop every child's process group, then exit.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { configOption, loaderOptions, locate } from "../CliConfig.ts"
import { root } from "../Root.ts"
import * as Paths from "../supervisor/Paths.ts"
import * as StatusApi from "../supervisor/StatusApi.ts"
import * as Supervisor from "../supervisor/Supervisor.ts"

export const hostOption = Options.text("host").pipe(
  Options.withDescription("Address of the status API (default: server.host in routing.yaml, else 127.0.0.1)"),
  Options.optional
)
export const portOption = Options.integer("port").pipe(
  Options.withDescription("Port of the status API (default: server.port in routing.yaml, else 4141)"),
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
      const routing = yield* supervisor.config
      const address = { host: Option.getOrElse(host, () => routing.server.host), port: Option.getOrElse(port, () => routing.server.port) }
      const servers = yield* supervisor.servers
      yield* Console.log(
        `local-router supervising ${servers.length} server${servers.length === 1 ? "" : "s"} from ${file} ` +
          `(${servers.map((s) => s.name).join(", ") || "none"}); logs in ${logs}; status at http://${address.host}:${address.port}/status`
      )
      return yield* StatusApi.serve(supervisor, address.host, address.port)
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Start, watch and restart the local model servers routing.yaml supervises, in the foreground"))
