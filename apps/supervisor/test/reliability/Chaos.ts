/**
 * The chaos soak: local-router as a person runs it — the supervisor keeping MLX, Ollama and
 * Moondream Station (simulators, as its children) alive, the router over them with a cloud
 * last resort, and the gateway in front — while mixed traffic (text and images; OpenAI JSON,
 * OpenAI SSE, Ollama NDJSON) flows, faults are flipped at random on every server, and the
 * supervised servers are killed with SIGKILL, one kill cycle at a time (kill, then wait until
 * every server is ready again).
 *
 * Every request is classified from the client's side: answered (whole, compared word for word
 * with what that backend says when healthy), fallback (answered by a backend other than the
 * category's first), explicit error (an HTTP error, or an error event after the stream
 * started), hang (no end within 30 s), lost (no HTTP answer at all), or silent half answer (a
 * stream that ends like a whole one but is not, or ends with no marker and no error).
 * Loopback only; bounded by a request count, a kill count and a wall-clock cap.
 */
import { LiveRouting, Router } from "@local-router/core"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Gateway } from "../../../../packages/gateway/src/index.ts"
import { loaderOptions } from "../../src/Builtins.ts"
import * as StatusApi from "../../src/supervisor/StatusApi.ts"
import * as Supervisor from "../../src/supervisor/Supervisor.ts"

export interface Options {
  /** Requests to send (at least; traffic also continues until every kill cycle is done). */
  readonly requests: number
  readonly kills: number
  readonly concurrency?: number
  /** Wall-clock cap: the soak stops by itself after this, whatever is left. */
  readonly maxSeconds?: number
  readonly seed?: number
  readonly log?: (line: string) => void
}

export interface Report {
  readonly requests: number
  readonly byShape: Readonly<Record<Shape, number>>
  readonly answered: number
  readonly fallbacks: number
  readonly explicitErrors: number
  readonly hangs: number
  readonly lost: number
  readonly halfAnswers: number
  readonly faultsFlipped: number
  readonly kills: number
  /** Kill cycles after which every server was ready again within the deadline. */
  readonly recovered: number
  /** Every supervised server's phase at the end. */
  readonly finalPhases: Readonly<Record<string, string>>
  /** Secrets (API key, gateway token) found in any log line, status output or response. */
  readonly leaks: ReadonlyArray<string>
  /** Examples of anything that must not happen, for the person reading the report. */
  readonly incidents: ReadonlyArray<string>
  readonly seconds: number
  readonly stoppedEarly: boolean
}

export type Shape = "openai-json" | "openai-sse" | "ollama-ndjson" | "image-json" | "image-sse"
const shapes: ReadonlyArray<Shape> = ["openai-json", "openai-sse", "ollama-ndjson", "image-json", "image-sse"]

type Verdict = "answered" | "fallback" | "error" | "hang" | "lost" | "half"

const TOKEN = "lr-chaos-gateway-token-5e1f9a3c7b2d"
const CLOUD_KEY = "sk-chaos-cloud-key-8d2b6f0a4c9e1357"
const KEY_ENV = "LR_CHAOS_CLOUD_KEY"
const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")
const MLX_MODEL = "mlx-community/Phi-3.5-mini-instruct-4bit"
const prompts = ["Name a river", "Describe the sea in a few words", "What is a mountain", "Tell me about clouds", "Why is the sky blue", "Say something kind"]
const firstChoice: Record<"text" | "image", string> = { text: "mlx", image: "moondream" }
const models = {
  text: { mlx: MLX_MODEL, ollama: "phi3.5:3.8b", cloud: "gpt-4o-mini" },
  image: { moondream: "moondream-2", ollama: "moondream", cloud: "gpt-4o-mini" }
} as const

/** A small seeded generator, so a run can be repeated. */
const random = (seed: number) => {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 0x1_0000_0000
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

const superviseBlock = (kind: "mlx" | "ollama" | "moondream", home: string) => ({
  command: process.execPath,
  args: [
    "--disable-warning=ExperimentalWarning",
    Simulator.binPath(kind),
    "--port",
    "{port}",
    "--die-with-stdin",
    ...(kind === "moondream" ? ["--home", home] : []),
    ...(kind === "mlx" ? ["--model", MLX_MODEL] : [])
  ],
  readiness: { deadline: "30s", interval: "50ms" },
  health: { interval: "500ms", failures: 3 },
  // Kills come every few seconds on purpose: a short window keeps them from reading as a crash loop.
  restart: { backoffMin: "50ms", backoffMax: "500ms", window: "3s", limit: 10 },
  stop: { grace: "1s" }
})

const routingFor = (ports: Record<"mlx" | "ollama" | "moondream", number>, cloudUrl: string, home: string) => {
  const timeouts = { connect: "3s", firstToken: "5s", idle: "1500ms", total: "20s" }
  return {
    version: 1,
    defaults: { breaker: { failures: 3, cooldown: "1s" } },
    backends: {
      mlx: { type: "mlx", url: `http://127.0.0.1:${ports.mlx}`, supervise: superviseBlock("mlx", home) },
      ollama: { type: "ollama", url: `http://127.0.0.1:${ports.ollama}`, supervise: superviseBlock("ollama", home) },
      moondream: { type: "moondream", url: `http://127.0.0.1:${ports.moondream}/v1`, supervise: superviseBlock("moondream", home) },
      cloud: { type: "cloud", provider: "openai", url: `${cloudUrl}/v1`, apiKey: `env:${KEY_ENV}` }
    },
    priorities: { text: ["mlx", "ollama", "cloud"], image: ["moondream", "ollama", "cloud"] },
    categories: {
      fast: { input: "text", models: models.text, timeouts },
      vision: { input: "image", models: models.image, timeouts }
    }
  }
}

/** Faults a server may get, scoped to its generation route so the supervisor's probes see the kills, not these. */
const faultsFor = (server: string, pick: () => number): ReadonlyArray<Record<string, unknown>> => {
  const route = server === "ollama" ? "/api/chat" : server === "moondream" ? "/v1/query" : "/v1/chat/completions"
  const count = 1 + Math.floor(pick() * 4)
  const menu: ReadonlyArray<Record<string, unknown>> = [
    { kind: "status", status: 500 },
    { kind: "status", status: 503 },
    { kind: "cutAfterTokens", tokens: 1 + Math.floor(pick() * 3) },
    { kind: "hangAfterTokens", tokens: 1 + Math.floor(pick() * 3) },
    { kind: "hangBeforeHeaders" },
    { kind: "slowTokens", ms: 1_700 },
    { kind: "errorBody", message: "chaos" },
    { kind: "errorBody", message: "chaos", afterTokens: 2 },
    { kind: "malformedJson" },
    { kind: "dropConnection" }
  ]
  const fault = menu[Math.floor(pick() * menu.length)]!
  return [{ ...fault, route, count }]
}

interface Exchange {
  readonly verdict: Verdict
  readonly detail?: string
}

const post = (url: string, body: unknown, signal: AbortSignal) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
    signal
  })

export const soak = async (options: Options): Promise<Report> => {
  const log = options.log ?? (() => {})
  const pick = random(options.seed ?? Date.now())
  const started = Date.now()
  const deadline = started + (options.maxSeconds ?? 900) * 1000
  const seen: Array<string> = []
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lr-chaos-"))
  const home = path.join(dir, "moondream-home")
  fs.mkdirSync(home)
  process.env[KEY_ENV] = CLOUD_KEY
  const cloud = await Simulator.start("openai", { args: ["--api-key", CLOUD_KEY], readyTimeoutMs: 30_000 })
  const ports = { mlx: await freePort(), ollama: await freePort(), moondream: await freePort() }
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, JSON.stringify(routingFor(ports, cloud.url, home), null, 2))

  const scope = Effect.runSync(Scope.make())
  const logger = Logger.layer([Logger.make(({ message }) => {
    seen.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
  })])
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(effect.pipe(Scope.provide(scope), Effect.provide(logger)))
  try {
    const { gateway, supervisor } = await run(Effect.gen(function*() {
      const live = yield* LiveRouting.make(file, { ...loaderOptions, watch: false })
      const supervisor = yield* Effect.provideService(Supervisor.make({ logDir: path.join(dir, "logs") }), LiveRouting.LiveRouting, live)
      const router = yield* Router.make(live.snapshot)
      const gateway = yield* Gateway.make({ port: 0, token: Redacted.make(TOKEN), router, routing: live, status: StatusApi.view(supervisor) })
      return { gateway, supervisor }
    }))
    const statuses = () => run(Effect.flatMap(supervisor.snapshot, (s) => Effect.succeed(s.servers)))
    const allReady = async (ms: number, killed?: { readonly name: string; readonly pid: number }) => {
      const until = Date.now() + ms
      while (Date.now() < until) {
        const servers = await statuses()
        const replaced = !killed || servers.some((s) => s.name === killed.name && s.pid !== undefined && s.pid !== killed.pid)
        if (replaced && servers.every((s) => s.phase === "ready")) return servers
        await new Promise((r) => setTimeout(r, 50))
      }
      return undefined
    }
    if (!(await allReady(60_000))) throw new Error(`the supervised servers did not all become ready: ${JSON.stringify((await statuses()).map((s) => [s.name, s.phase, s.reason]))}`)
    log(`chaos: supervisor ready (${(await statuses()).map((s) => `${s.name} pid ${s.pid}`).join(", ")}); gateway ${gateway.url}`)

    // The yardstick: what each backend answers, whole, for each prompt, asked directly (pinned).
    const whole = new Map<string, string>()
    const yardstick = async (kind: "text" | "image", prompt: string, backend: string, model: string) => {
      const content = kind === "image"
        ? [{ type: "text", text: prompt }, { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } }]
        : prompt
      const response = await post(`${gateway.url}/v1/chat/completions`, { model: `${backend}/${model}`, messages: [{ role: "user", content }] }, AbortSignal.timeout(30_000))
      const body = await response.text()
      if (response.status !== 200) throw new Error(`yardstick ${backend}/${model}: ${response.status} ${body.slice(0, 300)}`)
      whole.set(`${kind}|${prompt}|${backend}`, (JSON.parse(body) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content)
    }
    for (const prompt of prompts) {
      for (const [backend, model] of Object.entries(models.text)) await yardstick("text", prompt, backend, model)
      for (const [backend, model] of Object.entries(models.image)) await yardstick("image", prompt, backend, model)
    }

    const counts: Record<Verdict, number> = { answered: 0, fallback: 0, error: 0, hang: 0, lost: 0, half: 0 }
    const byShape = Object.fromEntries(shapes.map((s) => [s, 0])) as Record<Shape, number>
    const incidents: Array<string> = []
    let sent = 0
    let faultsFlipped = 0
    let kills = 0
    let recovered = 0
    let stoppedEarly = false

    const judgeText = (kind: "text" | "image", prompt: string, backend: string | null, text: string): Exchange => {
      const wanted = backend ? whole.get(`${kind}|${prompt}|${backend}`) : undefined
      if (wanted === undefined || text !== wanted) return { verdict: "half", detail: `${backend}: ${JSON.stringify(text.slice(0, 120))} vs ${JSON.stringify(wanted?.slice(0, 120))}` }
      return { verdict: backend === firstChoice[kind] ? "answered" : "fallback" }
    }

    const exchange = async (shape: Shape, prompt: string): Promise<Exchange> => {
      const kind = shape.startsWith("image") ? "image" : "text"
      const stream = shape.endsWith("sse") || shape === "ollama-ndjson"
      const signal = AbortSignal.timeout(30_000)
      const content = kind === "image"
        ? [{ type: "text", text: prompt }, { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } }]
        : prompt
      let response: Response
      try {
        response = shape === "ollama-ndjson"
          ? await post(`${gateway.url}/api/chat`, { model: "fast", messages: [{ role: "user", content: prompt }] }, signal)
          : await post(`${gateway.url}/v1/chat/completions`, { model: kind === "image" ? "vision" : "fast", stream, messages: [{ role: "user", content }] }, signal)
      } catch (error) {
        return signal.aborted ? { verdict: "hang", detail: "no response headers in 30 s" } : { verdict: "lost", detail: `no HTTP answer: ${String(error)}` }
      }
      let body: string
      try {
        body = await response.text()
      } catch (error) {
        // The body broke off: if it was a stream with no error event, the caller saw a cut answer end.
        return signal.aborted ? { verdict: "hang", detail: "body not finished in 30 s" } : { verdict: "half", detail: `body cut: ${String(error)}` }
      }
      const backend = response.headers.get("x-local-router-backend")
      if (response.status !== 200) {
        seen.push(body)
        const explicit = /"error"/.test(body)
        return explicit ? { verdict: "error" } : { verdict: "lost", detail: `${response.status} without an error body: ${body.slice(0, 200)}` }
      }
      if (!stream) {
        try {
          const text = (JSON.parse(body) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content
          return judgeText(kind, prompt, backend, text)
        } catch {
          return { verdict: "half", detail: `200 with an unreadable body: ${body.slice(0, 200)}` }
        }
      }
      if (shape === "ollama-ndjson") {
        const lines = body.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { error?: string; done?: boolean; message?: { content?: string } })
        if (lines.some((l) => l.error !== undefined)) {
          seen.push(body)
          return { verdict: "error" }
        }
        if (lines.at(-1)?.done !== true) return { verdict: "half", detail: "NDJSON ended without done:true or an error" }
        return judgeText(kind, prompt, backend, lines.map((l) => l.message?.content ?? "").join(""))
      }
      const events = body.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6))
      if (events.some((e) => e.startsWith("{\"error\""))) {
        seen.push(body)
        return { verdict: "error" }
      }
      if (events.at(-1) !== "[DONE]") return { verdict: "half", detail: "SSE ended without [DONE] or an error" }
      const text = events.slice(0, -1).map((e) => (JSON.parse(e) as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content ?? "").join("")
      return judgeText(kind, prompt, backend, text)
    }

    const traffic = async () => {
      const worker = async () => {
        while (Date.now() < deadline && (sent < options.requests || kills < options.kills)) {
          sent++
          const shape = shapes[Math.floor(pick() * shapes.length)]!
          const prompt = prompts[Math.floor(pick() * prompts.length)]!
          byShape[shape]++
          const result = await exchange(shape, prompt)
          counts[result.verdict]++
          if (result.detail && incidents.length < 20) incidents.push(`${shape} "${prompt}": ${result.verdict}: ${result.detail}`)
        }
      }
      await Promise.all(Array.from({ length: options.concurrency ?? 6 }, worker))
    }

    const flipper = async () => {
      const servers = [["mlx", `http://127.0.0.1:${ports.mlx}`], ["ollama", `http://127.0.0.1:${ports.ollama}`], ["moondream", `http://127.0.0.1:${ports.moondream}`], ["cloud", cloud.url]] as const
      while (Date.now() < deadline && (sent < options.requests || kills < options.kills)) {
        await new Promise((r) => setTimeout(r, 150 + pick() * 350))
        const [name, url] = servers[Math.floor(pick() * servers.length)]!
        const faults = pick() < 0.2 ? [] : faultsFor(name, pick)
        try {
          const response = await fetch(`${url}/__sim/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(faults), signal: AbortSignal.timeout(5_000) })
          await response.text()
          if (response.ok && faults.length > 0) faultsFlipped++
        } catch {
          // The server is down (just killed): the next flip goes elsewhere.
        }
      }
    }

    const killer = async () => {
      const supervised = ["mlx", "ollama", "moondream"]
      while (kills < options.kills && Date.now() < deadline) {
        // Spread the kills over the traffic, so requests meet every phase of a restart.
        const share = options.requests / Math.max(1, options.kills)
        while (sent < Math.min(options.requests, kills * share) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        const name = supervised[Math.floor(pick() * supervised.length)]!
        const status = (await statuses()).find((s) => s.name === name)
        if (!status?.pid) continue
        process.kill(status.pid, "SIGKILL")
        kills++
        const back = await allReady(30_000, { name, pid: status.pid })
        if (back) recovered++
        else incidents.push(`kill ${kills} of ${name}: not every server was ready again within 30 s: ${JSON.stringify((await statuses()).map((s) => [s.name, s.phase, s.reason]))}`)
      }
    }

    await Promise.all([traffic(), flipper(), killer()])
    stoppedEarly = sent < options.requests || kills < options.kills
    // Faults retire by count; clear what is left so the final check sees the servers themselves.
    await Promise.all([ports.mlx, ports.ollama, ports.moondream].map((p) => fetch(`http://127.0.0.1:${p}/__sim/faults`, { method: "DELETE" }).then((r) => r.text(), () => "")))
    await cloud.clearFaults()
    const final = (await allReady(30_000)) ?? (await statuses())
    const status = await fetch(`${gateway.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })
    seen.push(await status.text())
    seen.push(JSON.stringify(await run(StatusApi.view(supervisor))))
    const logs = path.join(dir, "logs")
    if (fs.existsSync(logs)) for (const f of fs.readdirSync(logs)) seen.push(fs.readFileSync(path.join(logs, f), "utf8"))
    seen.push(cloud.stderr())
    const leaks = seen.flatMap((text) => [TOKEN, CLOUD_KEY].filter((s) => text.includes(s)).map((s) => `${s.slice(0, 8)}… in ${text.slice(0, 120)}`))
    return {
      requests: sent,
      byShape,
      answered: counts.answered + counts.fallback,
      fallbacks: counts.fallback,
      explicitErrors: counts.error,
      hangs: counts.hang,
      lost: counts.lost,
      halfAnswers: counts.half,
      faultsFlipped,
      kills,
      recovered,
      finalPhases: Object.fromEntries(final.map((s) => [s.name, s.phase])),
      leaks,
      incidents,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      stoppedEarly
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await cloud.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** The figures, as the README and the bench print them. */
export const summary = (r: Report): string =>
  [
    `requests ${r.requests} (${Object.entries(r.byShape).map(([k, v]) => `${k} ${v}`).join(", ")}) in ${r.seconds}s`,
    `answered ${r.answered} (of which fallbacks ${r.fallbacks}), explicit errors ${r.explicitErrors}`,
    `hangs ${r.hangs}, lost ${r.lost}, silent half answers ${r.halfAnswers}`,
    `faults flipped ${r.faultsFlipped}, kill -9 cycles ${r.kills} (every server ready again after ${r.recovered}); at the end: ${Object.entries(r.finalPhases).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `secrets seen in logs, status or responses: ${r.leaks.length}`,
    ...(r.incidents.length ? ["incidents:", ...r.incidents.map((i) => `  ${i}`)] : [])
  ].join("\n")
