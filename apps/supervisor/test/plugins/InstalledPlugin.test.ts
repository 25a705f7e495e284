/**
 * The plugin path end to end, as a user takes it: examples/backend-llamacpp installed with
 * `local-router plugin add <dir>` (npm packs it and installs the copy into a plugin directory
 * whose @local-router/core and effect are links to this workspace's), named by its package
 * name in a routing.yaml elsewhere, and driven through the `local-router` command. It answers a
 * category against sim-llamacpp; when that server is killed the router falls back to the
 * next backend; a package that is not installed takes out only its own backend; `plugin remove`
 * takes it out again. (Pack.test.ts takes the same path with the packed, installed command.)
 */
import { Backend } from "@local-router/core"
import { Answer, Simulator } from "@local-router/simulators"
import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { repo } from "./Install.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")
const pkg = "local-router-backend-llamacpp"
const mlxModel = "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit"

const { NODE_PATH: _nodePath, ...withoutNodePath } = process.env

const cli = async (args: ReadonlyArray<string>, cwd: string) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", bin, ...args], {
      cwd,
      // Without pnpm's NODE_PATH, through which Node would find the workspace's packages from anywhere.
      env: { ...withoutNodePath, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "", LOCAL_ROUTER_PLUGIN_DIR: pluginDir }
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
let pluginDir: string

beforeAll(async () => {
  ;[llama, mlx] = await Promise.all([
    Simulator.start("llamacpp", { readyTimeoutMs: 30_000 }),
    Simulator.start("mlx", { args: ["--model", mlxModel], readyTimeoutMs: 30_000 })
  ])
  // Outside the repo: from inside it, Node's lookup would find the workspace's own packages.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "local-router-installed-"))
  pluginDir = path.join(dir, "plugins")
  const added = await cli(["plugin", "add", path.join(repo, "examples/backend-llamacpp")], dir)
  expect(added.code, added.stderr).toBe(0)
  expect(added.stdout).toContain(`added ${pkg} 0.1.0 (contract ${Backend.CONTRACT_VERSION}) to ${pluginDir}`)
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
afterAll(async () => {
  await Promise.all([llama.stop(), mlx.stop()])
  fs.rmSync(dir, { recursive: true, force: true })
})

describe("a backend plugin installed as a package", () => {
  it("plugins --json lists it with the file it was loaded from, its version and contract; a missing package names itself, where it was looked for and how to install it", async () => {
    const { code, stdout } = await cli(["plugins", "--json", "--config", "routing.yaml"], dir)
    expect(code).toBe(0)
    const out = JSON.parse(stdout) as { file: string; contract: string; pluginDir: string; plugins: ReadonlyArray<Record<string, unknown>> }
    expect(out.file).toBe(path.join(dir, "routing.yaml"))
    expect(out.contract).toBe(Backend.CONTRACT_VERSION)
    expect(out.pluginDir).toBe(pluginDir)
    expect(out.plugins.find((p) => p["type"] === pkg)).toEqual({
      type: pkg,
      // A copy in the plugin directory, not a link to examples/: it runs on our core.
      from: path.join(pluginDir, "node_modules", pkg, "src/index.js"),
      version: "0.1.0",
      contract: Backend.CONTRACT_VERSION,
      backends: ["llama"],
      error: null
    })
    expect(out.plugins.find((p) => p["type"] === "mlx")).toMatchObject({ from: "built-in", backends: ["mlx"], error: null })
    const missing = out.plugins.find((p) => p["type"] === "local-router-backend-nope") as { error: { reason: string; message: string }; from: unknown }
    expect(missing.from).toBeNull()
    expect(missing.error.reason).toBe("NotFound")
    expect(missing.error.message).toContain(`"local-router-backend-nope" not found`)
    expect(missing.error.message).toContain(dir)
    expect(missing.error.message).toContain(pluginDir)
    expect(missing.error.message).toContain(path.join(repo, "apps/supervisor/dist"))
    expect(missing.error.message).toContain("local-router plugin add local-router-backend-nope")
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

  it("refuses a package that is no plugin, installs from a .tgz too, and plugin remove takes the plugin out again", { timeout: 90_000 }, async () => {
    const notPlugin = path.join(dir, "not-a-plugin")
    fs.mkdirSync(notPlugin)
    fs.writeFileSync(path.join(notPlugin, "package.json"), JSON.stringify({ name: "not-a-plugin", version: "1.0.0", type: "module", exports: "./index.js" }))
    fs.writeFileSync(path.join(notPlugin, "index.js"), "export const nothing = 1\n")
    const refused = await cli(["plugin", "add", notPlugin], dir)
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/^local-router: not added: .*exports no backend definition/)
    const refusedJson = await cli(["plugin", "add", notPlugin, "--json"], dir)
    expect(refusedJson.code).toBe(4)
    expect(JSON.parse(refusedJson.stdout)).toMatchObject({ error: { code: 4, reason: "NotAPlugin" } })
    const manifest = () => JSON.parse(fs.readFileSync(path.join(pluginDir, "package.json"), "utf8")) as { dependencies: Record<string, string> }
    expect(Object.keys(manifest().dependencies).sort()).toEqual(["@local-router/core", "effect", pkg])

    const removed = await cli(["plugin", "remove", pkg], dir)
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.stdout).toBe(`removed ${pkg} from ${pluginDir}\n`)
    expect(fs.existsSync(path.join(pluginDir, "node_modules", pkg))).toBe(false)
    expect(Object.keys(manifest().dependencies).sort()).toEqual(["@local-router/core", "effect"])
    const { stdout } = await cli(["plugins", "--json", "--config", "routing.yaml"], dir)
    const gone = (JSON.parse(stdout) as { plugins: ReadonlyArray<Record<string, any>> }).plugins.find((p) => p["type"] === pkg)
    expect(gone?.["error"]?.reason).toBe("NotFound")

    const again = await cli(["plugin", "remove", pkg], dir)
    expect(again.code).toBe(2)
    expect(again.stderr).toBe(`local-router: ${pkg} is not installed in ${pluginDir} (no plugins are installed)\n`)
    // A packed package (what `npm pack` hands over) installs the same way, from a copy of the file.
    execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: path.join(repo, "examples/backend-llamacpp"), stdio: "ignore" })
    const tgz = path.join(dir, `${pkg}-0.1.0.tgz`)
    const fromTarball = await cli(["plugin", "add", tgz], dir)
    expect(fromTarball.code, fromTarball.stderr).toBe(0)
    expect(manifest().dependencies[pkg]).toBe(`file:tarballs/${pkg}-0.1.0.tgz`)
    fs.rmSync(tgz)
    expect((await cli(["plugins", "--json", "--config", "routing.yaml"], dir)).stdout).toContain(path.join(pluginDir, "node_modules", pkg, "src/index.js"))
    expect((await cli(["plugin", "remove", pkg], dir)).code).toBe(0)
    expect(fs.readdirSync(path.join(pluginDir, "tarballs"))).toEqual([])

    const asJson = await cli(["plugin", "remove", pkg, "--json"], dir)
    expect(asJson.code).toBe(2)
    expect(JSON.parse(asJson.stdout)).toEqual({ error: { code: 2, reason: "NotInstalled", message: `${pkg} is not installed in ${pluginDir} (no plugins are installed)` } })
    expect(asJson.stderr).toBe("")
  })
})
