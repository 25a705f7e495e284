/**
 * `local-router service install|uninstall|status|logs`: the LaunchAgent (macOS, launchctl in
 * the gui/<uid> domain) or the systemd --user unit (Linux). The platform tools are run by name
 * from PATH, so tests put recording fakes there.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as LaunchAgent from "./LaunchAgent.ts"
import * as SystemdUnit from "./SystemdUnit.ts"

export type Platform = "darwin" | "linux"

export class ServiceError extends Schema.TaggedError<ServiceError>()("ServiceError", {
  reason: Schema.Literals(["Unsupported", "CommandFailed"]),
  message: Schema.String
}) {}

export interface Setup {
  readonly platform: Platform
  readonly node: string
  readonly entry: string
  readonly configFile: string
  readonly home: string
  readonly uid: number
  readonly path: string
}

export const defaultSetup = (platform: Platform, entry: string, configFile: string): Setup => {
  const home = os.homedir()
  const pathList = [
    path.dirname(process.execPath),
    "/opt/homebrew/bin",
    "/usr/local/bin",
    path.join(home, ".local", "bin"),
    "/usr/bin",
    "/bin",
    "/usr/sbin",
    "/sbin"
  ]
  return {
    platform,
    node: process.execPath,
    entry,
    configFile: path.resolve(configFile),
    home,
    uid: process.getuid?.() ?? 0,
    path: [...new Set(pathList)].join(":")
  }
}

export const logDir = (s: Setup) =>
  s.platform === "darwin" ? path.join(s.home, "Library", "Logs", "local-router") : path.join(s.home, ".local", "state", "local-router", "logs")

export const file = (s: Setup) =>
  s.platform === "darwin"
    ? path.join(s.home, "Library", "LaunchAgents", `${LaunchAgent.label}.plist`)
    : path.join(s.home, ".config", "systemd", "user", SystemdUnit.unitName)

/**
 * Node's arguments for `serve` as the service runs it (bench/supervisor measures exactly these):
 * the built CLI (`entry`, dist/bin.js) with flags that each lower idle serve's memory.
 */
export const serveArguments = (entry: string, configFile: string): ReadonlyArray<string> => [
  // A small young generation: `serve` lives for days and mostly waits on sockets, and this
  // keeps its resident memory ~40 MB lower for a few more, shorter scavenges.
  "--max-semi-space-size=1",
  // One V8 helper thread instead of four: background compiling and GC marking share it, and
  // each idle helper kept its own malloc arena of freed compiler memory (~4 MB of idle serve).
  "--v8-pool-size=1",
  // No baseline compiler between the interpreter and the optimizing one: its code for
  // lukewarm functions was ~1.5 MB of an idle serve, and the hot request path is optimized
  // either way (bench/gateway: the same added latency and throughput without it).
  "--no-sparkplug",
  // Bytecode of a function that has not run during two full collections is dropped (V8's
  // default waits for six): what only start-up ran (module bodies, config decoding, the command
  // line) goes with the memory reducer's first collections instead of staying for days; a
  // function that runs again is compiled again from its source. bench/supervisor: idle
  // 81.2-83.0 MB instead of 82.6-84.3 (4 interleaved runs), the same after traffic and the same
  // CPU; bench/gateway: the same latency and throughput.
  "--bytecode-old-age=2",
  entry,
  "serve",
  "--config",
  configFile
]

/**
 * The environment serve runs in as the service, besides PATH and its config: no compile cache
 * (see bin.ts), which would cost a long-running serve ~7 MB for a start it made once.
 */
export const serveEnvironment: Readonly<Record<string, string>> = { NODE_DISABLE_COMPILE_CACHE: "1" }

export const render = (s: Setup): string => {
  const input = {
    node: s.node,
    programArguments: serveArguments(s.entry, s.configFile),
    environment: serveEnvironment,
    workingDirectory: path.dirname(s.configFile),
    path: s.path,
    configFile: s.configFile,
    logDir: logDir(s)
  }
  return s.platform === "darwin" ? LaunchAgent.render(input) : SystemdUnit.render(input)
}

/** Version managers move node on upgrade, which breaks the recorded absolute path. */
export const nodeWarning = (node: string): string | undefined =>
  /\/(\.nvm|\.fnm|\.volta|\.asdf|fnm_multishells)\//.test(node)
    ? `note: ${node} belongs to a Node version manager; after upgrading Node, run \`local-router service install\` again`
    : undefined

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>): Effect.Effect<Ran> =>
  Effect.callback<Ran>((resume) => {
    execFile(command, [...args], { encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 127) : 0
      resume(Effect.succeed({ code, stdout, stderr: stderr || (error && code === 127 ? error.message : "") }))
    })
  })

const must = (command: string, args: ReadonlyArray<string>) =>
  Effect.flatMap(run(command, args), (r) =>
    r.code === 0
      ? Effect.succeed(r)
      : Effect.fail(new ServiceError({ reason: "CommandFailed", message: `${command} ${args.join(" ")} failed (${r.code}): ${(r.stderr || r.stdout).trim()}` })))

const target = (s: Setup) => `gui/${s.uid}/${LaunchAgent.label}`

export interface Installed {
  readonly file: string
  readonly state: string
}

export const install = (s: Setup): Effect.Effect<Installed, ServiceError> =>
  Effect.gen(function*() {
    const f = file(s)
    yield* Effect.sync(() => {
      fs.mkdirSync(path.dirname(f), { recursive: true })
      // launchd refuses to spawn when the log directory is missing.
      fs.mkdirSync(logDir(s), { recursive: true })
      fs.writeFileSync(f, render(s), { mode: 0o644 })
      fs.chmodSync(f, 0o644)
    })
    if (s.platform === "darwin") {
      // bootstrap of a loaded label fails with the unhelpful "5: Input/output error": unload first.
      yield* run("launchctl", ["bootout", target(s)])
      yield* must("launchctl", ["enable", target(s)])
      yield* must("launchctl", ["bootstrap", `gui/${s.uid}`, f])
      const printed = yield* must("launchctl", ["print", target(s)])
      return { file: f, state: summarizePrint(printed.stdout) }
    }
    yield* must("systemctl", ["--user", "daemon-reload"])
    yield* must("systemctl", ["--user", "enable", "--now", SystemdUnit.unitName])
    const shown = yield* run("systemctl", ["--user", "is-active", SystemdUnit.unitName])
    return { file: f, state: shown.stdout.trim() || "unknown" }
  })

export const uninstall = (s: Setup): Effect.Effect<{ readonly file: string; readonly removed: boolean }, ServiceError> =>
  Effect.gen(function*() {
    const f = file(s)
    if (s.platform === "darwin") yield* run("launchctl", ["bootout", target(s)])
    else yield* run("systemctl", ["--user", "disable", "--now", SystemdUnit.unitName])
    const removed = yield* Effect.sync(() => {
      if (!fs.existsSync(f)) return false
      fs.rmSync(f)
      return true
    })
    if (s.platform === "linux") yield* run("systemctl", ["--user", "daemon-reload"])
    return { file: f, removed }
  })

export const status = (s: Setup): Effect.Effect<{ readonly installed: boolean; readonly state: string; readonly detail: string }> =>
  Effect.gen(function*() {
    const installed = fs.existsSync(file(s))
    if (s.platform === "darwin") {
      const printed = yield* run("launchctl", ["print", target(s)])
      return { installed, state: printed.code === 0 ? summarizePrint(printed.stdout) : "not loaded", detail: printed.stdout || printed.stderr }
    }
    const shown = yield* run("systemctl", ["--user", "status", "--no-pager", SystemdUnit.unitName])
    const active = yield* run("systemctl", ["--user", "is-active", SystemdUnit.unitName])
    return { installed, state: active.stdout.trim() || "unknown", detail: shown.stdout || shown.stderr }
  })

export const logs = (s: Setup, lines: number): Effect.Effect<string> =>
  s.platform === "darwin"
    ? Effect.sync(() =>
      ["supervisor.out.log", "supervisor.err.log"].map((name) => {
        const f = path.join(logDir(s), name)
        const text = fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").slice(-lines - 1).join("\n") : "(no file yet)"
        return `==> ${f} <==\n${text}`
      }).join("\n\n")
    )
    : Effect.map(run("journalctl", ["--user", "-u", SystemdUnit.unitName, "-n", String(lines), "--no-pager"]), (r) => r.stdout || r.stderr)

/** `state = running`, `pid = 123`, `last exit code = 0` out of `launchctl print`. */
export const summarizePrint = (text: string): string => {
  const field = (name: string) => new RegExp(`^\\s*${name} = (.+)$`, "m").exec(text)?.[1]?.trim()
  return [field("state") ?? "unknown", field("pid") ? `pid ${field("pid")}` : "", field("last exit code") ? `last exit code ${field("last exit code")}` : ""]
    .filter(Boolean)
    .join(", ")
}
