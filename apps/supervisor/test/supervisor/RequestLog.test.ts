/**
 * serve's request log: one JSON line per routed request in a size-rotated file (never the
 * prompt or a key), and `local-router logs` (the last lines, --follow across rotations).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import * as RequestFile from "../../src/serve/RequestFile.ts"
import * as LogFile from "../../src/supervisor/LogFile.ts"
import * as MinimalPdf from "../../../../packages/vision/test/support/MinimalPdf.ts"
import { freePort, repo, routing, tempDir, until, writeRouting } from "./Fixture.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")
const PROMPT = "the secret plan is PROMPT-TEXT-4711"

const cli = (args: ReadonlyArray<string>) =>
  Effect.promise(() => promisify(execFile)(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: "1" } }))

describe("request log", () => {
  it.live("serve logs each routed request as a JSON line without its text; logs shows the last ones and follows new ones", () =>
    Effect.gen(function*() {
      const [api, a] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
      const dir = tempDir()
      const config = routing({ ollama: { kind: "ollama", port: a! } })
      const file = writeRouting(dir, {
        ...config,
        priorities: { ...config.priorities, pdf: ["ollama"] },
        categories: { ...config.categories, vision_pdf: { input: "pdf", models: { ollama: "llava:7b" } } }
      })
      const log = path.join(dir, "requests.jsonl")
      const serve = spawn(process.execPath, [bin, "serve", "--config", file, "--port", String(api), "--log-dir", `${dir}/logs`, "--request-log", log], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      serve.stdout.on("data", (d) => (output += d))
      serve.stderr.on("data", (d) => (output += d))
      yield* Effect.addFinalizer(() => Effect.sync(() => serve.kill("SIGKILL")))
      const post = (p: string, body: unknown) =>
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${api}${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
            .then(async (r) => ({ status: r.status, body: await r.text() }))
        )
      // Ready when /health says every category can be answered (the supervised simulator is up).
      while (true) {
        const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${api}/health`).then((r) => r.json() as Promise<{ status: string }>, () => undefined))
        if (health?.status === "ok") break
        if (serve.exitCode !== null) return yield* Effect.die(new Error(output))
        yield* Effect.sleep("100 millis")
      }
      const first = yield* post("/v1/chat/completions", { model: "c_ollama", messages: [{ role: "user", content: PROMPT }] })
      expect(first.status).toBe(200)
      const unknown = yield* post("/v1/chat/completions", { model: "no-such-category", messages: [{ role: "user", content: PROMPT }] })
      expect(unknown.status).toBe(404)
      const streamed = yield* post("/api/chat", { model: "c_ollama", messages: [{ role: "user", content: PROMPT }] })
      expect(streamed.status).toBe(200)

      const text = fs.readFileSync(log, "utf8")
      expect(text).not.toContain("PROMPT-TEXT")
      const lines = text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
      const openai = lines.filter((l) => l.dialect === "openai" && l.status === 200).at(-1)!
      expect(Object.keys(openai)).toEqual(["time", "dialect", "endpoint", "category", "backend", "model", "attempts", "firstTokenMs", "totalMs", "status", "outcome", "bytes"])
      expect(openai).toMatchObject({ dialect: "openai", category: "c_ollama", backend: "ollama", model: "phi3.5:3.8b", attempts: 1, firstTokenMs: null, status: 200, outcome: "answered", bytes: Buffer.byteLength(first.body) })
      expect(Date.now() - Date.parse(openai.time as string)).toBeLessThan(60_000)
      // A request the router refused is logged too, with what it was refused with.
      expect(lines.find((l) => l.status === 404)).toMatchObject({ dialect: "openai", backend: null, attempts: 0, outcome: "failed", bytes: Buffer.byteLength(unknown.body) })
      const ollama = lines.find((l) => l.dialect === "ollama")!
      expect(ollama).toMatchObject({ endpoint: "ollama_chat", backend: "ollama", status: 200, outcome: "answered", bytes: Buffer.byteLength(streamed.body) })
      expect(ollama.firstTokenMs).toEqual(expect.any(Number))
      expect(ollama.totalMs as number).toBeGreaterThanOrEqual(ollama.firstTokenMs as number)

      // status names the file the running serve writes.
      expect((yield* cli(["status", "--config", file, "--port", String(api)])).stdout).toContain(`request log: ${log} (local-router logs --follow)`)

      const last = (yield* cli(["logs", "-n", "1", "--file", log])).stdout
      expect(last).toMatch(/^\S+Z {2}200 {2}answered {2}ollama c_ollama -> ollama\/phi3\.5:3\.8b {2}1 attempt {2}first token \d+ ms {2}total \d+ ms {2}\d+(\.\d)? (B|kB)\n$/)
      const raw = (yield* cli(["logs", "-n", "2", "--json", "--file", log])).stdout.trim().split("\n")
      expect(raw.map((l) => [JSON.parse(l).endpoint, JSON.parse(l).status])).toEqual([["openai_chat", 404], ["ollama_chat", 200]])

      // --follow prints what serve logs after it started, and nothing before.
      const follower = spawn(process.execPath, [bin, "logs", "--follow", "-n", "0", "--json", "--file", log], { stdio: ["ignore", "pipe", "pipe"] })
      let followed = ""
      follower.stdout.on("data", (d) => (followed += d))
      yield* Effect.addFinalizer(() => Effect.sync(() => follower.kill("SIGKILL")))
      // The follower has read the file's size once it runs; give it its first poll.
      yield* until("the follower runs", () => follower.pid !== undefined && fs.existsSync(`/proc/${follower.pid}`))
      yield* Effect.sleep("1 second")
      expect((yield* post("/v1/chat/completions", { model: "c_ollama", messages: [{ role: "user", content: "again" }] })).status).toBe(200)
      yield* until("the new request is followed", () => followed.includes("\n"), 10_000)
      expect(followed.trim().split("\n").map((l) => JSON.parse(l).endpoint)).toEqual(["openai_chat"])

      // A PDF: each page is a routed request of its own, one line each.
      const pdf = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${api}/v1/vision/pdf`, { method: "POST", headers: { "content-type": "application/pdf" }, body: Buffer.from(MinimalPdf.make({ pages: [{ lines: ["one"] }, { lines: ["two"] }] })) })
          .then(async (r) => ({ status: r.status, body: await r.text() }))
      )
      expect(pdf.status, pdf.body).toBe(200)
      const pages = fs.readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.endpoint === "vision_pdf")
      expect(pages).toHaveLength(2)
      for (const page of pages) {
        expect(page).toMatchObject({ dialect: "vision", category: "vision_pdf", backend: "ollama", model: "llava:7b", attempts: 1, status: 200, outcome: "answered" })
        expect(page.bytes as number).toBeGreaterThan(0)
      }
    }).pipe(Effect.scoped), 60_000)

  it.live("the file rotates at its size cap keeping three generations, and a follower reads across each rotation", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = path.join(dir, "requests.jsonl")
      const log = LogFile.openFile(file, { maxBytes: 1_000, keep: 3, tailLines: 0 })
      const line = (i: number) => `${JSON.stringify({ n: i, pad: "x".repeat(80) })}\n`
      const follower = yield* Effect.forkChild(Stream.runCollect(RequestFile.follow(file, 20).pipe(Stream.take(60))))
      yield* Effect.sleep("50 millis")
      for (let i = 0; i < 60; i++) {
        log.write(line(i), "stdout")
        // Slower than the poll now and then, so rotations happen both between and within polls.
        if (i % 7 === 0) yield* Effect.sleep("30 millis")
      }
      const seen = yield* Fiber.join(follower).pipe(Effect.timeout("10 seconds"))
      expect(seen.map((l) => JSON.parse(l).n)).toEqual(Array.from({ length: 60 }, (_, i) => i))
      log.close()
      const files = fs.readdirSync(dir).sort()
      expect(files).toEqual(["requests.jsonl", "requests.jsonl.1", "requests.jsonl.2", "requests.jsonl.3"])
      for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(1_000)
      // The last lines, reaching into the previous generation right after a rotation.
      expect(RequestFile.lastLines(file, 12).map((l) => JSON.parse(l).n)).toEqual(Array.from({ length: 12 }, (_, i) => 48 + i))
    }).pipe(Effect.scoped), 30_000)

  it("a request log that cannot be written is said once on stderr and never fails a request; a later good write resets it", () => {
    const said: Array<string> = []
    let full = true
    const written: Array<string> = []
    const write = RequestFile.writer<number>((line) => {
      if (full) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
      written.push(line)
    }, "/logs/requests.jsonl", (n) => `{"n":${n}}\n`, (text) => said.push(text))
    expect(() => write(1)).not.toThrow()
    expect(() => write(2)).not.toThrow()
    expect(said).toHaveLength(1)
    expect(said[0]).toMatch(/cannot write the request log \/logs\/requests\.jsonl: ENOSPC: no space left on device, write \(requests are still answered\)\n$/)
    full = false
    write(3)
    expect(written).toEqual([`{"n":3}\n`])
    full = true
    write(4)
    expect(said).toHaveLength(2)
  })
})
