/**
 * How the service starts `serve` (launch.js -> serve/Main.ts): the same options as the CLI's
 * `serve`, everything else left to the CLI, and a process that loads only what serving uses.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import * as Main from "../../src/serve/Main.ts"
import { freePort, repo, routing, tempDir, writeRouting } from "./Fixture.ts"

const launcher = path.join(repo, "apps/supervisor/src/launch.js")
const bin = path.join(repo, "apps/supervisor/src/bin.ts")

describe("serve/Main: the service's way into serve", () => {
  it("takes `serve` with the CLI's options, wherever --config stands", () => {
    const dir = tempDir()
    const file = path.join(dir, "routing.yaml")
    fs.writeFileSync(file, "version: 1\n")
    expect(Main.parse(["serve"])).toEqual({ config: undefined, host: undefined, port: undefined, logDir: undefined })
    expect(Main.parse(["serve", "--config", file, "--host", "::1", "--port", "4242", "--log-dir", path.join(dir, "logs")])).toEqual({
      config: file,
      host: "::1",
      port: 4242,
      logDir: path.join(dir, "logs")
    })
    expect(Main.parse(["--config", file, "serve", "--port=0"])).toMatchObject({ config: file, port: 0 })
  })

  it("leaves to the CLI whatever it would not read exactly as the CLI does", () => {
    const dir = tempDir()
    const file = path.join(dir, "routing.yaml")
    fs.writeFileSync(file, "version: 1\n")
    for (
      const args of [
        ["serve", "--help"],
        ["serve", "-h"],
        ["--version"],
        ["status"],
        ["serve", "extra"],
        ["serve", "--port", "abc"],
        ["serve", "--port", "-1"],
        ["serve", "--port", "1", "--port", "2"],
        ["serve", "--log-level", "debug"],
        ["serve", "--wat"],
        ["serve", "--config"],
        ["serve", "--config", dir],
        ["serve", "--log-dir", file]
      ]
    ) expect(Main.parse(args), args.join(" ")).toBeUndefined()
  })

  it("reads exactly the options the CLI's serve declares", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", bin, "serve", "--help"], {
      env: { ...process.env, NO_COLOR: "1" }
    })
    const usage = stdout.split("\n").find((line) => line.startsWith("$ serve"))
    expect(usage).toBeDefined()
    expect([...usage!.matchAll(/\[--([a-z-]+) /g)].map((m) => m[1])).toEqual([...Main.flags])
  })

  it("a served process loads neither the CLI nor undici nor node:crypto nor effect's barrel nor the source preparers, and answers", async () => {
    const [api, port] = await Promise.all([freePort(), freePort()])
    const dir = tempDir()
    const file = writeRouting(dir, routing({ ollama: { kind: "ollama", port } }))
    // An empty source cache, as after an install: child processes fill it, serve prepares nothing.
    const cache = path.join(dir, "sources")
    for (const start of ["cold", "warm"]) {
      const loaded = await serveOnce(dir, file, api, start, cache)
      expect(loaded.urls.some((url) => url.endsWith("/serve/Serve.ts")), start).toBe(true)
      const heavy = loaded.urls.filter((url) =>
        /\/@effect\/cli\/|\/node_modules\/undici\/|\/node_modules\/ws\/|\/node_modules\/esbuild\/|\/effect\/dist\/esm\/index\.js$|\/src\/Cli\.ts$/.test(url)
      )
      expect(heavy, start).toEqual([])
      // Node's bundled undici (~10 MB), node:crypto (~3 MB) and type stripper (~14 MB) are for other processes.
      expect(loaded.builtins.filter((name) => /undici|crypto|amaro/.test(name)), start).toEqual([])
      expect(fs.readdirSync(cache).length, start).toBeGreaterThan(300)
    }
  }, 90_000)
})

/** Starts serve through the service's launcher, asks it once through the gateway, stops it, and returns what it loaded. */
const serveOnce = async (dir: string, file: string, api: number, name: string, cache: string) => {
  const record = path.join(dir, `${name}.json`)
  // Records every module the process loads (ours, packages', Node's own) when it exits.
  const hook = path.join(dir, `${name}.mjs`)
  fs.writeFileSync(
    hook,
    `import * as module from "node:module"
import * as fs from "node:fs"
const urls = []
module.registerHooks({ load(url, context, next) { urls.push(url); return next(url, context) } })
process.on("exit", () => fs.writeFileSync(${JSON.stringify(record)}, JSON.stringify({ urls, builtins: process.moduleLoadList })))
`
  )
  const serve = spawn(
    process.execPath,
    ["--disable-warning=ExperimentalWarning", "--import", hook, launcher, "serve", "--config", file, "--port", String(api), "--log-dir", path.join(dir, "logs")],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOCAL_ROUTER_SOURCE_CACHE: cache } }
  )
  let output = ""
  serve.stdout.on("data", (d) => (output += d))
  serve.stderr.on("data", (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => serve.once("exit", resolve))
  try {
    const deadline = Date.now() + 25_000
    let ready = false
    while (!ready && Date.now() < deadline) {
      const status = await fetch(`http://127.0.0.1:${api}/status`).then((r) => r.json() as Promise<{ supervisor?: { servers: Array<{ phase: string }> } }>, () => undefined)
      ready = status?.supervisor?.servers[0]?.phase === "ready"
      if (!ready) await new Promise((r) => setTimeout(r, 100))
    }
    expect(ready, output).toBe(true)
    // An answer through the gateway, so the request path has loaded what it needs too.
    const chat = await fetch(`http://127.0.0.1:${api}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "hi" }] })
    })
    expect(chat.status, await chat.text()).toBe(200)
  } finally {
    serve.kill("SIGTERM")
  }
  expect(await exited, output).toBe(0)
  expect(output).toMatch(/local-router on http:\/\/127\.0\.0\.1:\d+/)
  return JSON.parse(fs.readFileSync(record, "utf8")) as { urls: Array<string>; builtins: Array<string> }
}
