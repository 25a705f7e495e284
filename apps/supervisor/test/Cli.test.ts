import { describe, expect, it } from "vitest"
import { execFile, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import * as YAML from "yaml"

const repo = path.resolve(import.meta.dirname, "../../..")
const bin = path.join(repo, "apps/supervisor/dist/bin.js")

const cli = async (args: ReadonlyArray<string>, options: { cwd?: string; env?: Record<string, string> } = {}) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? repo,
      env: { ...process.env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "", ...options.env }
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lr-cli-"))


// The machine's own `node` when it is older than local-router needs (this project's CI image
// has Node 20 as /usr/bin/node next to the pinned toolchain): what a user with an old Node sees.
const oldNode = (() => {
  for (const candidate of ["/usr/bin/node", "/usr/local/bin/node"]) {
    try {
      const version = String(execFileSync(candidate, ["--version"])).trim()
      const [major = 0, minor = 0] = version.slice(1).split(".").map(Number)
      if (major < 22 || (major === 22 && minor < 18)) return { path: candidate, version: version.slice(1) }
    } catch {
      // not there
    }
  }
  return undefined
})()

describe("an older Node", () => {
  it.skipIf(oldNode === undefined)("gets one plain line naming the Node it needs and the one it found, exit 2", async () => {
    const run = await promisify(execFile)(oldNode!.path, [bin, "--version"]).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr })
    )
    expect(run).toEqual({ code: 2, stderr: `local-router: needs Node 22.18 or newer; this is Node ${oldNode!.version} (${oldNode!.path})\n` })
  })
})

describe("local-router CLI", () => {
  it("--version and --help", async () => {
    const version = await cli(["--version"])
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
    const help = await cli(["--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("routes")
    expect(help.stdout).toContain("--config")
    // Each level of help lists its own subcommands: `config check` is under `config`.
    expect(help.stdout).toMatch(/^\s+config\s+Work with routing\.yaml$/m)
    const config = await cli(["config", "--help"])
    expect(config.code).toBe(0)
    expect(config.stdout).toContain("local-router config <subcommand>")
    expect(config.stdout).toMatch(/^\s+check\s+Validate routing\.yaml/m)
    expect(config.stdout).toContain("--config")
    expect(help.stdout + config.stdout).not.toContain("\x1b[")
  })

  it("colours help only when asked to (no terminal here), and never with NO_COLOR", async () => {
    expect((await cli(["--help"], { env: { NO_COLOR: "", FORCE_COLOR: "1" } })).stdout).toContain("\x1b[")
    expect((await cli(["--help"], { env: { NO_COLOR: "1", FORCE_COLOR: "1" } })).stdout).not.toContain("\x1b[")
  })

  it("a usage error exits 2 with one plain line and the command's usage", async () => {
    const unknown = await cli(["routes", "--jsn"])
    expect(unknown.code).toBe(2)
    expect(unknown.stdout).toBe("")
    expect(unknown.stderr).toBe("local-router: Unrecognized flag: --jsn in command local-router routes (did you mean --json?)\nusage: local-router routes [flags]\n")
    const missing = await cli(["ask"])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe("local-router: Missing required argument: prompt (give it, or - to read it from stdin)\nusage: local-router ask [flags] [<prompt>]\n")
    const badValue = await cli(["service", "logs", "--lines", "many"])
    expect(badValue.code).toBe(2)
    expect(badValue.stderr).toMatch(/^local-router: Invalid value for flag --lines: "many"\.[^\n]*\nusage: local-router service logs \[flags\]\n$/)
  })

  it("parses the command line without loading core: a command loads what it runs when it runs", async () => {
    // Records the modules the process loaded, as it exits.
    const record = path.join(tmp, "help-loaded.json")
    const hook = path.join(tmp, "record-help.mjs")
    fs.writeFileSync(
      hook,
      `import * as module from "node:module"
import * as fs from "node:fs"
const urls = []
module.registerHooks({ load(url, context, next) { urls.push(url); return next(url, context) } })
process.on("exit", () => fs.writeFileSync(${JSON.stringify(record)}, JSON.stringify(urls)))
`
    )
    const help = await cli(["--help"], { env: { NODE_OPTIONS: `--import ${hook}` } })
    expect(help.code).toBe(0)
    const urls = JSON.parse(fs.readFileSync(record, "utf8")) as Array<string>
    expect(urls.some((url) => url.endsWith("/apps/supervisor/dist/Cli.js"))).toBe(true)
    expect(urls.filter((url) => /\/packages\/|\/supervisor\/dist\/(serve|supervisor|plugin|demo|service)\/|RoutingFile\.js$/.test(url))).toEqual([])
  })

  it("routes --json prints each category's ordered backends and models from ./routing.yaml", async () => {
    const { code, stdout } = await cli(["routes", "--json"])
    expect(code).toBe(0)
    const out = JSON.parse(stdout) as { file: string; categories: Array<{ name: string; route: Array<{ backend: string; model: string | null }> }> }
    expect(out.file).toBe(path.join(repo, "routing.yaml"))
    const fast = out.categories.find((c) => c.name === "fast")!
    expect(fast.route.map((r) => [r.backend, r.model])).toEqual([
      ["mlx", "mlx-community/Phi-3.5-mini-instruct-4bit"],
      ["ollama", "phi3.5:3.8b"],
      ["cloud", "gpt-4o-mini"]
    ])
    const pdf = out.categories.find((c) => c.name === "vision_pdf")!
    expect(pdf.route.filter((r) => r.model).map((r) => r.backend)).toEqual(["ollama", "cloud"])
  })

  it("routes in text shows the order and the skipped backends", async () => {
    const { stdout } = await cli(["routes"])
    expect(stdout).toMatch(/vision_pdf[^\n]*\n\s+-\s+moondream\s+skipped: no model for this category\n\s+1\. ollama\s+llava:7b\n\s+2\. cloud\s+gpt-4o-mini/)
  })

  it("config check exits non-zero with file:line:column for a bad file, given as an argument", async () => {
    const bad = path.join(tmp, "bad.yaml")
    fs.writeFileSync(bad, fs.readFileSync(path.join(repo, "routing.yaml"), "utf8").replace(`ollama: "phi3.5:3.8b"`, `ollama: "phi 3.5"`))
    const { code, stderr, stdout } = await cli(["config", "check", bad])
    expect(code).toBe(1)
    expect(stderr).toMatch(new RegExp(`${bad.replace(/[.]/g, "\\.")}:\\d+:\\d+ categories\\.fast\\.models\\.ollama: expected a model name like "phi3\\.5:3\\.8b"`))
    expect(stderr + stdout).not.toMatch(/\n\s+at /)
  })

  it("the global --config is accepted before or after the subcommand (the nearer one wins), and LOCAL_ROUTER_CONFIG is honoured", async () => {
    const file = path.join(tmp, "mine.yaml")
    fs.writeFileSync(file, fs.readFileSync(path.join(repo, "routing.yaml"), "utf8"))
    const elsewhere = path.join(tmp, "not-this-one.yaml")
    // Given both before and after, the one nearer the command wins.
    for (const args of [["--config", file, "routes", "--json"], ["routes", "--json", "--config", file], ["--config", elsewhere, "routes", "--config", file, "--json"]]) {
      const { code, stdout } = await cli(args, { cwd: tmp })
      expect(code).toBe(0)
      expect(JSON.parse(stdout).file).toBe(file)
    }
    const viaEnv = await cli(["config", "check", "--json"], { cwd: tmp, env: { LOCAL_ROUTER_CONFIG: file } })
    const categories = Object.keys((YAML.parse(fs.readFileSync(file, "utf8")) as { categories: object }).categories).length
    expect(JSON.parse(viaEnv.stdout)).toMatchObject({ file, ok: true, categories })
  })

  it("serve stopped by SIGTERM or Ctrl-C exits 0: the LaunchAgent restarts it only after an unsuccessful exit", { timeout: 60_000 }, async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const port = await new Promise<number>((resolve) => {
        const probe = net.createServer().listen(0, "127.0.0.1", () => {
          const { port } = probe.address() as net.AddressInfo
          probe.close(() => resolve(port))
        })
      })
      const child = spawn(process.execPath, [bin, "serve", "--port", String(port), "--log-dir", tmp], {
        cwd: repo,
        env: { ...process.env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "", HOME: tmp },
        stdio: "ignore"
      })
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      for (let up = false; !up;) {
        up = await fetch(`http://127.0.0.1:${port}/status`).then((r) => r.ok, () => false)
        if (!up) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      child.kill(signal)
      expect(await exited, signal).toBe(0)
    }
  })

  it("a missing config says where it looked, with exit code 2", async () => {
    const { code, stderr } = await cli(["routes"], { cwd: tmp, env: { HOME: tmp } })
    expect(code).toBe(2)
    expect(stderr).toContain("no routing.yaml found; looked at:")
    expect(stderr).toContain(path.join(tmp, "routing.yaml"))
  })
})
