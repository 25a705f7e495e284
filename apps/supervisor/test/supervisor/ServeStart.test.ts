/**
 * `serve` as the service starts it (Service.serveArguments: Node, the built dist/bin.js, serve):
 * plain JavaScript from every workspace package, nothing compiled or rewritten while it runs,
 * and only what serving uses loaded.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Service from "../../src/service/Service.ts"
import { freePort, repo, routing, tempDir, writeRouting } from "./Fixture.ts"

const entry = path.join(repo, "apps/supervisor/dist/bin.js")

describe("serve as the service starts it", () => {
  it("runs our packages' built JavaScript, loads no other command's modules, no type stripper, esbuild or undici, keeps no compile cache, and answers", async () => {
    const [api, port] = await Promise.all([freePort(), freePort()])
    const dir = tempDir()
    const file = writeRouting(dir, routing({ ollama: { kind: "ollama", port } }))
    const loaded = await serveOnce(dir, file, api)
    const ours = loaded.urls.filter((url) => url.startsWith(`file://${repo}/`) && !url.includes("/node_modules/.pnpm/"))
    expect(ours.some((url) => url.endsWith("/apps/supervisor/dist/serve/Serve.js"))).toBe(true)
    expect(ours.some((url) => url.endsWith("/packages/core/dist/index.js"))).toBe(true)
    expect(ours.filter((url) => !/\/(packages|apps)\/[^/]+\/(dist\/.+\.js|package\.json)$/.test(url))).toEqual([])
    // Each command loads its implementation when it runs: serve carries none of the others'.
    // plugin/PluginDir.js is serve's too: the loader looks for plugins in that directory.
    expect(ours.filter((url) => /\/apps\/supervisor\/dist\/(plugin|demo|service)\/|\/supervisor\/Direct\.js$/.test(url) && !url.endsWith("/plugin/PluginDir.js"))).toEqual([])
    expect(loaded.urls.filter((url) => /\/node_modules\/(esbuild|undici|ws)\//.test(url))).toEqual([])
    // Node's type stripper (~14 MB) and its bundled undici (~10 MB) are for other processes.
    expect(loaded.builtins.filter((name) => /amaro|undici/.test(name))).toEqual([])
    // The CLI's compile cache would hold ~7 MB for the life of serve.
    expect(loaded.compileCache).toBeNull()
  }, 60_000)
})

/** Starts serve as the service does, asks it once through the gateway, stops it, and returns what it loaded. */
const serveOnce = async (dir: string, file: string, api: number) => {
  const record = path.join(dir, "loaded.json")
  // Records every module the process loads (ours, packages', Node's own) when it exits.
  const hook = path.join(dir, "record.mjs")
  fs.writeFileSync(
    hook,
    `import * as module from "node:module"
import * as fs from "node:fs"
const urls = []
module.registerHooks({ load(url, context, next) { urls.push(url); return next(url, context) } })
process.on("exit", () => fs.writeFileSync(${JSON.stringify(record)}, JSON.stringify({ urls, builtins: process.moduleLoadList, compileCache: module.getCompileCacheDir() ?? null })))
`
  )
  const args = Service.serveArguments(entry, file)
  const serve = spawn(
    process.execPath,
    ["--import", hook, ...args, "--port", String(api), "--log-dir", path.join(dir, "logs")],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...Service.serveEnvironment } }
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
  return JSON.parse(fs.readFileSync(record, "utf8")) as { urls: Array<string>; builtins: Array<string>; compileCache: string | null }
}
