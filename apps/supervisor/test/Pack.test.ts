/**
 * local-router as a user installs it, away from this repository: `./run pack`'s tarball
 * installed with `npm install -g --prefix <temp>` under an empty HOME (third-party packages come
 * from the npm registry, through this machine's npm settings as ./run uses them), then the
 * installed `local-router` command: --version, routes, serve answering a request through a
 * simulator, service install writing a unit that runs the installed command, demo; and the plugin
 * path outside the repo: `plugin new` in an empty directory whose `npm install && npm test` pass,
 * `plugin add` of it and of the llama.cpp example, a request answered through a plugin,
 * `plugin remove`.
 *
 * This is the one test that reaches the network (the npm registry), as installing does.
 */
import { Backend } from "@local-router/core"
import { Answer, Simulator } from "@local-router/simulators"
import { execFile, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repo = path.resolve(import.meta.dirname, "../../..")
const version = (JSON.parse(fs.readFileSync(path.join(repo, "apps/supervisor/package.json"), "utf8")) as { version: string }).version
const root = fs.mkdtempSync(path.join(os.tmpdir(), "local-router-pack-test-"))
const prefix = path.join(root, "prefix")
const home = path.join(root, "home")
const work = path.join(root, "work")
const bin = path.join(prefix, "bin", "local-router")
const installed = path.join(prefix, "lib", "node_modules", "local-router")

/** This machine's npm settings, read with its real HOME, as ./run passes them on. */
const npmSetting = (name: string): string | undefined => {
  const value = execFileSync("npm", ["config", "get", name], { encoding: "utf8" }).trim()
  return value && value !== "undefined" && value !== "null" ? value : undefined
}

/**
 * The environment of a fresh account: an empty HOME, our Node first on PATH, nothing of vitest's
 * or pnpm's (NODE_PATH would find the workspace's packages from anywhere).
 */
const environment = (() => {
  const kept = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(VITEST|NODE_PATH$|NODE_ENV$|npm_|pnpm_|PNPM_|LOCAL_ROUTER_)/.test(key))
  )
  const registry = npmSetting("registry")
  const cafile = npmSetting("cafile")
  const cache = npmSetting("cache")
  return {
    ...kept,
    HOME: home,
    PATH: `${path.dirname(process.execPath)}:${process.env["PATH"]}`,
    NO_COLOR: "1",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
    ...(registry ? { npm_config_registry: registry } : {}),
    ...(cafile && fs.existsSync(cafile) ? { npm_config_cafile: cafile, NODE_EXTRA_CA_CERTS: cafile } : {}),
    // The machine's download cache (content-addressed): a second run fetches less, and what is
    // installed is the same.
    ...(cache ? { npm_config_cache: cache } : {})
  }
})()

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

const run = (file: string, args: ReadonlyArray<string>, options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Ran> =>
  new Promise((resolve) => {
    const started = performance.now()
    execFile(file, [...args], { cwd: options.cwd ?? work, env: { ...environment, ...options.env }, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0
      resolve({ code, stdout, stderr, ms: Math.round(performance.now() - started) })
    })
  })

const lr = (args: ReadonlyArray<string>, options: { cwd?: string; env?: Record<string, string> } = {}) => run(bin, args, options)

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/** Every file under dir, relative to it. */
const files = (dir: string) =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)))

let tarball: string
let ollama: Simulator.Running
let llama: Simulator.Running
const timings: Record<string, number> = {}

beforeAll(async () => {
  fs.mkdirSync(home)
  fs.mkdirSync(work)
  const [packed, o, l] = await Promise.all([
    run(process.execPath, [path.join(repo, "scripts/pack.js"), "--out", root], { cwd: repo }),
    Simulator.start("ollama", { readyTimeoutMs: 30_000 }),
    Simulator.start("llamacpp", { readyTimeoutMs: 30_000 })
  ])
  ollama = o
  llama = l
  expect(packed.code, packed.stderr).toBe(0)
  tarball = packed.stdout.trim()
  timings["pack"] = packed.ms
  const install = await run("npm", ["install", "-g", "--prefix", prefix, tarball], { cwd: root })
  expect(install.code, install.stderr).toBe(0)
  timings["install"] = install.ms
}, 180_000)

afterAll(async () => {
  await Promise.all([ollama?.stop(), llama?.stop()])
  console.log(`packed install: ${JSON.stringify(timings)}`)
  // ~200 MB of installed packages: removing them takes a while on a busy machine.
  await fs.promises.rm(root, { recursive: true, force: true })
}, 120_000)

describe("the packed local-router, installed with npm install -g", () => {
  it("is one tarball named by the version, holding built JavaScript only, the workspace packages inside it", () => {
    expect(path.basename(tarball)).toBe(`local-router-${version}.tgz`)
    const listing = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n")
    expect(listing).toContain("package/dist/bin.js")
    expect(listing).toContain("package/node_modules/@local-router/core/dist/index.js")
    expect(listing).toContain(`package/plugin-kit/local-router-core-${version}.tgz`)
    expect(listing.filter((file) => /\.ts$|\.map$|\/test\/|\/src\//.test(file))).toEqual([])
    // Third-party packages are not in it: npm fetches them.
    expect(listing.filter((file) => file.startsWith("package/node_modules/") && !file.startsWith("package/node_modules/@local-router/"))).toEqual([])
  })

  it("installs a local-router command that runs from the prefix, with no path into this repository", async () => {
    expect(fs.realpathSync(bin)).toBe(path.join(installed, "dist", "bin.js"))
    // Every dependency was really installed (npm leaves an empty directory for a bundled
    // package's dependency it expected inside the tarball).
    for (const dep of ["effect", "sharp", "yaml", "@napi-rs/canvas", "pdfjs-dist"]) {
      expect(fs.existsSync(path.join(installed, "node_modules", dep, "package.json")), dep).toBe(true)
    }
    const ours = [...files(path.join(installed, "dist")).map((f) => path.join("dist", f)), ...files(path.join(installed, "node_modules/@local-router")).map((f) => path.join("node_modules/@local-router", f))]
    expect(ours.length).toBeGreaterThan(100)
    expect(ours.filter((file) => fs.readFileSync(path.join(installed, file), "utf8").includes(repo))).toEqual([])

    const shown = await lr(["--version"])
    expect(shown).toMatchObject({ code: 0, stdout: `${version}\n` })
    // demo runs the simulators the package carries for it, against the routing.yaml it ships.
    const demo = await lr(["demo", "--token-ms", "1"])
    expect(demo.code, demo.stderr).toBe(0)
    expect(demo.stdout).toContain("SIMULATED")
    expect(demo.stdout).toMatch(/answered by mlx/)
    const help = await lr(["--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("plugin")
    timings["first --help"] = help.ms
  })

  it("routes, and serve answers a request through a simulated Ollama; service install runs the installed command", async () => {
    const port = await freePort()
    const config = path.join(work, "routing.yaml")
    fs.writeFileSync(
      config,
      `backends:\n  ollama: { type: ollama, url: "${ollama.url}" }\npriorities:\n  text: [ollama]\n` +
        `categories:\n  fast:\n    input: text\n    models: { ollama: "phi3.5:3.8b" }\nserver: { port: ${port} }\n`
    )
    const routes = await lr(["routes", "--config", config])
    expect(routes.code, routes.stderr).toBe(0)
    expect(routes.stdout).toMatch(/fast[\s\S]*1\. ollama\s+phi3\.5:3\.8b/)

    const serve = spawn(bin, ["serve", "--config", config], { cwd: work, env: environment, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    serve.stdout.on("data", (chunk) => (output += chunk))
    serve.stderr.on("data", (chunk) => (output += chunk))
    const exited = new Promise<number | null>((resolve) => serve.on("exit", resolve))
    try {
      const url = `http://127.0.0.1:${port}`
      const deadline = Date.now() + 30_000
      let ready = false
      while (!ready && Date.now() < deadline && serve.exitCode === null) {
        ready = await fetch(`${url}/health`).then(() => true, () => false)
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(ready, output).toBe(true)
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "hello from an installed local-router" }] })
      })
      expect(response.status, output).toBe(200)
      expect(response.headers.get("x-local-router-backend")).toBe("ollama")
      const body = (await response.json()) as { choices: ReadonlyArray<{ message: { content: string } }> }
      expect(body.choices[0]?.message.content).toBe(Answer.make({ prompt: "hello from an installed local-router" }).text)
    } finally {
      serve.kill("SIGTERM")
    }
    expect(await exited).toBe(0)

    // A recording systemctl: the unit is written and "enabled", nothing reaches the real one.
    const tools = path.join(root, "tools")
    fs.mkdirSync(tools)
    fs.writeFileSync(path.join(tools, "systemctl"), `#!/bin/sh\necho "systemctl $*" >> "${tools}/calls.log"\n[ "$2" = "is-active" ] && echo active\nexit 0\n`, { mode: 0o755 })
    const service = await lr(["service", "install", "--platform", "linux", "--config", config], { env: { PATH: `${tools}:${environment.PATH}` } })
    expect(service.code, service.stderr).toBe(0)
    const unit = fs.readFileSync(path.join(home, ".config/systemd/user/local-router.service"), "utf8")
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? ""
    expect(execStart.split(" ")).toEqual(expect.arrayContaining([path.join(installed, "dist", "bin.js"), "serve", "--config", config]))
    // (Node itself is this test's Node, which lives in the repo's .toolchain: the command does not.)
    expect(unit).not.toContain(path.join(repo, "apps"))
    expect(fs.readFileSync(path.join(tools, "calls.log"), "utf8")).toMatch(/^systemctl --user enable (--now )?local-router\.service$/m)
  })
})

describe("plugins outside the repository, with the installed local-router", () => {
  const pluginDir = path.join(home, ".local/share/local-router/plugins")
  const scaffolded = path.join(work, "local-router-backend-my-backend")

  it("plugin new writes a package whose npm install and npm test pass where it stands, against this local-router's core", async () => {
    const made = await lr(["plugin", "new", "my-backend"])
    expect(made.code, made.stderr).toBe(0)
    expect(made.stdout).toContain("local-router plugin add")
    const install = await run("npm", ["install"], { cwd: scaffolded })
    expect(install.code, install.stderr).toBe(0)
    timings["plugin npm install"] = install.ms
    const test = await run("npm", ["test", "--", "--reporter=verbose"], { cwd: scaffolded })
    expect(test.code, test.stdout + test.stderr).toBe(0)
    expect(test.stdout).toContain("Backend contract: local-router-backend-my-backend")
    expect(test.stdout).toMatch(/Tests\s+\d+ passed/)
    expect(test.stdout).not.toMatch(/failed/)
    // The core its tests ran on is the installed local-router's own build.
    const tested = path.join(scaffolded, "node_modules/@local-router/core/dist/index.js")
    expect(fs.readFileSync(tested, "utf8")).toBe(fs.readFileSync(path.join(installed, "node_modules/@local-router/core/dist/index.js"), "utf8"))
  }, 120_000)

  it("plugin add installs it and the llama.cpp example where local-router loads plugins, on local-router's own core and effect; routing.yaml names them by type; plugin remove undoes it", async () => {
    const mine = await lr(["plugin", "add", scaffolded])
    expect(mine.code, mine.stderr).toBe(0)
    expect(mine.stdout).toContain(`added local-router-backend-my-backend 0.1.0 (contract ${Backend.CONTRACT_VERSION}) to ${pluginDir}`)
    const example = await lr(["plugin", "add", path.join(repo, "examples/backend-llamacpp")])
    expect(example.code, example.stderr).toBe(0)
    // One copy of core and of effect: the plugins' are links to the installed local-router's.
    for (const shared of ["@local-router/core", "effect"]) {
      expect(fs.realpathSync(path.join(pluginDir, "node_modules", shared))).toBe(path.join(installed, "node_modules", shared))
    }

    const config = path.join(work, "plugins.yaml")
    fs.writeFileSync(
      config,
      `backends:\n  llama: { type: local-router-backend-llamacpp, url: "${llama.url}" }\n  mine: { type: local-router-backend-my-backend, url: "http://127.0.0.1:9" }\n` +
        `priorities:\n  text: [llama, mine]\ncategories:\n  fast:\n    input: text\n    models: { llama: qwen2.5-0.5b-instruct-q4_k_m, mine: demo-model }\n`
    )
    const listed = await lr(["plugins", "--json", "--config", config])
    expect(listed.code, listed.stderr).toBe(0)
    const inventory = JSON.parse(listed.stdout) as { pluginDir: string; plugins: ReadonlyArray<{ type: string; from: string | null; error: unknown; backends: ReadonlyArray<string> }> }
    expect(inventory.pluginDir).toBe(pluginDir)
    for (const [type, backend] of [["local-router-backend-my-backend", "mine"], ["local-router-backend-llamacpp", "llama"]] as const) {
      expect(inventory.plugins.find((p) => p.type === type)).toMatchObject({ from: path.join(pluginDir, "node_modules", type, "src/index.js"), error: null, backends: [backend] })
    }

    const asked = await lr(["ask", "hello through a plugin", "-c", "fast", "--json", "--config", config])
    expect(asked.code, asked.stderr).toBe(0)
    expect(JSON.parse(asked.stdout)).toMatchObject({ backend: "llama", text: Answer.make({ prompt: "hello through a plugin" }).text })

    // An npm name comes from the registry: one that is no backend plugin is installed, refused and taken out again.
    const notPlugin = await lr(["plugin", "add", "is-number@7.0.0", "--json"])
    expect(notPlugin.code, notPlugin.stderr).toBe(4)
    expect(JSON.parse(notPlugin.stdout)).toMatchObject({ error: { reason: "NotAPlugin", message: expect.stringContaining("is-number") } })
    expect(fs.existsSync(path.join(pluginDir, "node_modules", "is-number"))).toBe(false)

    for (const name of ["local-router-backend-my-backend", "local-router-backend-llamacpp"]) {
      const removed = await lr(["plugin", "remove", name])
      expect(removed.code, removed.stderr).toBe(0)
    }
    const after = JSON.parse((await lr(["plugins", "--json", "--config", config])).stdout) as typeof inventory
    expect(after.plugins.filter((p) => p.type.startsWith("local-router-backend-")).map((p) => [p.type, (p.error as { reason: string }).reason])).toEqual([
      ["local-router-backend-llamacpp", "NotFound"],
      ["local-router-backend-my-backend", "NotFound"]
    ])
    expect(fs.readdirSync(path.join(pluginDir, "node_modules")).filter((name) => !name.startsWith("."))).toEqual(["@local-router", "effect"])
  }, 60_000)
})
