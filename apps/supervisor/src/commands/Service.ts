/**
 * `local-router service install|uninstall|status|logs [--dry-run] [--platform darwin|linux]`:
 * run `local-router serve` at login, as a LaunchAgent on macOS or a systemd --user unit on Linux.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { fileURLToPath } from "node:url"
import { jsonOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"
import type * as ServiceModule from "../service/Service.ts"

// The service runs the built command, dist/bin.js (this file is src/commands/ or dist/commands/).
const entry = fileURLToPath(new URL("../../dist/bin.js", import.meta.url))

// plist (with an XML parser and builder) is loaded for these commands only, not for `serve`.
const loadService = Effect.promise(() => import("../service/Service.ts"))

const platformOption = Flag.Literals("platform", ["darwin", "linux"]).pipe(
  Flag.withDescription("Which service manager to use (default: this machine's)"),
  Flag.optional
)
const dryRun = Flag.Boolean("dry-run").pipe(Flag.withDescription("Print the file that would be written, change nothing"), Flag.withDefault(false))

const setup = (platform: Option.Option<"darwin" | "linux">) =>
  Effect.gen(function*() {
    const parent = yield* root
    const { locate } = yield* routingFile
    const file = yield* locate(parent.config)
    const p = Option.getOrElse(platform, () => (process.platform === "darwin" ? "darwin" : "linux") as ServiceModule.Platform)
    const Service = yield* loadService
    return { Service, s: Service.defaultSetup(p, entry, file) }
  })

const install = Command.make("install", { platform: platformOption, dryRun }, ({ dryRun, platform }) =>
  Effect.gen(function*() {
    const { Service, s } = yield* setup(platform)
    if (dryRun) return yield* Console.log(`# ${Service.file(s)}\n${Service.render(s)}`)
    const warning = Service.nodeWarning(s.node)
    if (warning) yield* Console.error(warning)
    const done = yield* Service.install(s)
    const envNote = { created: "created; put API keys for env:NAME here", tightened: "made readable only by you (0600)", kept: "kept" }[done.envFileWas]
    yield* Console.log(
      `installed ${done.file}: ${done.state}\n` +
        `env file: ${done.envFile} (${envNote}; serve reads it at start)\n` +
        `logs: ${Service.logDir(s)}`
    )
  })).pipe(Command.withDescription("Write and load the login service that runs `local-router serve`"))

const uninstall = Command.make("uninstall", { platform: platformOption }, ({ platform }) =>
  Effect.gen(function*() {
    const { Service, s } = yield* setup(platform)
    const done = yield* Service.uninstall(s)
    yield* Console.log(done.removed ? `stopped and removed ${done.file}` : `nothing installed at ${done.file}`)
  })).pipe(Command.withDescription("Stop the login service and remove its file"))

const statusCommand = Command.make("status", { platform: platformOption, json: jsonOption }, ({ json, platform }) =>
  Effect.gen(function*() {
    const { Service, s } = yield* setup(platform)
    const st = yield* Service.status(s)
    const logs = Service.logDir(s)
    const requests = `${logs}/requests.jsonl`
    if (json) return yield* Console.log(JSON.stringify({ file: Service.file(s), ...st, logDir: logs, requestLog: requests }, null, 2))
    yield* Console.log([
      `service: ${st.summary}`,
      `file: ${Service.file(s)}${st.installed ? "" : " (missing: `local-router service install` writes it)"}`,
      `env file: ${st.envFile} (${st.envFileMode === undefined ? "missing: `local-router service install` creates it" : st.envFileMode === "0600" ? "0600" : `mode ${st.envFileMode}: should be 0600, it holds keys`}; NAME=value lines for routing.yaml's env:NAME keys)`,
      `logs: ${logs}`,
      `request log: ${requests} (\`local-router logs --follow\`)`
    ].join("\n"))
  })).pipe(Command.withDescription("Whether the login service is installed and running"))

const logs = Command.make("logs", {
  platform: platformOption,
  lines: Flag.Int("lines").pipe(
    Flag.withAlias("n"),
    Flag.withDescription("How many of the last lines to show (default 50)"),
    // A usage error here, not a journalctl that refuses "-n -5" while local-router exits 0.
    Flag.filter((n) => n >= 1, () => "Expected an integer of at least 1"),
    Flag.withDefault(50)
  )
}, ({ lines, platform }) =>
  Effect.gen(function*() {
    const { Service, s } = yield* setup(platform)
    yield* Console.log(yield* Service.logs(s, lines))
  })).pipe(Command.withDescription("The supervisor's own log (each server's log is in <logs>/servers/<name>.log)"))

export const service = Command.make("service").pipe(
  Command.withDescription("Run local-router at login: LaunchAgent on macOS, systemd --user on Linux"),
  Command.withSubcommands([install, uninstall, statusCommand, logs])
)
