/**
 * The plugin path end to end, as a user takes it: examples/backend-llamacpp installed into a
 * temporary directory's node_modules (copied, not through the workspace), named by its package
 * name in a routing.yaml there, and driven through the `local-router` command. It answers a
 * category against sim-llamacpp; when that server is killed the router falls back to the
 * next backend; a package that is not installed takes out only its own backend.
 */
import { Answer, Simulator } from "@local-router/simulators"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { installCopy, repo, tempDir } from "./Install.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")
const pkg = "local-router-backend-llamacpp"
const mlxModel = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"

const cli = async (args: ReadonlyArray<string>, cwd: string) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", bin, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "" }
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

interface Attempt {
  readonly backend: string
  readonly outcome: string
  readonly reason?: string
}

let llama: Simulator.Running
let mlx: Simulator.Running
let dir: string
let installed: string

beforeAll(async () => {
  ;[llama, mlx] = await Promise.all([
    Simulator.start("llamacpp", { readyTimeoutMs: 30_000 }),
    Simulator.start("mlx", { args: ["--model", mlxModel], readyTimeoutMs: 30_000 })
  ])
  dir = tempDir("installed-")
  installed = installCopy(dir, path.join(repo, "examples/backend-llamacpp"))
  fs.writeFileSync(
    path.join(dir, "routing.yaml"),
    `backends:
  missing: { type: local-router-backend-nope }
  llama: { type: ${pkg}, url: "${llama.url}" }
  mlx: { type: mlx, url: "${mlx.url}" }
priorities:
  text: [missing, llama, mlx]
categories:
  fast:
    input: text
    models: { missing: m, llama: qwen2.5-0.5b-instruct-q4_k_m, mlx: "${mlxModel}" }
`
  )
})
afterAll(() => Promise.all([llama.stop(), mlx.stop()]))

describe("a backend plugin installed as a package", () => {
  it("plugins --json lists it with the file it was loaded from, its version and contract; a missing package names itself, where it was looked for and how to install it", async () => {
    const { code, stdout } = await cli(["plugins", "--json", "--config", "routing.yaml"], dir)
    expect(code).toBe(0)
    const out = JSON.parse(stdout) as { file: string; contract: string; plugins: ReadonlyArray<Record<string, unknown>> }
    expect(out.file).toBe(path.join(dir, "routing.yaml"))
    expect(out.contract).toBe("2.0")
    expect(out.plugins.find((p) => p["type"] === pkg)).toEqual({
      type: pkg,
      from: fs.realpathSync(path.join(installed, "src/index.js")),
      version: "0.1.0",
      contract: "2.0",
      backends: ["llama"],
      error: null
    })
    expect(out.plugins.find((p) => p["type"] === "mlx")).toMatchObject({ from: "built-in", backends: ["mlx"], error: null })
    const missing = out.plugins.find((p) => p["type"] === "local-router-backend-nope") as { error: { reason: string; message: string }; from: unknown }
    expect(missing.from).toBeNull()
    expect(missing.error.reason).toBe("NotFound")
    expect(missing.error.message).toContain(`"local-router-backend-nope" not found`)
    expect(missing.error.message).toContain(dir)
    expect(missing.error.message).toContain(path.join(repo, "apps/supervisor/dist"))
    expect(missing.error.message).toContain("npm install local-router-backend-nope")
  })

  it("answers a category through it, then falls back when its server is killed", async () => {
    const first = await cli(["ask", "hello from a plugin", "-c", "fast", "--json", "--config", "routing.yaml"], dir)
    expect(first.code, first.stderr).toBe(0)
    const answer = JSON.parse(first.stdout) as { backend: string; text: string; trace: { attempts: ReadonlyArray<Attempt> } }
    expect(answer.backend).toBe("llama")
    expect(answer.text).toBe(Answer.make({ prompt: "hello from a plugin" }).text)
    expect(answer.trace.attempts[0]).toMatchObject({ backend: "missing", outcome: "skipped" })
    expect(answer.trace.attempts[0]?.reason).toMatch(/failed to load: backend package "local-router-backend-nope" not found/)
    const served = await llama.requests()
    expect(served.map((r) => r.path)).toContain("/v1/chat/completions")

    llama.kill("SIGKILL")
    await llama.exited
    const second = await cli(["ask", "hello from a plugin", "-c", "fast", "--json", "--config", "routing.yaml"], dir)
    expect(second.code, second.stderr).toBe(0)
    const fallback = JSON.parse(second.stdout) as { backend: string; text: string; trace: { attempts: ReadonlyArray<Attempt> } }
    expect(fallback.backend).toBe("mlx")
    expect(fallback.trace.attempts.map((a) => [a.backend, a.outcome, a.reason ?? null])).toEqual([
      ["missing", "skipped", expect.stringMatching(/not found/)],
      ["llama", "failed", "Unreachable"],
      ["mlx", "answered", null]
    ])
  })
})
