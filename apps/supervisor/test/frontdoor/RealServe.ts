/**
 * `local-router serve` as a real process, started the way the service starts it, supervising an
 * Ollama simulator on a port the OS picked: for tests that attack the front door from outside.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Simulator } from "@local-router/simulators"
import * as Service from "../../src/service/Service.ts"
import { alive, freePort, repo, routing, type ServerSpec, tempDir, writeRouting } from "../supervisor/Fixture.ts"

/** The repository's root, for the built CLI (apps/supervisor/dist/bin.js). */
export const repoDir = repo

export interface RealServe {
  readonly port: number
  readonly url: string
  readonly pid: number
  readonly dir: string
  /** The routing.yaml serve runs. */
  readonly file: string
  /** The simulator's address, for its request log (`/__sim/log`). */
  readonly simulator: string
  /** Everything serve printed so far. */
  readonly output: () => string
  readonly alive: () => boolean
  /** serve's resident memory now, in bytes (Linux /proc). */
  readonly rss: () => number
  /**
   * serve's resident memory once it is quiet again: after a minute and a bit without requests
   * (an idle PDF render worker is ended after a minute) and once it reads below `target`, or the
   * last reading after `ms` more.
   */
  readonly settledRss: (target: number, ms: number) => Promise<number>
  readonly stop: () => Promise<void>
  /** SIGKILL serve (nothing of it runs on: no exit hooks, no scopes closed). */
  readonly kill: () => Promise<void>
  /** Another serve on the same routing.yaml and port, once its server is ready or adopted. */
  readonly again: () => Promise<RealServe>
  /** The supervised server's state in /status. */
  readonly server: () => Promise<{ readonly phase: string; readonly pid?: number } | undefined>
}

export interface StartOptions {
  readonly server?: Record<string, unknown>
  readonly port?: number
  /**
   * The simulator as a real server is: it does not exit when serve's pipe to it closes (the
   * test fixture's simulators otherwise die with their parent).
   */
  readonly likeARealServer?: boolean
  /** More supervised simulators beside the Ollama one, each on a port the OS picked. */
  readonly more?: Readonly<Record<string, Omit<ServerSpec, "port">>>
  /** Run serve with this token (LOCAL_ROUTER_TOKEN); every request, the readiness check's too, then sends it. */
  readonly token?: string
  /** Changes to the routing.yaml written (more categories, other priorities). */
  readonly edit?: (config: ReturnType<typeof routing>) => unknown
}

/** serve's command line exactly as the LaunchAgent / systemd unit runs it, plus the test's port and log directory. */
export const command = (file: string, port: number, logDir: string) => ({
  file: process.execPath,
  args: [...Service.serveArguments(path.join(repo, "apps/supervisor/dist/bin.js"), file), "--port", String(port), "--log-dir", logDir]
})

/** Start serve and wait until its gateway answers and the simulator behind it is ready. */
export const start = async (options: StartOptions = {}): Promise<RealServe> => {
  const [port, sim] = await Promise.all([options.port ?? freePort(), freePort()])
  const dir = tempDir("lr-frontdoor-")
  const spec = {
    kind: "ollama" as const,
    port: sim,
    ...(options.likeARealServer ? { commandArgs: ["--disable-warning=ExperimentalWarning", Simulator.binPath("ollama"), "--port", "{port}"] } : {})
  }
  const more = await Promise.all(Object.entries(options.more ?? {}).map(async ([name, m]) => [name, { ...m, port: await freePort() }] as const))
  const base = routing({ ollama: spec, ...Object.fromEntries(more) })
  const config = options.edit ? options.edit(base) : base
  const file = writeRouting(dir, { ...(config as object), ...(options.server ? { server: options.server } : {}) })
  return launch(file, port, dir, `http://127.0.0.1:${sim}`, options.token)
}

const launch = async (file: string, port: number, dir: string, simulator: string, token?: string): Promise<RealServe> => {
  const { args, file: node } = command(file, port, path.join(dir, "logs"))
  const env = { ...process.env, NO_COLOR: "1", ...(token ? { LOCAL_ROUTER_TOKEN: token } : {}) }
  const child: ChildProcess = spawn(node, args, { stdio: ["ignore", "pipe", "pipe"], env })
  let output = ""
  child.stdout!.on("data", (d) => (output += d))
  child.stderr!.on("data", (d) => (output += d))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  const server = () =>
    fetch(`${url}/status`, token ? { headers: { authorization: `Bearer ${token}` } } : {}).then(
      (r) => r.json() as Promise<{ supervisor?: { servers: Array<{ phase: string; pid?: number }> } }>,
      () => undefined
    ).then((status) => status?.supervisor?.servers[0])
  while (true) {
    const phase = (await server())?.phase
    if (phase === "ready" || phase === "adopted") break
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`serve did not become ready:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const pid = child.pid!
  const rss = () => {
    const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!
    return Number(line.replace(/\D+/g, "")) * 1024
  }
  return {
    port,
    url,
    pid,
    dir,
    file,
    simulator,
    output: () => output,
    alive: () => child.exitCode === null && child.signalCode === null && alive(pid),
    rss,
    settledRss: async (target, ms) => {
      await new Promise((r) => setTimeout(r, 62_000))
      const deadline = Date.now() + ms
      while (rss() >= target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500))
      return rss()
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM")
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (child.exitCode === null) child.kill("SIGKILL")
    },
    kill: async () => {
      child.kill("SIGKILL")
      await exited
    },
    again: () => launch(file, port, dir, simulator, token),
    server
  }
}
