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

/**
 * The service's secrets: NAME=value lines for routing.yaml's `env:NAME` references (a login
 * service does not see the shell's exported variables). One place on both platforms, beside the
 * default routing.yaml, readable only by its owner.
 */
export const envFile = (s: Pick<Setup, "home">) => path.join(s.home, ".config", "local-router", "service.env")

const envFileTemplate = `# Environment for the local-router service: NAME=value lines (dotenv format, as Node reads it).
# routing.yaml's env:NAME references (apiKey: env:OPENAI_API_KEY, token: env:LOCAL_ROUTER_TOKEN)
# are looked up here, because a service started at login does not see your shell's variables.
# This file stays readable only by you (mode 0600). serve reads it when it starts: after an edit,
# run \`local-router service install\` again (it restarts the service).
#
# OPENAI_API_KEY=sk-...
# ANTHROPIC_API_KEY=sk-ant-...
`

/**
 * Create the env file when missing, and make an existing one 0600 again: it holds keys. Returns
 * what was done, for install to say.
 */
export const ensureEnvFile = (s: Pick<Setup, "home">): "created" | "tightened" | "kept" => {
  const f = envFile(s)
  fs.mkdirSync(path.dirname(f), { recursive: true })
  if (!fs.existsSync(f)) {
    // `wx`: never overwrite a file that appeared meanwhile; the mode applies at creation.
    fs.writeFileSync(f, envFileTemplate, { mode: 0o600, flag: "wx" })
    fs.chmodSync(f, 0o600)
    return "created"
  }
  if ((fs.statSync(f).mode & 0o777) === 0o600) return "kept"
  fs.chmodSync(f, 0o600)
  return "tightened"
}

export const file = (s: Setup) =>
  s.platform === "darwin"
    ? path.join(s.home, "Library", "LaunchAgents", `${LaunchAgent.label}.plist`)
    : path.join(s.home, ".config", "systemd", "user", SystemdUnit.unitName)

/**
 * Node's arguments for `serve` as the service runs it (bench/supervisor measures exactly these):
 * the built CLI (`entry`, dist/bin.js) with flags that each lower idle serve's memory.
 */
export const serveArguments = (entry: string, configFile: string, envFile?: string): ReadonlyArray<string> => [
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
  configFile,
  // serve reads the secrets itself on both platforms (see commands/Serve.ts's --env-file).
  ...(envFile ? ["--env-file", envFile] : [])
]

/**
 * The environment serve runs in as the service, besides PATH and its config: no compile cache
 * (see bin.ts), which would cost a long-running serve ~7 MB for a start it made once; and glibc's
 * malloc told to give memory back (Linux; macOS's allocator ignores these). Page-sized buffers
 * (a rendered PDF page, its base64) pass through serve; with glibc's defaults the mmap threshold
 * grows after the first one is freed, later ones land in malloc's arenas, and the freed space
 * stays there: a served 36-page PDF left serve ~22 MB above idle for good. Two arenas, a fixed
 * mmap threshold (a page-sized buffer is its own mapping, unmapped when freed) and a low trim
 * threshold leave it ~2.5 MB above idle (bench/pdf --serve vs --plain).
 */
export const serveEnvironment: Readonly<Record<string, string>> = {
  NODE_DISABLE_COMPILE_CACHE: "1",
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "65536",
  MALLOC_TRIM_THRESHOLD_: "131072"
}

export const render = (s: Setup): string => {
  const input = {
    node: s.node,
    programArguments: serveArguments(s.entry, s.configFile, envFile(s)),
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
  readonly envFile: string
  readonly envFileWas: "created" | "tightened" | "kept"
}

export const install = (s: Setup): Effect.Effect<Installed, ServiceError> =>
  Effect.gen(function*() {
    const f = file(s)
    const envFileWas = yield* Effect.sync(() => ensureEnvFile(s))
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
      return { file: f, state: describe(fromPrint(true, printed.stdout)), envFile: envFile(s), envFileWas }
    }
    yield* must("systemctl", ["--user", "daemon-reload"])
    yield* must("systemctl", ["--user", "enable", SystemdUnit.unitName])
    // restart, not start: a second install must run the new unit and re-read the env file.
    yield* must("systemctl", ["--user", "restart", SystemdUnit.unitName])
    const shown = yield* run("systemctl", ["--user", "show", SystemdUnit.unitName, "--property", showProperties])
    return { file: f, state: describe(fromShow(true, shown.stdout)), envFile: envFile(s), envFileWas }
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

/** What `service status` says: exactly one of these, never "unknown" when the file tells. */
export type State =
  | { readonly _tag: "NotInstalled" }
  | { readonly _tag: "Running"; readonly pid: number | undefined }
  | { readonly _tag: "Stopped"; readonly lastExit: string | undefined }
  /** The file is there but the service manager has not loaded it (or cannot be asked). */
  | { readonly _tag: "NotLoaded"; readonly detail: string }

export const describe = (state: State): string => {
  switch (state._tag) {
    case "NotInstalled":
      return "not installed"
    case "Running":
      return `installed and running${state.pid ? `, pid ${state.pid}` : ""}`
    case "Stopped":
      return `installed, not running${state.lastExit ? `, last exit ${state.lastExit}` : ""}`
    case "NotLoaded":
      return `installed, not loaded (${state.detail}): run \`local-router service install\` again`
  }
}

const field = (text: string, name: string) => new RegExp(`^\\s*${name} = (.+)$`, "m").exec(text)?.[1]?.trim()

/** `launchctl print` -> State: `state = running`, `pid = 123`, `last exit code = 78: EX_CONFIG`. */
export const fromPrint = (installed: boolean, text: string): State => {
  if (!installed) return { _tag: "NotInstalled" }
  const pid = field(text, "pid")
  if (field(text, "state") === "running") return { _tag: "Running", pid: pid ? Number(pid) : undefined }
  const last = field(text, "last exit code")
  return { _tag: "Stopped", lastExit: last && last !== "(never exited)" ? last : undefined }
}

const showProperties = "LoadState,ActiveState,SubState,MainPID,ExecMainCode,ExecMainStatus,Result"

/** `systemctl --user show -p ...` (KEY=value lines) -> State. */
export const fromShow = (installed: boolean, text: string): State => {
  if (!installed) return { _tag: "NotInstalled" }
  const v = (name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(text)?.[1]?.trim()
  if (v("LoadState") === "not-found") return { _tag: "NotLoaded", detail: "systemd does not know the unit" }
  if (v("ActiveState") === "active" || v("ActiveState") === "reloading" || v("ActiveState") === "activating") {
    const pid = Number(v("MainPID") ?? 0)
    return { _tag: "Running", pid: pid > 0 ? pid : undefined }
  }
  const status = v("ExecMainStatus")
  const result = v("Result")
  // ExecMainCode 0: the service never ran since the unit was loaded.
  const lastExit = v("ExecMainCode") && v("ExecMainCode") !== "0"
    ? `${status ?? "?"}${result && result !== "success" ? ` (${result})` : ""}`
    : undefined
  return { _tag: "Stopped", lastExit }
}

export interface Status {
  readonly installed: boolean
  readonly state: State
  /** One line for people: see `describe`. */
  readonly summary: string
  readonly envFile: string
  /** Whether it exists and is 0600; undefined when missing. */
  readonly envFileMode: string | undefined
  /** The service manager's own output, for `--json` and bug reports. */
  readonly detail: string
}

export const status = (s: Setup): Effect.Effect<Status> =>
  Effect.gen(function*() {
    const installed = fs.existsSync(file(s))
    const env = envFile(s)
    const envFileMode = fs.existsSync(env) ? (fs.statSync(env).mode & 0o777).toString(8).padStart(4, "0") : undefined
    let state: State
    let detail: string
    if (s.platform === "darwin") {
      const printed = yield* run("launchctl", ["print", target(s)])
      detail = printed.stdout || printed.stderr
      state = !installed
        ? { _tag: "NotInstalled" }
        : printed.code === 0
        ? fromPrint(true, printed.stdout)
        : { _tag: "NotLoaded", detail: `launchctl print: ${(printed.stderr || printed.stdout).trim().split("\n")[0] || `exit ${printed.code}`}` }
    } else {
      const shown = yield* run("systemctl", ["--user", "show", SystemdUnit.unitName, "--property", showProperties])
      detail = shown.stdout || shown.stderr
      state = !installed
        ? { _tag: "NotInstalled" }
        : shown.code === 0
        ? fromShow(true, shown.stdout)
        : { _tag: "NotLoaded", detail: `systemctl --user: ${(shown.stderr || shown.stdout).trim().split("\n")[0] || `exit ${shown.code}`}` }
    }
    return { installed, state, summary: describe(state), envFile: env, envFileMode, detail }
  })

export const logs = (s: Setup, lines: number): Effect.Effect<string, ServiceError> =>
  s.platform === "darwin"
    ? Effect.sync(() =>
      ["supervisor.out.log", "supervisor.err.log"].map((name) => {
        const f = path.join(logDir(s), name)
        const text = fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").slice(-lines - 1).join("\n") : "(no file yet)"
        return `==> ${f} <==\n${text}`
      }).join("\n\n")
    )
    : Effect.map(must("journalctl", ["--user", "-u", SystemdUnit.unitName, "-n", String(lines), "--no-pager"]), (r) => r.stdout.trimEnd())

