/**
 * Fault matrix through the real backends and real simulator processes: for MLX, Ollama,
 * Moondream Station and the cloud, every fault the simulators can inject (plus a refused
 * connection, a port taken by another program and a crash loop), one request streamed and one
 * answered whole. A healthy Ollama ("spare") is second in every category, so the right answer
 * is always available: the router must reach it before the first token, say so explicitly
 * after it, open the broken backend's circuit, and name the fault in the trace.
 *
 * Every fault is covered for every kind, in both modes (13 faults x 4 kinds, less the one that
 * cannot happen to Moondream Station, x 2 modes = 102 outcomes, plus the breaker after each row). The four kinds run side by side, each on its
 * own simulator, so the slow cells (hangs resolve at the 2 s / 500 ms deadlines) overlap.
 *
 * The agent streams get their own matrix: a tool-call turn (two calls named in the prompt, no
 * reasoning) and a reasoning turn, through MLX, Ollama and the cloud as OpenAI and as Anthropic
 * (Moondream has neither), each
 * with six faults placed just before and just after the first visible event (a reasoning word or
 * a tool call): before it the router must fall back invisibly, after it end with an explicit error
 * (4 kinds x 2 streams x 6 faults x 2 modes = 96 outcomes).
 */
import { describe, expect, it } from "@effect/vitest"
import { LiveRouting, Router } from "@local-router/core"
import { type Fault, Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Result from "effect/Result"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { builtins } from "../../src/Builtins.ts"
import {
  agentCases,
  type AgentKind,
  agentKinds,
  type AgentStream,
  agentStreams,
  type Cell,
  type Expectation,
  type FaultCase,
  cases,
  judge,
  type Kind,
  kinds,
  primaryOf,
  streamed,
  table,
  timeouts,
  whole
} from "./FaultMatrix.ts"

const KEY_ENV = "LR_MATRIX_CLOUD_KEY"
const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

const models: Record<Kind, string> = {
  mlx: "mlx-community/Phi-3.5-mini-instruct-4bit",
  ollama: "phi3.5:3.8b",
  moondream: "moondream-2",
  cloud: "gpt-4o-mini"
}
const simKind: Record<Kind, Simulator.Kind> = { mlx: "mlx", ollama: "ollama", moondream: "moondream", cloud: "openai" }
const simArgs: Record<Kind, ReadonlyArray<string>> = { mlx: ["--model", models.mlx], ollama: [], moondream: [], cloud: [] }
const urlOf = (kind: Kind, sim: Simulator.Running) => (kind === "moondream" || kind === "cloud" ? `${sim.url}/v1` : sim.url)
const images = (kind: Kind) => kind === "moondream"

/** A port nothing listens on: the OS picked it, then it was closed. */
const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

const sims: Partial<Record<Kind | "spare", Simulator.Running>> = {}
let dir: string
let file: string

const configFor = (dead: number) => {
  const ms = (n: number) => `${n}ms`
  const t = `{ connect: ${ms(timeouts.connect)}, firstToken: ${ms(timeouts.firstToken)}, idle: ${ms(timeouts.idle)}, total: ${ms(timeouts.total)} }`
  // A port taken by a program that is not this kind of server: another simulator's port.
  const taken: Record<Kind, string> = {
    mlx: sims.moondream!.url,
    ollama: sims.moondream!.url,
    moondream: `${sims.mlx!.url}/v1`,
    cloud: `${sims.moondream!.url}/v1`
  }
  const lines = ["version: 1", "defaults:", "  breaker: { failures: 2, cooldown: 10m }", "backends:"]
  const categories: Array<string> = []
  for (const kind of kinds) {
    const common = kind === "cloud" ? `, provider: openai, apiKey: env:${KEY_ENV}` : ""
    const urls = { [kind]: urlOf(kind, sims[kind]!), [`${kind}_refused`]: `http://127.0.0.1:${dead}${kind === "moondream" || kind === "cloud" ? "/v1" : ""}`, [`${kind}_taken`]: taken[kind] }
    for (const [name, url] of Object.entries(urls)) {
      lines.push(`  ${name}: { type: ${kind}, url: "${url}"${common} }`)
      categories.push(
        `  ${name}:`,
        `    input: ${images(kind) ? "image" : "text"}`,
        `    priority: [${name}, spare]`,
        `    models: { ${name}: "${models[kind]}", spare: "${images(kind) ? "moondream" : "phi3.5:3.8b"}" }`,
        `    timeouts: ${t}`
      )
    }
  }
  lines.push(`  spare: { type: ollama, url: "${sims.spare!.url}" }`, "priorities:", "  text: [spare]", "  image: [spare]", "categories:", ...categories)
  return `${lines.join("\n")}\n`
}

beforeAll(async () => {
  process.env[KEY_ENV] = "sk-matrix-simulated"
  const started = await Promise.all([
    ...kinds.map((kind) => Simulator.start(simKind[kind], { args: simArgs[kind], readyTimeoutMs: 30_000 }).then((s) => [kind, s] as const)),
    Simulator.start("ollama", { readyTimeoutMs: 30_000 }).then((s) => ["spare", s] as const)
  ])
  for (const [name, sim] of started) sims[name] = sim
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "lr-matrix-"))
  file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, configFor(await closedPort()))
}, 90_000)

afterAll(async () => {
  await Promise.all(Object.values(sims).map((s) => s?.stop(500)))
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

const requestFor = (kind: Kind, category: string): Router.Request =>
  images(kind)
    ? { category, messages: [{ role: "user", content: "What is in this picture? [[tokens:8]]", images: [{ data: new Uint8Array(png), mime: "image/png" }] }] }
    : { category, prompt: "Tell me about rivers [[tokens:8]]" }

/** A crashed simulator comes back on its port, crashing again on its first request. */
const restartCrashing = (kind: Kind) =>
  Effect.promise(async () => {
    const old = sims[kind]!
    await old.exited
    const crash: ReadonlyArray<Fault> = [{ kind: "crashAfter", requests: 0 }]
    sims[kind] = await Simulator.start(simKind[kind], {
      args: [...simArgs[kind], "--port", String(old.port)],
      faults: crash,
      readyTimeoutMs: 30_000,
      ...(old.home ? { home: old.home } : {})
    })
  })

const runCell = (live: LiveRouting.LiveRouting, kind: Kind, fault: FaultCase, expected: Expectation): Effect.Effect<Cell> =>
  Effect.gen(function*() {
    const skipped = fault.notApplicable?.[kind]
    if (skipped) {
      const none = { _tag: "Hang", ms: 0 } as const
      return { kind, fault, skipped, stream: none, whole: none, breaker: { open: false, ms: 0, answeredBy: undefined }, problems: [] }
    }
    // A fresh router per row: circuits start closed, so each row's breaker is its own.
    const router = yield* Router.make(live.snapshot)
    const request = requestFor(kind, expected.primary)
    const sim = () => sims[kind]!
    if (fault.setup._tag === "Faults") yield* Effect.promise(() => sim().setFaults(fault.setup._tag === "Faults" ? fault.setup.faults(models[kind]) : []))
    if (fault.setup._tag === "CrashLoop") yield* Effect.promise(() => sim().setFaults([{ kind: "crashAfter", requests: 0 }]))
    const stream = yield* streamed(router, request)
    if (fault.setup._tag === "CrashLoop") yield* restartCrashing(kind)
    const answer = yield* whole(router, request)
    const t0 = Date.now()
    const probe = yield* Effect.result(router.run(request))
    const ms = Date.now() - t0
    if (fault.setup._tag === "Faults") yield* Effect.promise(() => sim().clearFaults())
    const trace = Result.isSuccess(probe) ? probe.success.trace : probe.failure.trace
    const open = trace.attempts[0]?.outcome === "skipped" && trace.attempts[0].reason === "circuit open"
    const breaker = { open, ms, answeredBy: Result.isSuccess(probe) ? probe.success.backend : undefined }
    const problems = [...judge(fault, "stream", stream, expected), ...judge(fault, "whole", answer, expected)]
    const primaryFailed = (o: typeof stream) => !(o._tag === "Answered" && o.backend === expected.primary)
    if (fault.opensBreaker && primaryFailed(stream) && primaryFailed(answer)) {
      if (!open) problems.push(`breaker: still closed after two failures (${trace.attempts[0]?.outcome} ${trace.attempts[0]?.reason ?? ""})`)
      else if (breaker.answeredBy !== "spare") problems.push(`breaker: the next request was not answered by spare`)
    }
    if (!fault.opensBreaker && open) problems.push("breaker: opened for a fault that says nothing about the backend's health")
    return { kind, fault, stream, whole: answer, breaker, problems } satisfies Cell
  })

describe("fault matrix: every backend kind x every fault, streamed and whole", () => {
  it.live("each fault ends in a fallback before commit, an explicit error after it, an open breaker and a trace naming it", () =>
    Effect.gen(function*() {
      const live = yield* LiveRouting.make(file, { builtins, watch: false })
      // What a healthy primary and the spare say for each row's request: the yardstick for half answers.
      const expectations = new Map<string, Expectation>()
      for (const kind of kinds) {
        const router = yield* Router.make(live.snapshot)
        const request = requestFor(kind, kind)
        const primary = yield* router.run(request)
        expect(primary.backend).toBe(kind)
        const streamedPrimary = yield* streamed(router, request)
        expect(streamedPrimary).toMatchObject({ _tag: "Answered", backend: kind, text: primary.text })
        const spare = yield* router.run({ ...request, category: undefined, pin: { backend: "spare", model: images(kind) ? "moondream" : "phi3.5:3.8b" } })
        expect(primary.text.split(" ").length).toBeGreaterThanOrEqual(4)
        for (const suffix of ["", "_refused", "_taken"]) {
          expectations.set(`${kind}${suffix}`, { primary: `${kind}${suffix}`, texts: { [kind]: primary.text, [`${kind}${suffix}`]: primary.text, spare: spare.text } })
        }
      }
      const cells = (yield* Effect.forEach(
        kinds,
        (kind) => Effect.forEach(cases, (fault) => runCell(live, kind, fault, expectations.get(primaryOf({ kind, fault }))!)),
        { concurrency: "unbounded" }
      )).flat()
      const judged = cells.filter((c) => !c.skipped)
      console.log(`fault matrix: ${judged.length} rows (${cells.length - judged.length} not applicable), ${judged.length * 2} outcomes\n${table(cells)}`)
      expect(judged.length).toBe(kinds.length * cases.length - 1)
      expect(cells.length).toBe(kinds.length * cases.length)
      expect(cells.flatMap((c) => c.problems.map((p) => `${c.kind} / ${c.fault.label}: ${p}`))).toEqual([])
    }).pipe(Effect.provide(Logger.layer([]))), 150_000)
})

// ---- The agent streams: tool calls and reasoning ----

// The cloud's is an OpenAI reasoning model: the cloud backend reports gpt-4o-mini as not reasoning
// (OpenAI answers reasoning_effort for it with a 400), so a reasoning turn would skip it.
const agentModels: Record<AgentKind, string> = { mlx: "mlx-community/Qwen3-8B-4bit", ollama: "qwen3:8b", cloud: "o4-mini", anthropic: "claude-sonnet-4-5" }
const agentSimArgs: Record<AgentKind, ReadonlyArray<string>> = {
  mlx: ["--model", "mlx-community/Qwen3-8B-4bit"],
  ollama: ["--models", "qwen3:8b"],
  // The cloud shows requested reasoning as `reasoning` (OpenRouter's and vLLM's field).
  cloud: ["--reasoning-field", "reasoning", "--models", "gpt-4o-mini,o4-mini"],
  anthropic: []
}
const agentSimKind: Record<AgentKind, Simulator.Kind> = { mlx: "mlx", ollama: "ollama", cloud: "openai", anthropic: "anthropic" }
/** The routing.yaml entry for each agent kind's simulator. */
const agentEntry = (kind: AgentKind, sim: Simulator.Running): string =>
  kind === "anthropic"
    ? `type: cloud, url: "${sim.url}", provider: anthropic, apiKey: env:${KEY_ENV}`
    : `type: ${kind}, url: "${urlOf(kind, sim)}"${kind === "cloud" ? `, provider: openai, apiKey: env:${KEY_ENV}` : ""}`
const agentSims: Partial<Record<AgentKind | "spare", Simulator.Running>> = {}
let agentFile: string

const tools: NonNullable<Router.Request["tools"]> = [
  { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city", "unit"] } },
  { name: "get_time", description: "Time in a zone", parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] } }
]

/** Two calls and no reasoning, or reasoning then text: each stream's first visible event is what the faults straddle. */
const agentRequest = (agent: AgentStream, category: string): Router.Request =>
  agent === "tools"
    ? { category, prompt: "Use get_weather and get_time for Paris", tools, reasoning: { _tag: "Off" } }
    : { category, prompt: "Tell me about rivers [[tokens:8]]", reasoning: { _tag: "On", effort: "low" } }

const agentConfig = () => {
  const ms = (n: number) => `${n}ms`
  const t = `{ connect: ${ms(timeouts.connect)}, firstToken: ${ms(timeouts.firstToken)}, idle: ${ms(timeouts.idle)}, total: ${ms(timeouts.total)} }`
  const lines = ["version: 1", "defaults:", "  breaker: { failures: 2, cooldown: 10m }", "backends:"]
  const categories: Array<string> = []
  for (const kind of agentKinds) {
    lines.push(`  ${kind}: { ${agentEntry(kind, agentSims[kind]!)} }`)
    for (const agent of agentStreams) {
      categories.push(`  ${kind}_${agent}:`, "    input: text", `    priority: [${kind}, spare]`, `    models: { ${kind}: "${agentModels[kind]}", spare: "qwen3:8b" }`, `    timeouts: ${t}`)
    }
  }
  lines.push(`  spare: { type: ollama, url: "${agentSims.spare!.url}" }`, "priorities:", "  text: [spare]", "categories:", ...categories)
  return `${lines.join("\n")}\n`
}

beforeAll(async () => {
  process.env[KEY_ENV] = "sk-matrix-simulated"
  const started = await Promise.all([
    ...agentKinds.map((kind) => Simulator.start(agentSimKind[kind], { args: agentSimArgs[kind], readyTimeoutMs: 30_000 }).then((s) => [kind, s] as const)),
    Simulator.start("ollama", { args: ["--models", "qwen3:8b"], readyTimeoutMs: 30_000 }).then((s) => ["spare", s] as const)
  ])
  for (const [name, sim] of started) agentSims[name] = sim
  agentFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lr-agent-matrix-")), "routing.yaml")
  fs.writeFileSync(agentFile, agentConfig())
}, 90_000)

afterAll(async () => {
  await Promise.all(Object.values(agentSims).map((s) => s?.stop(500)))
  if (agentFile) fs.rmSync(path.dirname(agentFile), { recursive: true, force: true })
})

const runAgentCell = (live: LiveRouting.LiveRouting, kind: AgentKind, agent: AgentStream, fault: FaultCase, expected: Expectation): Effect.Effect<Cell> =>
  Effect.gen(function*() {
    const router = yield* Router.make(live.snapshot)
    const request = agentRequest(agent, `${kind}_${agent}`)
    const sim = agentSims[kind]!
    if (fault.setup._tag === "Faults") {
      const set = fault.setup.faults(agentModels[kind])
      yield* Effect.promise(() => sim.setFaults(set))
    }
    const stream = yield* streamed(router, request)
    const answer = yield* whole(router, request)
    const t0 = Date.now()
    const probe = yield* Effect.result(router.run(request))
    const ms = Date.now() - t0
    yield* Effect.promise(() => sim.clearFaults())
    const trace = Result.isSuccess(probe) ? probe.success.trace : probe.failure.trace
    const open = trace.attempts[0]?.outcome === "skipped" && trace.attempts[0].reason === "circuit open"
    const breaker = { open, ms, answeredBy: Result.isSuccess(probe) ? probe.success.backend : undefined }
    const problems = [...judge(fault, "stream", stream, expected), ...judge(fault, "whole", answer, expected)]
    if (!open) problems.push(`breaker: still closed after two failures (${trace.attempts[0]?.outcome} ${trace.attempts[0]?.reason ?? ""})`)
    else if (breaker.answeredBy !== "spare") problems.push("breaker: the next request was not answered by spare")
    return { kind, agent, fault, stream, whole: answer, breaker, problems } satisfies Cell
  })

describe("fault matrix: tool-call and reasoning streams", () => {
  it.live("a fault before the first reasoning word or tool call falls back invisibly; after it, an explicit error", () =>
    Effect.gen(function*() {
      const live = yield* LiveRouting.make(agentFile, { builtins, watch: false })
      const expectations = new Map<string, Expectation>()
      for (const kind of agentKinds) {
        for (const agent of agentStreams) {
          const category = `${kind}_${agent}`
          const router = yield* Router.make(live.snapshot)
          const request = agentRequest(agent, category)
          const primary = yield* whole(router, request)
          const streamedPrimary = yield* streamed(router, request)
          const spare = yield* whole(router, { ...request, category: undefined, pin: { backend: "spare", model: "qwen3:8b" } })
          // The yardstick: what a healthy primary says, whole and streamed alike, and what the spare says.
          expect(primary).toMatchObject({ _tag: "Answered", backend: kind })
          expect(streamedPrimary).toMatchObject({ _tag: "Answered", backend: kind })
          expect(spare).toMatchObject({ _tag: "Answered", backend: "spare" })
          if (primary._tag !== "Answered" || streamedPrimary._tag !== "Answered" || spare._tag !== "Answered") continue
          expect(streamedPrimary.text).toBe(primary.text)
          expect(primary.text).toContain(agent === "tools" ? "[call] get_time" : "[reasoning] ")
          expectations.set(category, { primary: kind, texts: { [kind]: primary.text, spare: spare.text } })
        }
      }
      const cells = (yield* Effect.forEach(
        agentKinds,
        (kind) => Effect.forEach(agentStreams, (agent) => Effect.forEach(agentCases, (fault) => runAgentCell(live, kind, agent, fault, expectations.get(`${kind}_${agent}`)!))),
        { concurrency: "unbounded" }
      )).flat(2)
      console.log(`agent fault matrix: ${cells.length} rows, ${cells.length * 2} outcomes\n${table(cells)}`)
      expect(cells.length).toBe(agentKinds.length * agentStreams.length * agentCases.length)
      expect(cells.flatMap((c) => c.problems.map((p) => `${c.kind} (${c.agent}) / ${c.fault.label}: ${p}`))).toEqual([])
    }).pipe(Effect.provide(Logger.layer([]))), 150_000)
})
