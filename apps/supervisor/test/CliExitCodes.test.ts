/**
 * Exit codes and `--json` output of the commands that do work, against simulated servers (real
 * processes on OS-assigned ports) and against servers that are not there: `ask` (a prompt from
 * stdin; every backend failed), `pdf` (a page that failed), `pull` (a backend that cannot pull).
 */
import { Simulator } from "@local-router/simulators"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as MinimalPdf from "../../../packages/vision/test/support/MinimalPdf.ts"
import { bin, cli as run, type Ran } from "./support/RunCli.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lr-cli-exit-"))
const cli = (args: ReadonlyArray<string>, input?: string) =>
  run(args, { cwd: tmp, env: { HOME: tmp }, ...(input === undefined ? {} : { input }) })

/** A port nothing listens on (so no `serve` answers there, and a backend there is unreachable). */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = (probe.address() as net.AddressInfo)
      probe.close(() => resolve(port))
    })
  })

let ollama: Simulator.Running
let serverPort: number
let nowhere: string
beforeAll(async () => {
  ollama = await Simulator.start("ollama", { readyTimeoutMs: 30_000 })
  serverPort = await closedPort()
  nowhere = `http://127.0.0.1:${await closedPort()}`
}, 60_000)
afterAll(() => ollama?.stop())

/** A routing.yaml with one Ollama backend at `url`, for text and PDFs; no serve at its server port. */
const config = (name: string, url: string) => {
  const file = path.join(tmp, `${name}.yaml`)
  fs.writeFileSync(
    file,
    `server: { port: ${serverPort} }
backends:
  ollama: { type: ollama, url: "${url}" }
priorities:
  text: [ollama]
  pdf: [ollama]
categories:
  default:
    input: text
    models: { ollama: "phi3.5:3.8b" }
  vision_pdf:
    input: pdf
    models: { ollama: "llava:7b" }
`
  )
  return file
}

const lastPrompt = async () => {
  const chats = (await ollama.requests()).filter((r) => r.path === "/api/chat")
  const body = chats.at(-1)?.body as { messages: Array<{ role: string; content: string }> }
  return body.messages.filter((m) => m.role === "user").at(-1)?.content
}

describe("ask", () => {
  it("ask - reads the prompt from stdin", async () => {
    const file = config("up", ollama.url)
    const { code, stdout } = await cli(["ask", "-", "--json", "--config", file], "What is local routing?\n")
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({ backend: "ollama", via: "in-process" })
    expect(await lastPrompt()).toBe("What is local routing?")
  })

  it("ask with no prompt reads a piped stdin (`echo ... | local-router ask`)", async () => {
    const file = config("up", ollama.url)
    const ran = await new Promise<Ran>((resolve) => {
      // A shell pipe, as a person types it: stdin is a FIFO.
      const child = spawn("sh", ["-c", `printf 'Piped question' | "${process.execPath}" "${bin}" ask --json --config "${file}"`], {
        cwd: tmp,
        env: { ...process.env, NO_COLOR: "1", HOME: tmp, LOCAL_ROUTER_CONFIG: "" }
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (c) => (stdout += c))
      child.stderr.on("data", (c) => (stderr += c))
      child.on("close", (code) => resolve({ code, stdout, stderr }))
    })
    expect(ran.code, ran.stderr).toBe(0)
    expect(JSON.parse(ran.stdout)).toMatchObject({ backend: "ollama" })
    expect(await lastPrompt()).toBe("Piped question")
  })

  it("ask - with an empty stdin is a usage error", async () => {
    const { code, stderr } = await cli(["ask", "-", "--config", config("up", ollama.url)], "")
    expect(code).toBe(2)
    expect(stderr).toBe("local-router: the prompt read from stdin is empty\nusage: local-router ask [flags] [<prompt>]\n")
  })

  it("ask --json when every backend failed: exit 3 and the JSON error object with the trace", async () => {
    const { code, stdout, stderr } = await cli(["ask", "hello", "--json", "--config", config("down", nowhere)])
    expect(code).toBe(3)
    expect(stderr).toBe("")
    const { error } = JSON.parse(stdout) as {
      error: { code: number; reason: string; message: string; trace: { attempts: Array<{ backend: string; outcome: string; reason?: string }> } }
    }
    expect(error).toMatchObject({ code: 3, reason: "AllFailed" })
    expect(error.trace.attempts).toEqual([expect.objectContaining({ backend: "ollama", outcome: "failed", reason: "Unreachable" })])
  })

  it("ask --stream --json ends its JSON lines with the error object on one line", async () => {
    const { code, stdout } = await cli(["ask", "hello", "--stream", "--json", "--config", config("down", nowhere)])
    expect(code).toBe(3)
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l) as { error?: { code: number } })
    expect(lines.at(-1)!.error!.code).toBe(3)
  })

  it("without --json the same failure is said on stderr, exit 3", async () => {
    const { code, stdout, stderr } = await cli(["ask", "hello", "--config", config("down", nowhere)])
    expect(code).toBe(3)
    expect(stdout).toBe("")
    expect(stderr).toMatch(/^local-router: every backend failed for category "default":\n {2}ollama failed \(Unreachable\): ollama: no answer from [^\n]+\n$/)
  })
})

describe("pdf", () => {
  const file = path.join(tmp, "three.pdf")
  fs.writeFileSync(file, MinimalPdf.make({ pages: [{ lines: ["One"] }, { lines: ["Two"] }, { lines: ["Three"] }] }))

  const withFirstPageRefused = async () => {
    // The first page's request is refused (400: no fallback would help), the others answered.
    // Only the chat route: an image request first asks /api/show what the model can do.
    await ollama.setFaults([{ kind: "status", status: 400, message: "bad image", route: "/api/chat", count: 1 }])
  }

  it("--json: a page that failed makes the command exit 3, the error object last with the failed pages", async () => {
    await withFirstPageRefused()
    const { code, stdout, stderr } = await cli(["pdf", file, "--json", "--concurrency", "1", "--config", config("up", ollama.url)])
    expect(code).toBe(3)
    expect(stderr).toBe("")
    const events = stdout.trim().split("\n").map((l) => JSON.parse(l) as { _tag?: string; error?: Record<string, unknown> })
    expect(events.filter((e) => e._tag === "PageDone")).toHaveLength(2)
    expect(events.at(-2)).toMatchObject({ _tag: "Finished", pages: 3, succeeded: 2, failed: 1 })
    expect(events.at(-1)!.error).toMatchObject({ code: 3, reason: "PagesFailed", failedPages: [1], pages: 3, succeeded: 2 })
  })

  it("piped without --json: JSON lines on stdout, exit 3 and one summary line on stderr", async () => {
    await withFirstPageRefused()
    const { code, stderr } = await cli(["pdf", file, "--concurrency", "1", "--config", config("up", ollama.url)])
    expect(code).toBe(3)
    expect(stderr).toMatch(/^local-router: 2 of 3 pages read in \d+ ms; 1 failed \(page 1\)\n$/)
  })

  it("every page read: exit 0, and the summary on stderr", async () => {
    await ollama.clearFaults()
    const { code, stderr } = await cli(["pdf", file, "--config", config("up", ollama.url)])
    expect(code).toBe(0)
    expect(stderr).toMatch(/^3 of 3 pages read in \d+ ms\n$/)
  })
})

describe("pull", () => {
  it("a backend that cannot pull: exit 7, the backend named once", async () => {
    const { code, stdout, stderr } = await cli(["pull", "--config", config("down", nowhere)])
    expect(code).toBe(7)
    // One line per reason: the server that is not there is said once, with the models it concerns.
    expect(stderr).toMatch(/^local-router: could not pull 2 models:\n {2}phi3\.5:3\.8b, llava:7b: ollama: no answer from http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n$/)
    expect(stderr).not.toMatch(/ollama: ollama:/)
    expect(stdout).toBe("")
  })

  it("--json: the error object with each failure", async () => {
    const { code, stdout } = await cli(["pull", "ollama", "phi3.5:3.8b", "--json", "--config", config("down", nowhere)])
    expect(code).toBe(7)
    const { error } = JSON.parse(stdout.trim().split("\n").at(-1)!) as { error: { code: number; reason: string; failures: Array<Record<string, string>> } }
    expect(error).toMatchObject({ code: 7, reason: "PullFailed" })
    expect(error.failures).toEqual([expect.objectContaining({ backend: "ollama", model: "phi3.5:3.8b", reason: "Failed" })])
  })

  it("a backend routing.yaml does not supervise is refused: exit 4", async () => {
    const { code, stderr } = await cli(["pull", "mlx", "--config", config("down", nowhere)])
    expect(code).toBe(4)
    expect(stderr).toBe("local-router: no supervised backend named mlx; supervised: ollama\n")
  })

  it("a model pulled: exit 0", async () => {
    const { code, stdout } = await cli(["pull", "ollama", "qwen2.5:0.5b", "--json", "--config", config("up", ollama.url)])
    expect(code).toBe(0)
    const last = JSON.parse(stdout.trim().split("\n").at(-1)!) as { backend: string; model: string; status: string }
    expect(last).toMatchObject({ backend: "ollama", model: "qwen2.5:0.5b", status: "success" })
  })
})
