/**
 * serve's memory around one PDF: resident memory (RSS, from /proc) of a real `local-router
 * serve`, run with the service's own Node flags (Service.serveArguments), while idle, at its
 * peak while a 36-page PDF goes through /v1/vision/pdf, and every 5 s for 60 s after, each
 * against idle as the baseline. The issue's target: back within 15 MB of idle within 60 s.
 *
 *   ./run node bench/pdf/run.ts --serve [--pages 36] [--after 60] [--plain] [--maps]
 *
 * --plain runs serve without the service's environment (Service.serveEnvironment: glibc malloc
 * settings), as `local-router serve` typed by hand; --maps prints the largest memory mappings.
 *
 * The PDF is generated (text pages with a scanned-style image every third page) so every run
 * reads the same bytes; pages go to a simulated Ollama (llava:7b) on its own process, so only
 * serve's own memory is measured. Linux only (/proc).
 */
import { Simulator } from "../../packages/simulators/src/index.ts"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Service from "../../apps/supervisor/src/service/Service.ts"
import * as MinimalPdf from "../../packages/vision/test/support/MinimalPdf.ts"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const entry = path.join(repo, "apps/supervisor/dist/bin.js")

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const rssMb = (pid: number): number => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) / 1024
}

/** serve's own account of its memory (GET /status: heap used/total, external, array buffers). */
const heapOf = async (url: string): Promise<string> => {
  const m = ((await (await fetch(`${url}/status`)).json()) as { gateway: { memory: Record<string, number> } }).gateway.memory
  return `heap ${m.heapUsed}/${m.heapTotal} MB, external ${m.external} MB (array buffers ${m.arrayBuffers} MB)`
}

/** The largest mappings by resident size (`--maps`): which allocator holds what is left. */
const maps = (pid: number): string => {
  const text = fs.readFileSync(`/proc/${pid}/smaps`, "utf8")
  const regions: Array<{ name: string; size: number; rss: number }> = []
  let current: { name: string; size: number; rss: number } | undefined
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (head) {
      current = { name: head[3] || "[anon]", size: (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024, rss: 0 }
      regions.push(current)
    } else if (current && line.startsWith("Rss:")) current.rss = Number(/(\d+)/.exec(line)![1])
  }
  const byName = new Map<string, number>()
  for (const r of regions) byName.set(r.name, (byName.get(r.name) ?? 0) + r.rss)
  const top = regions.sort((a, b) => b.rss - a.rss).slice(0, 8).map((r) => `    ${(r.rss / 1024).toFixed(1).padStart(7)} MB of ${(r.size / 1024).toFixed(1)} MB  ${r.name}`)
  const named = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([n, kb]) => `    ${(kb / 1024).toFixed(1).padStart(7)} MB  ${n}`)
  return `  largest mappings:\n${top.join("\n")}\n  by name:\n${named.join("\n")}`
}

/** serve's child processes (its PDF renderers) and their RSS together. */
const children = (pid: number): { count: number; mb: number } => {
  let pids: Array<number> = []
  try {
    pids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    pids = []
  }
  let mb = 0
  for (const child of pids) {
    try {
      mb += rssMb(child)
    } catch {
      // Gone meanwhile.
    }
  }
  return { count: pids.length, mb }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A page of text, and every third one a 1200x1600 "scan" with noise (what a scanner makes). */
export const pdf = (pages: number): Uint8Array =>
  MinimalPdf.make({
    pages: Array.from({ length: pages }, (_, i) => {
      const lines = Array.from({ length: 40 }, (_, l) => `Page ${i + 1}, line ${l + 1}: the quick brown fox jumps over the lazy dog ${i * 40 + l}.`)
      if (i % 3 !== 2) return { lines }
      const width = 1200
      const height = 1600
      const rgb = new Uint8Array(width * height * 3)
      let seed = i + 1
      for (let p = 0; p < rgb.length; p++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        rgb[p] = 180 + (seed >> 24)
      }
      return { lines, image: { width, height, rgb } }
    })
  })

export const main = async (args: ReadonlyArray<string>) => {
  const option = (name: string, fallback: number) => {
    const at = args.indexOf(name)
    return at >= 0 ? Number(args[at + 1]) : fallback
  }
  const pages = option("--pages", 36)
  const after = option("--after", 60)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-pdf-serve-"))
  const bytes = pdf(pages)
  console.log(`serve's RSS around one ${pages}-page PDF (${(bytes.length / 1e6).toFixed(1)} MB) through /v1/vision/pdf; node ${process.version}`)

  const ollama = await Simulator.start("ollama", { readyTimeoutMs: 30_000 })
  const port = await freePort()
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, `version: 1
backends:
  ollama: { type: ollama, url: "${ollama.url}", supervise: { enabled: false } }
priorities: { text: [ollama], image: [ollama], pdf: [ollama] }
categories:
  fast: { input: text, models: { ollama: "phi3.5:3.8b" } }
  vision_pdf: { input: pdf, models: { ollama: "llava:7b" } }
`)
  const serve = spawn(process.execPath, [...Service.serveArguments(entry, file), "--port", String(port), "--log-dir", path.join(dir, "logs"), "--request-log", path.join(dir, "requests.jsonl")], {
    stdio: ["ignore", "pipe", "pipe"],
    // --plain: serve as a person starts it by hand, without the service's environment.
    env: args.includes("--plain") ? { ...process.env } : { ...process.env, ...Service.serveEnvironment }
  })
  let output = ""
  serve.stdout.on("data", (d) => (output += d))
  serve.stderr.on("data", (d) => (output += d))
  try {
    const url = `http://127.0.0.1:${port}`
    while (!(await fetch(`${url}/health`).then((r) => r.ok, () => false))) {
      if (serve.exitCode !== null) throw new Error(`serve exited:\n${output}`)
      await sleep(100)
    }
    // Idle: a few requests answered (as a running serve has), then settled.
    for (let i = 0; i < 5; i++) {
      await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "hi" }] }) }).then((r) => r.text())
    }
    await sleep(10_000)
    const idleSamples: Array<number> = []
    for (let i = 0; i < 5; i++) {
      idleSamples.push(rssMb(serve.pid!))
      await sleep(1_000)
    }
    const idle = idleSamples.sort((a, b) => a - b)[2]!
    const idleHeap = await heapOf(url)
    const idleMaps = args.includes("--maps") ? maps(serve.pid!) : ""

    let peak = idle
    let peakAll = idle
    let renderers = 0
    const sampler = setInterval(() => {
      const own = rssMb(serve.pid!)
      const kids = children(serve.pid!)
      peak = Math.max(peak, own)
      peakAll = Math.max(peakAll, own + kids.mb)
      renderers = Math.max(renderers, kids.count)
    }, 50)
    const started = performance.now()
    const response = await fetch(`${url}/v1/vision/pdf`, { method: "POST", headers: { "content-type": "application/pdf" }, body: bytes })
    const body = await response.text()
    const seconds = (performance.now() - started) / 1000
    clearInterval(sampler)
    peak = Math.max(peak, rssMb(serve.pid!))
    const failed = (body.match(/"error"/g) ?? []).length
    console.log(`PDF answered ${response.status} in ${seconds.toFixed(1)} s (${body.length} bytes${failed ? `, ${failed} error events` : ""})`)
    // A failed PDF measures nothing: say why and stop.
    if (response.status !== 200 || failed) throw new Error(`the PDF was not answered: ${body.slice(0, 500)}`)

    const row = (label: string, mb: number, detail = "") =>
      console.log(`${label.padEnd(16)}${mb.toFixed(1).padStart(8)} MB   ${((mb - idle >= 0 ? "+" : "") + (mb - idle).toFixed(1)).padStart(7)} MB vs idle${detail ? `   ${detail}` : ""}`)
    console.log("")
    row("idle", idle, idleHeap)
    if (args.includes("--maps")) console.log(idleMaps)
    row("peak", peak)
    row("peak, renderers", peakAll, `serve and its ${renderers} render process${renderers === 1 ? "" : "es"} together`)
    const done = performance.now()
    let last = rssMb(serve.pid!)
    row("after 0 s", last, await heapOf(url))
    for (let t = 5; t <= after; t += 5) {
      await sleep(done + t * 1000 - performance.now())
      last = rssMb(serve.pid!)
      row(`after ${t} s`, last, t % 20 === 0 ? await heapOf(url) : "")
    }
    if (args.includes("--maps")) console.log(maps(serve.pid!))
    const left = children(serve.pid!)
    console.log(`render processes left: ${left.count}${left.count ? ` (${left.mb.toFixed(1)} MB)` : ""}`)
    const ok = last - idle <= 15
    console.log(`\nafter ${after} s: ${(last - idle).toFixed(1)} MB above idle (target: within 15 MB) -> ${ok ? "OK" : "NOT MET"}`)
  } finally {
    serve.kill("SIGTERM")
    await ollama.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
