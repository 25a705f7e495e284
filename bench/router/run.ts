/**
 * Router micro-bench: what core's Router costs per request over a plain `fetch` of the same
 * streamed chat request, against each simulator, in one run:
 *
 *   - fetch        raw `fetch` of the streamed request the backend sends, body read to its end
 *   - http         the same over node:http (core's transport for http: URLs; fetch is slower)
 *   - run          `router.run` (whole answer)
 *   - stream       `router.stream` (the answer as an Effect Stream), drained
 *   - pull         `router.pull` (the answer as core's Events, what the gateway reads), drained
 *   - stream-ttft  `router.pull` until its first TextDelta, compared with fetch's first
 *                  content-bearing chunk (a router without `pull`: `router.stream`'s)
 *
 * Every figure is printed as a ratio to the fetch baseline measured in the same run, next to
 * the added milliseconds: absolute times depend on the machine, and the machine is shared.
 * Rounds alternate the targets so drift hits all of them alike. Also printed: how many TCP
 * connections the client opened per request. The simulators allow no reuse to any client
 * (see upstream.ts), so `keepalive`, a bare streaming server with Node's default keep-alive,
 * shows whether the router keeps connections as fetch does.
 *
 *   ./run node bench/router/run.ts [--quick] [--sim keepalive,openai,mlx,ollama]
 */
import { spawn } from "node:child_process"
import * as dc from "node:diagnostics_channel"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { definition as mlx } from "../../packages/backend-mlx/src/index.ts"
import { definition as ollama } from "../../packages/backend-ollama/src/index.ts"
import { type Backend, LiveRouting, Router } from "../../packages/core/src/index.ts"
import { Simulator } from "../../packages/simulators/src/index.ts"

// bench/ has no node_modules of its own: take core's effect, the very module core itself loads
// (another copy would be a different runtime).
type EffectModule = typeof import("../../packages/core/node_modules/effect/dist/index.js")
const effectEsm = path.resolve(import.meta.dirname, "../../packages/core/node_modules/effect/dist/index.js")
const { Effect, Exit, Scope, Stream } = await import(pathToFileURL(effectEsm).href) as EffectModule

const quick = process.argv.includes("--quick")
const simArg = process.argv[process.argv.indexOf("--sim") + 1]
type Kind = "keepalive" | "openai" | "mlx" | "ollama"
const kinds = (process.argv.includes("--sim") && simArg ? simArg.split(",") : ["keepalive", "openai", "mlx", "ollama"]) as Array<Kind>
const warmup = quick ? 100 : 300
const rounds = quick ? 3 : 5
const perRound = quick ? 100 : 200
const PROMPT = "hello bench"
const KEY = "sk-bench"
process.env["BENCH_SIM_KEY"] = KEY

const agent = new http.Agent({ keepAlive: true })

// Every TCP connection the process opens, whether by fetch (undici) or node:http.
let connections = 0
dc.subscribe("net.client.socket", () => {
  connections++
})

interface Upstream {
  readonly url: string
  readonly stop: () => Promise<unknown>
}

interface Setup {
  readonly model: string
  readonly start: () => Promise<Upstream>
  readonly type: "mlx" | "ollama"
  /** The streamed request the backend makes, for the fetch baseline. */
  readonly raw: (url: string) => { readonly url: string; readonly body: string }
}

/** upstream.ts in a child process; it exits when our stdin pipe to it closes. */
const keepalive = async (): Promise<Upstream> => {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, "upstream.ts")], { stdio: ["pipe", "pipe", "inherit"] })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ""
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")))
    })
    child.once("exit", (code) => reject(new Error(`upstream.ts exited with ${code}`)))
  })
  return {
    url: (JSON.parse(line) as { url: string }).url,
    stop: () => new Promise((resolve) => child.once("exit", resolve).kill())
  }
}

const simulator = (kind: "openai" | "mlx" | "ollama", args: ReadonlyArray<string>) => () => Simulator.start(kind, { args })

const setups: Record<Kind, Setup> = {
  keepalive: {
    model: "bench",
    start: keepalive,
    type: "mlx",
    raw: (url) => ({ url: `${url}/v1/chat/completions`, body: openAiBody("bench") })
  },
  openai: {
    model: "gpt-4o-mini",
    start: simulator("openai", ["--tokens", "8", "--models", "*"]),
    type: "mlx",
    raw: (url) => ({ url: `${url}/v1/chat/completions`, body: openAiBody("gpt-4o-mini") })
  },
  mlx: {
    model: "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit",
    start: simulator("mlx", ["--tokens", "8"]),
    type: "mlx",
    raw: (url) => ({ url: `${url}/v1/chat/completions`, body: openAiBody("mlx-community/Qwen2.5-Coder-32B-Instruct-4bit") })
  },
  ollama: {
    model: "phi3.5:3.8b",
    start: simulator("ollama", ["--tokens", "8"]),
    type: "ollama",
    raw: (url) => ({
      url: `${url}/api/chat`,
      body: JSON.stringify({ model: "phi3.5:3.8b", messages: [{ role: "user", content: PROMPT }], stream: true })
    })
  }
}

function openAiBody(model: string) {
  return JSON.stringify({
    model,
    messages: [{ role: "user", content: PROMPT }],
    max_tokens: 4096,
    stream: true,
    stream_options: { include_usage: true }
  })
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** One measured request: [ms to the end, ms to the first token]. */
type Call = () => Promise<readonly [number, number]>

const bench = async (kind: Kind) => {
  const setup = setups[kind]
  const sim = await setup.start()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "router-bench-"))
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, `backends:
  sim: { type: ${setup.type}, url: "${sim.url}"${setup.type === "mlx" ? ", apiKey: env:BENCH_SIM_KEY" : ""} }
priorities:
  text: [sim]
categories:
  fast:
    input: text
    models: { sim: "${setup.model}" }
`)
  const scope = Effect.runSync(Scope.make())
  try {
    const builtins = new Map<string, Backend.Definition>([["mlx", mlx as Backend.Definition], ["ollama", ollama as Backend.Definition]])
    const router = await Effect.runPromise(
      Effect.flatMap(LiveRouting.make(file, { builtins, watch: false }), (live) => Router.make(live.snapshot)).pipe(Scope.provide(scope))
    )
    const request: Router.Request = { category: "fast", prompt: PROMPT }
    const raw = setup.raw(sim.url)
    const decoder = new TextDecoder()

    const calls: Record<string, Call> = {
      fetch: async () => {
        const t0 = performance.now()
        let first = 0
        const response = await fetch(raw.url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${KEY}` }, body: raw.body })
        for await (const chunk of response.body!) {
          if (first === 0 && /"content":"[^"]/.test(decoder.decode(chunk))) first = performance.now() - t0
        }
        return [performance.now() - t0, first]
      },
      // The same request over node:http, the transport core uses for http: URLs.
      http: () =>
        new Promise((resolve, reject) => {
          const t0 = performance.now()
          let first = 0
          const req = http.request(raw.url, { method: "POST", agent, headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${KEY}` } }, (res) => {
            res.on("data", (chunk: Buffer) => {
              if (first === 0 && /"content":"[^"]/.test(chunk.toString())) first = performance.now() - t0
            })
            res.on("end", () => resolve([performance.now() - t0, first]))
            res.on("error", reject)
          })
          req.on("error", reject)
          req.end(raw.body)
        }),
      run: async () => {
        const t0 = performance.now()
        await Effect.runPromise(router.run(request))
        return [performance.now() - t0, 0]
      },
      stream: async () => {
        const t0 = performance.now()
        let first = 0
        await Effect.runPromise(Stream.runForEach(router.stream(request), (event) =>
          Effect.sync(() => {
            if (first === 0 && event._tag === "TextDelta") first = performance.now() - t0
          })))
        return [performance.now() - t0, first]
      },
      ...(router.pull === undefined ? {} : {
        pull: async () => {
          const t0 = performance.now()
          let first = 0
          const answer = router.pull(request)
          let ended = false
          const drain = Effect.whileLoop({
            while: () => !ended,
            body: () => answer.pull,
            step: (events: ReadonlyArray<Router.Event> | undefined) => {
              if (events === undefined) ended = true
              else if (first === 0 && events.some((event) => event._tag === "TextDelta")) first = performance.now() - t0
            }
          })
          await Effect.runPromise(Effect.ensuring(drain, Effect.sync(answer.close)))
          return [performance.now() - t0, first]
        }
      })
    }

    const names = Object.keys(calls)
    const totals = new Map<string, Array<number>>(names.map((n) => [n, []]))
    const firsts = new Map<string, Array<number>>(names.map((n) => [n, []]))
    const opened = new Map<string, number>(names.map((n) => [n, 0]))
    for (const name of names) for (let i = 0; i < warmup; i++) await calls[name]!()
    for (let r = 0; r < rounds; r++) {
      for (const name of names) {
        const before = connections
        for (let i = 0; i < perRound; i++) {
          const [total, first] = await calls[name]!()
          totals.get(name)!.push(total)
          firsts.get(name)!.push(first)
        }
        opened.set(name, opened.get(name)! + connections - before)
      }
    }

    const n = rounds * perRound
    const base = { p50: percentile(totals.get("fetch")!, 50), p99: percentile(totals.get("fetch")!, 99) }
    console.log(`\n${kind === "keepalive" ? "keep-alive upstream (upstream.ts)" : `sim-${kind}`} (${n} requests per target, after ${warmup} warm-up)`)
    console.log(`  ${"target".padEnd(12)} ${"p50/fetch".padStart(10)} ${"p99/fetch".padStart(10)} ${"+p50 ms".padStart(9)} ${"+p99 ms".padStart(9)} ${"conn/req".padStart(9)}`)
    const row = (name: string, values: ReadonlyArray<number>, baseline: { p50: number; p99: number }, conns: string) => {
      const p50 = percentile(values, 50)
      const p99 = percentile(values, 99)
      console.log(
        `  ${name.padEnd(12)} ${(p50 / baseline.p50).toFixed(2).padStart(10)} ${(p99 / baseline.p99).toFixed(2).padStart(10)} ${(p50 - baseline.p50).toFixed(3).padStart(9)} ${
          (p99 - baseline.p99).toFixed(3).padStart(9)
        } ${conns.padStart(9)}`
      )
    }
    for (const name of names) row(name, totals.get(name)!, base, (opened.get(name)! / n).toFixed(2))
    const firstBase = { p50: percentile(firsts.get("fetch")!, 50), p99: percentile(firsts.get("fetch")!, 99) }
    row("stream-ttft", firsts.get(calls.pull ? "pull" : "stream")!, firstBase, "")
    console.log(`  (fetch baseline: p50 ${base.p50.toFixed(3)} ms, p99 ${base.p99.toFixed(3)} ms; first token p50 ${firstBase.p50.toFixed(3)} ms)`)
    const overHttp = (name: string) => (percentile(totals.get(name)!, 50) / percentile(totals.get("http")!, 50)).toFixed(2)
    console.log(`  over node:http, p50: run ${overHttp("run")}x, stream ${overHttp("stream")}x${calls.pull ? `, pull ${overHttp("pull")}x` : ""}`)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await sim.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

console.log(`router bench on ${os.cpus().length} CPU(s), node ${process.version}${quick ? " (quick)" : ""}`)
for (const kind of kinds) await bench(kind)
agent.destroy()
