/**
 * bench/supervisor: how fast a supervised server is back after `kill -9`, as a ratio to its own
 * start time (goal: start time + at most 1 s), and the supervisor's idle RSS and CPU
 * (goal: <= 70 MB, ~0 % CPU, read as under 0.2 %).
 *
 *   ./run node bench/supervisor/recovery.ts [--kills 5] [--idle-seconds 60] [--settle-seconds 15] [--burst 3000]
 *
 * The supervised server is sim-ollama, a real child process on a port the OS picked. Recovery is
 * measured in-process; idle use on a real `local-router serve` process (Linux /proc), started
 * with the very arguments `local-router service install` writes into the LaunchAgent / systemd
 * unit (Service.serveArguments, serveEnvironment): the built command, apps/supervisor/dist/bin.js
 * (./run brings the build up to date before this runs), after one warm-up start (the OS's file
 * cache). The first `--settle-seconds` after ready are reported on their own: they hold
 * one-off start-up work (V8's memory reducer runs some seconds after start-up), not idle cost.
 * Then `--burst` routed requests go through the gateway, and idle use is measured once more.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Simulator } from "../../packages/simulators/src/index.ts"
import { definition as ollama } from "../../packages/backend-ollama/src/index.ts"
import { type Backend, LiveRouting } from "../../packages/core/src/index.ts"
import * as Supervisor from "../../apps/supervisor/src/supervisor/Supervisor.ts"
import * as Service from "../../apps/supervisor/src/service/Service.ts"
import type * as Server from "../../apps/supervisor/src/supervisor/Server.ts"

// bench/ has no node_modules of its own: take effect from the supervisor's (the same copy it uses).
type EffectModule = typeof import("../../apps/supervisor/node_modules/effect/dist/index.js")
const supervisorDir = path.resolve(import.meta.dirname, "../../apps/supervisor")
const { Effect, Exit, Option, References, Scope, Stream } = (await import(
  createRequire(path.join(supervisorDir, "package.json")).resolve("effect")
)) as EffectModule

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "5" },
    "idle-seconds": { type: "string", default: "60" },
    "settle-seconds": { type: "string", default: "15" },
    burst: { type: "string", default: "3000" },
    help: { type: "boolean", default: false }
  }
})
if (values.help) {
  console.log("./run node bench/supervisor/recovery.ts [--kills 5] [--idle-seconds 60] [--settle-seconds 15] [--burst 3000]")
  process.exit(0)
}
const kills = Number(values.kills)
const idleSeconds = Number(values["idle-seconds"])
const settleSeconds = Number(values["settle-seconds"])
const burst = Number(values.burst)

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })

const waitFor = (server: Server.Server, p: (s: Server.Status) => boolean) =>
  server.changes.pipe(Stream.filter(p), Stream.runHead, Effect.map(Option.getOrThrow))

const main = Effect.gen(function*() {
  const port = yield* Effect.promise(freePort)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lr-bench-sup-"))
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, JSON.stringify({
    version: 1,
    backends: {
      ollama: {
        type: "ollama",
        url: `http://127.0.0.1:${port}`,
        supervise: {
          command: process.execPath,
          args: ["--disable-warning=ExperimentalWarning", Simulator.binPath("ollama"), "--port", "{port}", "--die-with-stdin"],
          readiness: { interval: "25ms" },
          // Each kill counts as a first failure (a crash after a healthy run), not a crash loop.
          restart: { window: "500ms", limit: kills + 5 }
        }
      }
    },
    priorities: { text: ["ollama"] },
    categories: { fast: { input: "text", models: { ollama: "phi3.5:3.8b" } } }
  }))
  const scope = yield* Scope.make()
  const t0 = performance.now()
  const live = yield* Scope.provide(LiveRouting.make(file, { watch: false, builtins: new Map([["ollama", ollama as Backend.Definition]]) }), scope)
  const supervisor = yield* Scope.provide(
    Effect.provideService(Supervisor.make({ logDir: path.join(dir, "logs") }), LiveRouting.LiveRouting, live),
    scope
  )
  const server = (yield* supervisor.server("ollama"))!
  let s = yield* waitFor(server, (x) => x.phase === "ready")
  const coldStart = performance.now() - t0
  const startTimes: Array<number> = []
  const recoveries: Array<number> = []
  for (let i = 0; i < kills; i++) {
    const before = s
    const k = performance.now()
    process.kill(before.pid!, "SIGKILL")
    const starting = yield* waitFor(server, (x) => x.phase === "starting" && x.pid !== before.pid)
    const spawnedAt = performance.now()
    s = yield* waitFor(server, (x) => x.phase === "ready" && x.pid === starting.pid)
    const back = performance.now()
    recoveries.push(back - k)
    startTimes.push(back - spawnedAt)
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const start = median(startTimes)
  const recovery = median(recoveries)
  console.log(`cold start (supervisor + server): ${coldStart.toFixed(0)} ms`)
  console.log(`server's own start time (spawn -> ready), median of ${kills}: ${start.toFixed(0)} ms`)
  console.log(`kill -9 -> ready again, median of ${kills}: ${recovery.toFixed(0)} ms  (ratio ${(recovery / start).toFixed(2)}x; overhead ${(recovery - start).toFixed(0)} ms, goal <= 1000 ms: ${recovery - start <= 1000 ? "met" : "NOT met"})`)

  yield* Scope.close(scope, Exit.void)

  // Idle: the real `local-router serve` process, supervising one healthy server (a GET / every
  // 5 s, the backend's full probe every 60 s), started as the LaunchAgent and systemd unit start it.
  const launcher = path.resolve(supervisorDir, "dist/bin.js")
  const startServe = Effect.gen(function*() {
    const api = yield* Effect.promise(freePort)
    const args = [...Service.serveArguments(launcher, file), "--port", String(api), "--log-dir", path.join(dir, "logs")]
    const child = spawn(process.execPath, args, { stdio: "ignore", env: { ...process.env, ...Service.serveEnvironment } })
    yield* Effect.promise(async () => {
      for (;;) {
        // The gateway's /status carries the supervisor's view under `supervisor`.
        const body = await fetch(`http://127.0.0.1:${api}/status`).then((r) => r.json() as Promise<{ supervisor?: { servers: Array<{ phase: string }> } }>, () => undefined)
        if (body?.supervisor?.servers[0]?.phase === "ready") return
        await new Promise((r) => setTimeout(r, 100))
      }
    })
    return { child, args, api }
  })
  const stopServe = (child: ReturnType<typeof spawn>) =>
    Effect.promise(() => new Promise((r) => (child.exitCode !== null ? r(undefined) : (child.once("exit", r), child.kill("SIGTERM")))))
  yield* Effect.flatMap(startServe, ({ child }) => stopServe(child))
  const { api, child: serve, args } = yield* startServe
  console.log(`local-router serve as the service runs it: node ${args.slice(0, args.indexOf("serve")).map((a) => path.relative(process.cwd(), a) || a).join(" ")} serve ...`)
  const ticks = () => {
    const f = fs.readFileSync(`/proc/${serve.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return Number(f[11]) + Number(f[12])
  }
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${serve.pid}/status`, "utf8"))![1]) * 1024
  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 500)
  const s0 = ticks()
  yield* Effect.sleep(`${settleSeconds} seconds`)
  const settleCpu = ((ticks() - s0) * 10) / (settleSeconds * 10)
  console.log(`first ${settleSeconds} s after ready (one-off start-up work): CPU ${settleCpu.toFixed(2)} %, RSS ${(rss() / 1e6).toFixed(1)} MB`)
  const verdict = (met: boolean) => (met ? "met" : "NOT met")
  const idle = (what: string) =>
    Effect.gen(function*() {
      peak = 0
      const c0 = ticks()
      const w0 = performance.now()
      yield* Effect.sleep(`${idleSeconds} seconds`)
      const cpuMs = (ticks() - c0) * 10
      const wall = performance.now() - w0
      const mb = rss() / 1e6
      const cpu = (cpuMs / wall) * 100
      console.log(
        `${what} idle over ${idleSeconds} s: RSS ${mb.toFixed(1)} MB (peak ${(peak / 1e6).toFixed(1)} MB; goal <= 70 MB: ${verdict(mb <= 70)}), ` +
          `CPU ${cpu.toFixed(2)} % (goal ~0 %, under 0.2 %: ${verdict(cpu < 0.2)})`
      )
    })
  yield* idle("then")

  // Then a burst of routed requests (OpenAI JSON and SSE, Ollama NDJSON) through the gateway to
  // the supervised server, and idle again: what serve holds once it has worked, not only started.
  if (burst > 0) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
    const one = (i: number) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ model: "fast", stream: i % 2 === 0, messages: [{ role: "user", content: `hello ${i}` }] })
        const req = http.request(
          { host: "127.0.0.1", port: api, path: i % 3 === 2 ? "/api/chat" : "/v1/chat/completions", method: "POST", agent, headers: { "content-type": "application/json" } },
          (res) => {
            res.resume()
            res.on("end", () => resolve(res.statusCode ?? 0))
          }
        )
        req.on("error", reject)
        req.end(body)
      })
    const t0 = performance.now()
    let next = 0
    let failed = 0
    yield* Effect.promise(() =>
      Promise.all(Array.from({ length: 8 }, async () => {
        while (next < burst) if ((await one(next++)) !== 200) failed++
      }))
    )
    agent.destroy()
    console.log(`burst: ${burst} requests through the gateway in ${((performance.now() - t0) / 1000).toFixed(1)} s (${failed} not 200), RSS right after ${(rss() / 1e6).toFixed(1)} MB`)
    yield* Effect.sleep(`${settleSeconds} seconds`)
    yield* idle(`after the burst (and ${settleSeconds} s), `)
  }
  clearInterval(sampler)
  yield* stopServe(serve)
})

Effect.runPromise(main.pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
