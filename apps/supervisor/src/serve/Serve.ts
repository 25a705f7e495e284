/**
 * What `local-router serve` runs: one process that supervises the local model
 * servers routing.yaml names (started or adopted, probed, restarted, models pulled) and serves
 * the gateway on host:port — OpenAI- and Ollama-compatible APIs, vision uploads, /health,
 * /status (router and supervisor), /metrics. Interrupting it (SIGINT/SIGTERM) stops the
 * gateway, then every child's process group.
 */
import { LiveRouting, Router } from "@local-router/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { loaderOptions } from "../Builtins.ts"
import * as LogFile from "../supervisor/LogFile.ts"
import * as Paths from "../supervisor/Paths.ts"
import * as StatusApi from "../supervisor/StatusApi.ts"
import * as Supervisor from "../supervisor/Supervisor.ts"
import * as EnvFile from "./EnvFile.ts"
import * as LazyVision from "./LazyVision.ts"
import * as RequestFile from "./RequestFile.ts"
import * as SafetyNet from "./SafetyNet.ts"

export interface Options {
  /** routing.yaml, already located. */
  readonly file: string
  readonly host: Option.Option<string>
  readonly port: Option.Option<number>
  readonly logDir: Option.Option<string>
  /** NAME=value secrets read before routing.yaml (EnvFile.ts); the service passes its own. */
  readonly envFile: Option.Option<string>
  /** The request log file (RequestFile.ts), or "off"; default `<log root>/requests.jsonl`. */
  readonly requestLog: Option.Option<string>
}

export const run = ({ envFile, file, host, logDir, port, requestLog }: Options) =>
  Effect.gen(function*() {
    yield* SafetyNet.install
    // Before routing.yaml is read: its env:NAME keys resolve from what the file sets.
    if (Option.isSome(envFile)) {
      const loaded = EnvFile.load(envFile.value)
      yield* loaded._tag === "Loaded" ? Effect.logInfo(EnvFile.describe(loaded)) : Effect.logWarning(EnvFile.describe(loaded))
      if (loaded._tag === "Loaded" && loaded.warning) yield* Effect.logWarning(loaded.warning)
    }
    const logs = Option.getOrElse(logDir, () => Paths.serverLogs())
    // The one reader and watcher of routing.yaml; the supervisor and the router both follow it.
    const live = yield* LiveRouting.make(file, loaderOptions)
    const supervisor = yield* Effect.provideService(Supervisor.make({ logDir: logs }), LiveRouting.LiveRouting, live)
    const router = yield* Router.make(live.snapshot)
    const { config: routing } = yield* live.snapshot
    const { Gateway, RequestLog } = yield* Effect.promise(() => import("@local-router/gateway"))
    const settings = yield* Effect.fromResult(Gateway.settingsFromConfig(routing.server))
    const scope = yield* Effect.scope
    const requestFile = Option.getOrElse(requestLog, () => RequestFile.defaultFile())
    const requests = requestFile === "off"
      ? undefined
      : yield* Effect.acquireRelease(
        Effect.sync(() => LogFile.openFile(requestFile, { maxBytes: RequestFile.maxBytes, keep: RequestFile.keep, tailLines: 0 })),
        (log) => Effect.sync(() => log.close())
      )
    const gateway = yield* Gateway.make({
      ...settings,
      host: Option.getOrElse(host, () => settings.host),
      port: Option.getOrElse(port, () => settings.port),
      router,
      routing: live,
      status: StatusApi.view(supervisor, { requestLog: requests?.file }),
      actions: StatusApi.actions(supervisor, scope),
      vision: yield* LazyVision.make(router, scope),
      onRequest: requests && RequestFile.writer((line) => requests.write(line, "stdout"), requests.file, (entry) => RequestLog.jsonLine(entry))
    })
    const servers = yield* supervisor.servers
    yield* Console.log(
      `local-router on ${gateway.url} (OpenAI clients: ${gateway.url}/v1), routing from ${file}; ` +
        `supervising ${servers.length} server${servers.length === 1 ? "" : "s"}` +
        `${servers.length ? ` (${servers.map((s) => s.name).join(", ")})` : ""}; logs in ${logs}` +
        `${requests ? `; requests logged to ${requests.file}` : ""}`
    )
    return yield* Effect.never
  }).pipe(Effect.scoped)
