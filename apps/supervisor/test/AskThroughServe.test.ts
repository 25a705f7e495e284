/**
 * `local-router ask` goes through a running serve when one answers at routing.yaml's `server:`
 * address, so the request shows in serve's request log (the status page's list) with its trace;
 * with no serve it routes in its own process. The output, the exit codes and the messages are
 * the same both ways; `--json` says which way it went.
 */
import { Simulator } from "@local-router/simulators"
import { execFile, spawn } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as RealServe from "./frontdoor/RealServe.ts"
import { freePort, repo, tempDir, writeRouting } from "./supervisor/Fixture.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")

const cli = async (args: ReadonlyArray<string>) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", bin, ...args], {
      env: { ...process.env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "" }
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

interface Logged {
  readonly category: string | null
  readonly backend: string | null
  readonly outcome: string
  readonly ttftMs: number | null
  readonly trace: unknown
}
const recent = async (url: string) =>
  ((await (await fetch(`${url}/status`)).json()) as { requests: { recent: ReadonlyArray<Logged> } }).requests.recent

let serve: RealServe.RealServe
let simulator: Simulator.Running
/** The same category on an Ollama simulator with no serve at its `server:` address. */
let alone: string

beforeAll(async () => {
  const port = await freePort()
  ;[serve, simulator] = await Promise.all([RealServe.start({ port, server: { port } }), Simulator.start("ollama")])
  alone = writeRouting(tempDir("lr-ask-"), {
    version: 1,
    backends: { ollama: { type: "ollama", url: simulator.url } },
    priorities: { text: ["ollama"] },
    categories: { c_ollama: { input: "text", models: { ollama: "phi3.5:3.8b" } } },
    server: { port: await freePort() }
  })
}, 60_000)
afterAll(async () => {
  await Promise.all([serve?.stop(), simulator?.stop()])
})

describe("ask through a running serve", () => {
  it("answers via serve, and the request shows in serve's request log with the trace ask printed", async () => {
    const before = (await recent(serve.url)).length
    const asked = await cli(["ask", "--config", serve.file, "-c", "c_ollama", "hi", "--json"])
    expect(asked.code, asked.stderr).toBe(0)
    const answer = JSON.parse(asked.stdout) as { text: string; backend: string; model: string; via: string; trace: { attempts: ReadonlyArray<{ backend: string; outcome: string }> } }
    expect(answer.via).toBe(`serve at ${serve.url}`)
    expect(answer.backend).toBe("ollama")
    expect(answer.model).toBe("phi3.5:3.8b")
    expect(answer.text.length).toBeGreaterThan(0)
    expect(answer.trace.attempts).toEqual([expect.objectContaining({ backend: "ollama", outcome: "answered" })])
    const log = await recent(serve.url)
    expect(log.length).toBe(before + 1)
    expect(log[0]).toMatchObject({ category: "c_ollama", backend: "ollama", outcome: "answered" })
    expect(log[0]!.trace).toEqual(answer.trace)

    const direct = await cli(["ask", "--config", alone, "-c", "c_ollama", "hi", "--json"])
    expect(direct.code, direct.stderr).toBe(0)
    const inProcess = JSON.parse(direct.stdout) as typeof answer & { finishReason: string; usage: unknown }
    expect(inProcess.via).toBe("in-process")
    // The same JSON shape and the same words, whichever way the question went.
    expect(Object.keys(answer).sort()).toEqual(Object.keys(inProcess).sort())
    expect(answer.text).toBe(inProcess.text)
    expect((await recent(serve.url)).length).toBe(before + 1)
  })

  it("streams via serve: tokens on stdout, who answered on stderr, and a streamed entry in the log", async () => {
    const streamed = await cli(["ask", "--config", serve.file, "-c", "c_ollama", "hi", "--stream"])
    const whole = await cli(["ask", "--config", alone, "-c", "c_ollama", "hi", "--stream"])
    expect(streamed.code, streamed.stderr).toBe(0)
    expect(streamed.stdout).toBe(whole.stdout)
    expect(streamed.stderr).toMatch(/^answered by ollama \(phi3\.5:3\.8b\) in \d+ ms\n$/)
    const log = await recent(serve.url)
    expect(log[0]).toMatchObject({ category: "c_ollama", backend: "ollama", outcome: "answered" })
    expect(log[0]!.ttftMs).not.toBeNull()

    const events = (await cli(["ask", "--config", serve.file, "-c", "c_ollama", "hi", "--stream", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as { _tag: string; via?: string; trace?: unknown })
    expect(events[0]).toMatchObject({ _tag: "Routed", backend: "ollama", model: "phi3.5:3.8b", via: `serve at ${serve.url}` })
    expect(events.at(-1)!._tag).toBe("Done")
    expect(events.at(-1)!.trace).toEqual((await recent(serve.url))[0]!.trace)
  })

  it("an unknown category is refused with exit 4 and the same message both ways", async () => {
    const viaServe = await cli(["ask", "--config", serve.file, "-c", "nope", "hi"])
    const inProcess = await cli(["ask", "--config", alone, "-c", "nope", "hi"])
    expect(viaServe.code).toBe(4)
    expect(inProcess.code).toBe(4)
    expect(viaServe.stderr).toContain("nope")
    expect(viaServe.stderr).toBe(inProcess.stderr)
    const streamed = await cli(["ask", "--config", serve.file, "-c", "nope", "hi", "--stream"])
    expect(streamed.code).toBe(4)
    expect(streamed.stderr).toBe(inProcess.stderr)
  })

  it("no backend could answer is exit 3, an answer cut after it started is exit 5, both ways", async () => {
    const fault = (url: string, faults: unknown) =>
      fetch(`${url}/__sim/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(faults) })
    const both = async (faults: unknown, args: ReadonlyArray<string>) => {
      await Promise.all([fault(serve.simulator, faults), fault(simulator.url, faults)])
      const viaServe = await cli(["ask", "--config", serve.file, "-c", "c_ollama", "hi", ...args])
      const inProcess = await cli(["ask", "--config", alone, "-c", "c_ollama", "hi", ...args])
      return { viaServe, inProcess }
    }
    const failed = await both([{ kind: "status", status: 500, route: "/api/chat", count: 1 }], [])
    expect([failed.viaServe.code, failed.inProcess.code]).toEqual([3, 3])
    expect(failed.viaServe.stderr).toMatch(/^local-router: every backend failed for category "c_ollama":\n  ollama failed \(Upstream\)/)
    expect(failed.inProcess.stderr).toMatch(/^local-router: every backend failed for category "c_ollama":\n  ollama failed \(Upstream\)/)

    const cut = await both([{ kind: "cutAfterTokens", tokens: 2, route: "/api/chat", count: 1 }], ["--stream"])
    expect([cut.viaServe.code, cut.inProcess.code]).toEqual([5, 5])
    expect(cut.viaServe.stdout.length).toBeGreaterThan(0)
    expect(cut.viaServe.stdout).toBe(cut.inProcess.stdout)
    expect(cut.viaServe.stderr).toMatch(/^local-router: ollama failed after the answer had started \(StreamCut\)/)
    expect(cut.inProcess.stderr).toMatch(/^local-router: ollama failed after the answer had started \(StreamCut\)/)
    expect((await recent(serve.url))[0]).toMatchObject({ category: "c_ollama", outcome: "cut" })
  })

  it("serve going away in the middle of an answer is a failure after the start (exit 5), not a clean end", async () => {
    const port = await freePort()
    const dying = await RealServe.start({ port, server: { port } })
    try {
      await fetch(`${dying.simulator}/__sim/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{ kind: "hangAfterTokens", tokens: 2, route: "/api/chat" }])
      })
      const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", bin, "ask", "--config", dying.file, "-c", "c_ollama", "hi", "--stream"], {
        env: { ...process.env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "" }
      })
      let stderr = ""
      child.stderr.on("data", (d) => (stderr += d))
      const code = new Promise<number | null>((resolve) => child.once("exit", resolve))
      // The first tokens have reached the terminal: the answer has started.
      await new Promise((resolve) => child.stdout.once("data", resolve))
      await dying.kill()
      expect(await code).toBe(5)
      expect(stderr).toMatch(new RegExp(`^local-router: serve at ${dying.url} broke off the answer`))
    } finally {
      await dying.stop()
    }
  }, 60_000)
})
