/**
 * Starting simulators from tests: each one is the real executable in a child process, on a
 * port the OS picks, and the handle talks to its `/__sim/*` control routes. Children are
 * killed when the test process exits, and they exit on their own when its stdin pipe closes
 * (a SIGKILLed test runner cannot clean up), so no simulator outlives its test run.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Fault } from "./Faults.ts"
import type { RecordedRequest } from "./RequestLog.ts"

export type Kind = "ollama" | "mlx" | "moondream" | "openai" | "anthropic" | "llamacpp"

export interface StartOptions {
  /** Extra flags for the executable (see its `--help`). `--port 0` is added unless given. */
  readonly args?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** Moondream Station's home (where `.moondream-station/config.json` lives); a temp dir by default. */
  readonly home?: string
  /** Faults active from the first request, as `--fault` flags. */
  readonly faults?: ReadonlyArray<Fault>
  /** How long to wait for the ready line (default 10 s). */
  readonly readyTimeoutMs?: number
}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface Running {
  readonly kind: Kind
  readonly url: string
  readonly host: string
  readonly port: number
  readonly pid: number
  /** The home directory a moondream simulator was given; undefined for the others. */
  readonly home: string | undefined
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<Exit>
  /** Replaces the whole fault set at run time. */
  setFaults(faults: ReadonlyArray<Fault>): Promise<void>
  clearFaults(): Promise<void>
  faults(): Promise<ReadonlyArray<Fault>>
  requests(): Promise<ReadonlyArray<RecordedRequest>>
  clearRequests(): Promise<void>
  /** Everything the process wrote to stderr so far. */
  stderr(): string
  kill(signal?: NodeJS.Signals): void
  /** SIGTERM, then SIGKILL after `graceMs` (default 2 s); resolves once the process is gone. */
  stop(graceMs?: number): Promise<Exit>
}

export class StartError extends Error {
  override readonly name = "SimulatorStartError"
}

// The executables sit beside this module in its own form: src/bin/*.ts, or dist/bin/*.js once built.
const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js"

/** The executable of a simulator, for callers that spawn it themselves (e.g. a supervisor test). */
export const binPath = (kind: Kind): string => fileURLToPath(new URL(`./bin/sim-${kind}${extension}`, import.meta.url))

const live = new Set<ChildProcess>()
let exitHookInstalled = false

const installExitHook = (): void => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL")
  })
}

const control = async (url: string, method: string, body?: unknown): Promise<unknown> => {
  const res = await fetch(url, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {})
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${text}`)
  return JSON.parse(text) as unknown
}

export const start = async (kind: Kind, options: StartOptions = {}): Promise<Running> => {
  installExitHook()
  const args = [...(options.args ?? [])]
  if (!args.includes("--port")) args.push("--port", "0")
  let home = options.home
  if (kind === "moondream") {
    const given = args.indexOf("--home")
    if (given >= 0) home = args[given + 1]
    else {
      // Never let a test write the real ~/.moondream-station/config.json.
      home ??= mkdtempSync(join(tmpdir(), "sim-moondream-home-"))
      args.push("--home", home)
    }
  }
  for (const f of options.faults ?? []) args.push("--fault", JSON.stringify(f))
  args.push("--die-with-stdin")

  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", binPath(kind), ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...options.env }
  })
  live.add(child)
  let stderr = ""
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-20_000)
  })
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    })
  })

  const timeoutMs = options.readyTimeoutMs ?? 10_000
  const ready = await new Promise<{ host: string; port: number; url: string; pid: number }>((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new StartError(`sim-${kind} printed no ready line within ${timeoutMs} ms; stderr:\n${stderr}`))
    }, timeoutMs)
    const onData = (s: string) => {
      out += s
      const nl = out.indexOf("\n")
      if (nl < 0) return
      clearTimeout(timer)
      child.stdout?.off("data", onData)
      // Keep draining so a chatty child never blocks on a full pipe.
      child.stdout?.resume()
      try {
        resolve(JSON.parse(out.slice(0, nl)))
      } catch {
        reject(new StartError(`sim-${kind} printed an unreadable ready line: ${out.slice(0, nl)}`))
      }
    }
    child.stdout?.setEncoding("utf8").on("data", onData)
    void exited.then((e) => {
      clearTimeout(timer)
      reject(new StartError(`sim-${kind} exited (code ${e.code}, signal ${e.signal}) before it was ready; stderr:\n${stderr}`))
    })
  })

  const base = ready.url
  const stop = async (graceMs = 2000): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
      const e = await exited
      clearTimeout(timer)
      return e
    }
    return exited
  }
  return {
    kind,
    url: base,
    host: ready.host,
    port: ready.port,
    pid: ready.pid,
    home: kind === "moondream" ? home : undefined,
    exited,
    setFaults: async (faults) => {
      await control(`${base}/__sim/faults`, "POST", { faults })
    },
    clearFaults: async () => {
      await control(`${base}/__sim/faults`, "DELETE")
    },
    faults: async () => ((await control(`${base}/__sim/faults`, "GET")) as { faults: ReadonlyArray<Fault> }).faults,
    requests: async () => ((await control(`${base}/__sim/requests`, "GET")) as { requests: ReadonlyArray<RecordedRequest> }).requests,
    clearRequests: async () => {
      await control(`${base}/__sim/requests`, "DELETE")
    },
    stderr: () => stderr,
    kill: (signal = "SIGKILL") => {
      child.kill(signal)
    },
    stop
  }
}

export type Spec = Kind | readonly [Kind, StartOptions]

/** Starts several simulators, runs `use`, and stops them all whatever happens. */
export const withSimulators = async <A>(specs: ReadonlyArray<Spec>, use: (sims: ReadonlyArray<Running>) => Promise<A>): Promise<A> => {
  const started: Array<Running> = []
  try {
    for (const spec of specs) started.push(typeof spec === "string" ? await start(spec) : await start(spec[0], spec[1]))
    return await use(started)
  } finally {
    await Promise.all(started.map((s) => s.stop()))
  }
}
