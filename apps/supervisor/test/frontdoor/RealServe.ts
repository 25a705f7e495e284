/**
 * `local-router serve` as a real process, started the way the service starts it, supervising an
 * Ollama simulator on a port the OS picked: for tests that attack the front door from outside.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Service from "../../src/service/Service.ts"
import { alive, freePort, repo, routing, tempDir, writeRouting } from "../supervisor/Fixture.ts"

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
   * serve's resident memory once it settles below `target` bytes, or the last reading after
   * `ms`: right after a burst its heap still holds the burst's garbage, which serve collects
   * once it is idle.
   */
  readonly settledRss: (target: number, ms: number) => Promise<number>
  readonly stop: () => Promise<void>
}

/** serve's command line exactly as the LaunchAgent / systemd unit runs it, plus the test's port and log directory. */
export const command = (file: string, port: number, logDir: string) => ({
  file: process.execPath,
  args: [...Service.serveArguments(path.join(repo, "apps/supervisor/src/launch.js"), file), "--port", String(port), "--log-dir", logDir]
})

/** Start serve and wait until its gateway answers and the simulator behind it is ready. */
export const start = async (options: { readonly server?: Record<string, unknown>; readonly port?: number } = {}): Promise<RealServe> => {
  const [port, sim] = await Promise.all([options.port ?? freePort(), freePort()])
  const dir = tempDir("lr-frontdoor-")
  const file = writeRouting(dir, { ...routing({ ollama: { kind: "ollama", port: sim } }), ...(options.server ? { server: options.server } : {}) })
  const { args, file: node } = command(file, port, path.join(dir, "logs"))
  const child: ChildProcess = spawn(node, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
  let output = ""
  child.stdout!.on("data", (d) => (output += d))
  child.stderr!.on("data", (d) => (output += d))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  while (true) {
    const status = await fetch(`${url}/status`).then((r) => r.json() as Promise<{ supervisor?: { servers: Array<{ phase: string }> } }>, () => undefined)
    if (status?.supervisor?.servers[0]?.phase === "ready") break
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
    simulator: `http://127.0.0.1:${sim}`,
    output: () => output,
    alive: () => child.exitCode === null && child.signalCode === null && alive(pid),
    rss,
    settledRss: async (target, ms) => {
      const deadline = Date.now() + ms
      while (rss() >= target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500))
      return rss()
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM")
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      if (child.exitCode === null) child.kill("SIGKILL")
    }
  }
}
