/**
 * Gateway bench: what local-router's gateway adds on top of talking to a model server
 * directly, next to what Portkey's open-source gateway adds, all against the same simulated
 * OpenAI-compatible server, in one run:
 *
 *   - added latency, non-streaming, p50 and p99 (sequential requests on a kept-alive connection)
 *   - added time to first token, streaming (p50, p99)
 *   - throughput at concurrency 1, 16 and 64 (autocannon), as a share of direct
 *
 * local-router runs with Node's flags exactly as the service runs `serve` (Service.serveArguments).
 * Next to local-router and Portkey runs `floor` (floor.ts): a bare node:http proxy with no
 * routing at all, the least any Node gateway can add on this machine, so the goals can be
 * read against what is physically there.
 *
 *   ./run node bench/gateway/run.ts [--quick]
 *
 * Goals: local-router adds p50 <= 0.3 ms, p99 <= 1 ms, and at most a fifth of Portkey's added
 * latency. Each server runs in its own process; rounds alternate targets so drift (CPU
 * frequency, GC, other load) hits all of them alike.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Service from "../../apps/supervisor/src/service/Service.ts"
import { Simulator } from "../../packages/simulators/src/index.ts"

const quick = process.argv.includes("--quick")
const gatewayDir = path.resolve(import.meta.dirname, "../../packages/gateway")
const requireFromGateway = createRequire(path.join(gatewayDir, "package.json"))
const autocannon = requireFromGateway("autocannon") as (options: Record<string, unknown>) => Promise<{ requests: { average: number }; non2xx: number; errors: number }>
const portkeyServer = path.join(path.dirname(requireFromGateway.resolve("@portkey-ai/gateway/package.json")), "build", "start-server.js")

const KEY = "sk-bench"
const PROMPT = "hello bench"

interface Target {
  readonly name: "direct" | "direct-streamed" | "floor" | "local-router" | "portkey"
  readonly url: string
  readonly headers: Record<string, string>
  readonly model: string
  /** Ask for a stream even when measuring a whole answer (what local-router's backends do upstream). */
  readonly streams?: boolean
}

const children: Array<ChildProcess> = []
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")))

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    }).on("error", reject)
  })

const firstLine = (child: ChildProcess) =>
  new Promise<string>((resolve, reject) => {
    let out = ""
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf("\n")
      if (nl >= 0) resolve(out.slice(0, nl))
    })
    child.once("exit", (code) => reject(new Error(`exited with ${code} before it was ready`)))
  })

const waitFor = async (url: string) => {
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(url).then((r) => r.ok, () => false)
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${url} never answered`)
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

/** One POST; resolves with [ms to the whole body, ms to the first content token]. */
const call = (target: Target, stream: boolean) =>
  new Promise<readonly [number, number]>((resolve, reject) => {
    const body = JSON.stringify({ model: target.model, messages: [{ role: "user", content: PROMPT }], stream: stream || target.streams === true })
    const url = new URL(`${target.url}/v1/chat/completions`)
    const t0 = performance.now()
    let first = 0
    let seen = ""
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: "POST",
      agent,
      headers: { ...target.headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (res) => {
      res.on("data", (d: Buffer) => {
        if (first === 0) {
          seen += d.toString()
          if (/"content":"[^"]/.test(seen)) first = performance.now() - t0
        }
      })
      res.on("end", () => {
        if (res.statusCode !== 200) reject(new Error(`${target.name}: HTTP ${res.statusCode} ${seen.slice(0, 300)}`))
        else resolve([performance.now() - t0, first])
      })
    })
    req.on("error", reject)
    req.end(body)
  })

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Latencies per target; a target that cannot serve this kind of request is left out, with the reason. */
const sample = async (all: ReadonlyArray<Target>, stream: boolean, rounds: number, perRound: number) => {
  const targets: Array<Target> = []
  for (const t of all) {
    const failure = await (async () => {
      for (let i = 0; i < 200; i++) await call(t, stream) // warm-up
    })().then(() => undefined, (e: Error) => e.message)
    if (failure === undefined) targets.push(t)
    else console.log(`  (${t.name} left out: ${failure.slice(0, 160)})`)
  }
  const results = new Map<string, Array<number>>(targets.map((t) => [t.name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      for (let i = 0; i < perRound; i++) {
        const [total, first] = await call(t, stream)
        results.get(t.name)!.push(stream ? first : total)
      }
    }
  }
  return results
}

const main = async () => {
  console.log(`gateway bench on ${os.cpus().length} CPU(s), node ${process.version}${quick ? " (quick)" : ""}`)
  const sim = await Simulator.start("openai", { args: ["--tokens", "8", "--models", "*"] })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-bench-"))
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, `backends:
  sim: { type: mlx, url: "${sim.url}", apiKey: env:BENCH_SIM_KEY }
priorities:
  text: [sim]
categories:
  fast:
    input: text
    models: { sim: gpt-4o-mini }
`)
  try {
    // Node's flags exactly as `local-router serve` runs under the service (and `./run start`).
    const entry = "<entry>"
    const args = Service.serveArguments(entry, file)
    const flags = args.slice(0, args.indexOf(entry))
    const lr = spawn(process.execPath, [...flags, path.join(import.meta.dirname, "serve.ts"), file], {
      env: { ...process.env, BENCH_SIM_KEY: KEY },
      stdio: ["ignore", "pipe", "inherit"]
    })
    children.push(lr)
    const lrUrl = (JSON.parse(await firstLine(lr)) as { url: string }).url

    const floor = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(import.meta.dirname, "floor.ts"), sim.url, KEY], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    children.push(floor)
    const floorUrl = (JSON.parse(await firstLine(floor)) as { url: string }).url

    const pkPort = await freePort()
    const pk = spawn(process.execPath, [portkeyServer, `--port=${pkPort}`, "--headless"], {
      env: { ...process.env, NODE_ENV: "production" },
      stdio: ["ignore", "ignore", "ignore"]
    })
    children.push(pk)
    const pkUrl = `http://127.0.0.1:${pkPort}`
    await waitFor(pkUrl)

    const auth = { authorization: `Bearer ${KEY}` }
    const targets: ReadonlyArray<Target> = [
      { name: "direct", url: sim.url, headers: auth, model: "gpt-4o-mini" },
      { name: "local-router", url: lrUrl, headers: {}, model: "fast" },
      { name: "direct-streamed", url: sim.url, headers: auth, model: "gpt-4o-mini", streams: true },
      { name: "floor", url: floorUrl, headers: {}, model: "fast" },
      {
        name: "portkey",
        url: pkUrl,
        headers: { ...auth, "x-portkey-provider": "openai", "x-portkey-custom-host": `${sim.url}/v1` },
        model: "gpt-4o-mini"
      }
    ]
    for (const t of targets) await call(t, false) // each answers before we measure

    const rounds = quick ? 3 : 6
    const perRound = quick ? 200 : 500
    const report = (title: string, results: Map<string, Array<number>>) => {
      const direct = results.get("direct")!
      const base = { p50: percentile(direct, 50), p99: percentile(direct, 99) }
      console.log(`\n${title} (${direct.length} requests per target)`)
      console.log(`  ${"target".padEnd(13)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"added p50".padStart(10)} ${"added p99".padStart(10)}`)
      const added: Record<string, { p50: number; p99: number }> = {}
      for (const [name, values] of results) {
        const p50 = percentile(values, 50)
        const p99 = percentile(values, 99)
        added[name] = { p50: p50 - base.p50, p99: p99 - base.p99 }
        console.log(`  ${name.padEnd(13)} ${p50.toFixed(3).padStart(8)} ${p99.toFixed(3).padStart(8)} ${(p50 - base.p50).toFixed(3).padStart(10)} ${(p99 - base.p99).toFixed(3).padStart(10)}`)
      }
      const lr = added["local-router"]!
      const pk = added.portkey
      const streamed = added["direct-streamed"]
      if (streamed) console.log(`  local-router over direct-streamed (routing + gateway on the path its backends take): p50 ${(lr.p50 - streamed.p50).toFixed(3)} ms  p99 ${(lr.p99 - streamed.p99).toFixed(3)} ms`)
      const floor = added.floor
      if (floor) console.log(`  local-router added / floor added (a bare node:http proxy): p50 ${(lr.p50 / floor.p50).toFixed(3)}  p99 ${(lr.p99 / floor.p99).toFixed(3)}`)
      if (pk) console.log(`  local-router added / portkey added: p50 ${(lr.p50 / pk.p50).toFixed(3)}  p99 ${(lr.p99 / pk.p99).toFixed(3)}  (goal <= 0.2)`)
      return lr
    }

    // direct-streamed is the same server asked for a stream and read to its end: local-router's
    // backends always stream upstream (for the commit gate and the idle deadline), so the
    // difference between it and local-router is what routing and the gateway add on that path.
    const whole = report("non-streaming latency", await sample(targets, false, rounds, perRound))
    console.log(`  goals: added p50 ${whole.p50.toFixed(3)} ms (<= 0.3), added p99 ${whole.p99.toFixed(3)} ms (<= 1)`)
    report("streaming time to first token", await sample(targets.filter((t) => t.name !== "direct-streamed"), true, rounds, Math.round(perRound / 2)))

    console.log("\nthroughput, requests/s (non-streaming)")
    const loaded = targets.filter((t) => t.name !== "direct-streamed")
    console.log(`  ${"connections".padEnd(12)} ${loaded.map((t) => t.name.padStart(13)).join(" ")}   local-router/direct  local-router/floor  local-router/portkey`)
    for (const connections of [1, 16, 64]) {
      const rates = new Map<string, number>()
      for (const t of loaded) {
        const result = await autocannon({
          url: `${t.url}/v1/chat/completions`,
          method: "POST",
          headers: { ...t.headers, "content-type": "application/json" },
          body: JSON.stringify({ model: t.model, messages: [{ role: "user", content: PROMPT }] }),
          connections,
          duration: quick ? 2 : 5
        })
        if (result.non2xx > 0 || result.errors > 0) console.log(`  (${t.name}: ${result.non2xx} non-2xx, ${result.errors} errors)`)
        rates.set(t.name, result.requests.average)
      }
      const lr = rates.get("local-router")!
      const ratio = (name: string) => (rates.get(name) ? (lr / rates.get(name)!).toFixed(3) : "-")
      console.log(`  ${String(connections).padEnd(12)} ${loaded.map((t) => rates.get(t.name)!.toFixed(0).padStart(13)).join(" ")}   ${ratio("direct").padStart(19)}  ${ratio("floor").padStart(18)}  ${ratio("portkey").padStart(20)}`)
    }
  } finally {
    children.forEach((c) => c.kill("SIGKILL"))
    await sim.stop()
    fs.rmSync(dir, { recursive: true, force: true })
    agent.destroy()
  }
}

await main()
