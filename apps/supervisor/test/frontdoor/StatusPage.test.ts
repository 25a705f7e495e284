/**
 * The status page in a real browser against a real serve supervising three simulators (Ollama,
 * MLX, Moondream): every server shows as ready, a `kill -9` of one shows it leaving ready and
 * coming back without a reload while its category's route moves to the next server, and the
 * page reconnects by itself when serve itself restarts. Screenshots of each state, at a desk's
 * and a phone's width, go to $LR_SCREENSHOTS or a temp directory (printed).
 */
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Chromium from "./Chromium.ts"
import * as RealServe from "./RealServe.ts"
import { freePort } from "../supervisor/Fixture.ts"

interface ServerState {
  readonly name: string
  readonly phase: string
  readonly pid: number
  readonly restarts: number
  readonly models?: { readonly present: ReadonlyArray<string>; readonly missing: ReadonlyArray<string>; readonly loaded: ReadonlyArray<string> }
}

const servers = async (url: string, token?: string) => {
  const response = await fetch(`${url}/status`, token ? { headers: { authorization: `Bearer ${token}` } } : {})
  return ((await response.json()) as { supervisor: { servers: Array<ServerState> } }).supervisor.servers
}
const serverNamed = async (url: string, name: string, token?: string) => (await servers(url, token)).find((s) => s.name === name)!

/** A page on another site (resolved to this machine) or this machine's other port, trying to take actions. */
const otherSite = (servePort: number) => `<!doctype html><title>another page</title><script>
window.tryRestart = async () => {
  const results = {}
  try {
    const r = await fetch("http://127.0.0.1:${servePort}/actions/restart", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ server: "ollama" }) })
    results.json = r.status
  } catch (e) { results.json = "blocked" }
  try {
    await fetch("http://127.0.0.1:${servePort}/actions/restart", { method: "POST", mode: "no-cors", body: new Blob([JSON.stringify({ server: "ollama" })]) })
    results.simple = "sent"
  } catch (e) { results.simple = "blocked" }
  return results
}
</script>`

let serve: RealServe.RealServe
let browser: Browser
let site: http.Server
let sitePort: number
const shots = process.env.LR_SCREENSHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), "lr-statuspage-"))

const screenshot = async (tab: Page, name: string) => {
  fs.mkdirSync(shots, { recursive: true })
  await tab.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
}

/** The raw bytes a browser would receive for a path, asking for gzip as browsers do. */
const transfer = (url: string) =>
  new Promise<{ readonly status: number; readonly encoding: string | undefined; readonly bytes: number }>((resolve, reject) => {
    http.get(url, { headers: { "accept-encoding": "gzip, deflate, br" } }, (res) => {
      let bytes = 0
      res.on("data", (chunk: Buffer) => (bytes += chunk.length))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, encoding: res.headers["content-encoding"], bytes }))
    }).on("error", reject)
  })

const phase = (tab: Page, server: string) => tab.getAttribute(`[data-server="${server}"]`, "data-phase")

beforeAll(async () => {
  const executablePath = Chromium.ensure()
  // serve's address in its routing.yaml too, where `local-router ask` looks for a running serve.
  const port = await freePort()
  serve = await RealServe.start({
    port,
    server: { port },
    more: {
      // A restart that waits a second and a half, so the page has a moment to show it.
      mlx: { kind: "mlx", supervise: { restart: { backoffMin: "1500ms", backoffMax: "2s", window: "20s", limit: 4 } } },
      moondream: { kind: "moondream" },
      // An Ollama without llava:7b that can pull it (slowly enough to watch), and does not pull by itself;
      // its full probe (which reads /api/ps) runs every half second, so a model loaded by a request shows at once.
      library: {
        kind: "ollama",
        args: ["--models", "phi3.5:3.8b", "--registry", "*", "--pull-ms", "2500", "--pull-tick-ms", "100"],
        supervise: { pull: { onStart: false }, health: { interval: "200ms", failures: 2, full: "500ms" } }
      }
    },
    edit: (config) => ({
      ...config,
      categories: {
        ...config.categories,
        fast: { input: "text", priority: ["mlx", "ollama"], models: { mlx: "sim-model", ollama: "phi3.5:3.8b" } },
        pictures: { input: "image", priority: ["library"], models: { library: "llava:7b" } }
      }
    })
  })
  site = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" })
    res.end(otherSite(serve.port))
  })
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve))
  sitePort = (site.address() as { port: number }).port
  browser = await chromium.launch({ executablePath, args: ["--host-resolver-rules=MAP evil.test 127.0.0.1"] })
  console.log(`status page screenshots: ${shots}`)
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
  site?.close()
  await serve?.stop()
})

describe("the status page", () => {
  it("/ sends a browser to /ui and still tells Ollama clients it is running; the page and its script are small and gzipped", async () => {
    const browserAsks = await fetch(`${serve.url}/`, { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" }, redirect: "manual" })
    expect(browserAsks.status).toBe(302)
    expect(browserAsks.headers.get("location")).toBe("/ui")
    const ollamaAsks = await fetch(`${serve.url}/`)
    expect(await ollamaAsks.text()).toBe("Ollama is running")
    const page = await transfer(`${serve.url}/ui`)
    const script = await transfer(`${serve.url}/ui/app.js`)
    expect([page.status, page.encoding, script.status, script.encoding]).toEqual([200, "gzip", 200, "gzip"])
    console.log(`status page transfer: ${page.bytes} B html + ${script.bytes} B script (gzip)`)
    expect(page.bytes + script.bytes).toBeLessThan(30 * 1024)
  })

  it("lists every server as ready with its pid and models, and each category's route", async () => {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/`)
    expect(new URL(tab.url()).pathname).toBe("/ui")
    for (const name of ["ollama", "mlx", "moondream", "library"]) {
      await tab.waitForSelector(`[data-server="${name}"][data-phase="ready"]`, { timeout: 15_000 })
    }
    const mlx = tab.locator('[data-server="mlx"]')
    await expect.poll(() => mlx.textContent()).toMatch(/pid\d+/)
    expect(await mlx.textContent()).toContain("✓ sim-model")
    expect(await tab.locator('[data-category="fast"] .answer').textContent()).toBe("→ mlx · sim-model")
    expect(await tab.locator("[data-link]").getAttribute("data-link")).toBe("live")
    await screenshot(tab, "1-ready-desktop")
    await tab.setViewportSize({ width: 390, height: 844 })
    await screenshot(tab, "2-ready-phone")
    await tab.close()
  }, 60_000)

  it("a model a request loaded shows as loaded on its server's card, in /status and in local-router status", async () => {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/ui`)
    const model = '[data-server="library"] li.present:has-text("phi3.5:3.8b")'
    await tab.waitForSelector(model, { timeout: 15_000 })
    // Nothing is in memory until a request loads it (Ollama loads on first use).
    expect(await tab.locator(model).textContent()).not.toContain("loaded")
    const answer = await fetch(`${serve.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "library/phi3.5:3.8b", messages: [{ role: "user", content: "hello" }] })
    })
    expect(answer.headers.get("x-local-router-backend")).toBe("library")
    await answer.text()
    await tab.waitForSelector('[data-server="library"] li.loaded:has-text("phi3.5:3.8b ● loaded")', { timeout: 5_000 })
    expect((await serverNamed(serve.url, "library")).models?.loaded).toEqual(["phi3.5:3.8b"])
    // mlx_lm.server does not say what it has in memory: its model is present, never "loaded" by guess.
    expect(await tab.locator('[data-server="mlx"] li.present:has-text("sim-model")').textContent()).toBe("✓ sim-model")
    await screenshot(tab, "9-loaded-desktop")
    const text = await new Promise<string>((resolve, reject) => {
      const cli = spawn(process.execPath, [path.join(RealServe.repoDir, "apps/supervisor/dist/bin.js"), "status", "--config", serve.file, "--port", String(serve.port)], { stdio: ["ignore", "pipe", "pipe"] })
      let out = ""
      cli.stdout.on("data", (d: Buffer) => (out += d))
      cli.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`status exited ${code}: ${out}`))))
    })
    expect(text).toMatch(/^library .*1 present \(loaded: phi3\.5:3\.8b\), missing: llava:7b$/m)
    expect(text).toMatch(/^moondream .*missing: moondream-2 \(cannot pull\)$/m)
    await tab.close()
  }, 60_000)

  // The fixture names moondream-2, which the simulated Station does not serve: missing on a server that cannot pull.
  it("a server that cannot pull (Moondream Station) shows its missing model without a Pull button, and a pull asked of it is a 400 saying why", async () => {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/ui`)
    const card = tab.locator('[data-server="moondream"]')
    await tab.waitForSelector('[data-server="moondream"] li.missing:has-text("moondream-2")', { timeout: 15_000 })
    expect(await card.locator("button", { hasText: "Pull" }).count()).toBe(0)
    expect(await card.textContent()).toContain("moondream cannot pull models")
    // The server that can pull still offers it.
    expect(await tab.locator('button[aria-label="pull llava:7b onto library"]').count()).toBe(1)
    // Its route says so too, instead of "pull it".
    expect(await tab.locator('[data-category="c_moondream"] .skips').textContent()).toContain("moondream: model moondream-2 missing on the server (it cannot pull: put the model there by hand)")
    expect(await tab.locator('[data-category="pictures"] .skips').textContent()).toContain("library: model llava:7b missing on the server (pull it)")
    await card.screenshot({ path: path.join(shots, "10-cannot-pull-card.png") })
    const refused = await fetch(`${serve.url}/actions/pull`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ server: "moondream", model: "moondream-2" }) })
    expect(refused.status).toBe(400)
    expect(await refused.text()).toContain("moondream cannot pull models; a moondream server has no pull API")
    expect((await serverNamed(serve.url, "moondream")).phase).toBe("ready")
    await tab.close()
  }, 60_000)

  it("a request made with the CLI appears in the request list with its trace and in its backend's chart, without its prompt", async () => {
    const secret = "the-user's-private-prompt-7f3a"
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/ui`)
    await tab.waitForSelector('[data-link="live"]', { timeout: 15_000 })
    const asked = await promisify(execFile)(process.execPath, [
      "--disable-warning=ExperimentalWarning",
      path.join(RealServe.repoDir, "apps/supervisor/dist/bin.js"),
      "ask",
      "--config",
      serve.file,
      "-c",
      "fast",
      "--stream",
      secret
    ], { env: { ...process.env, NO_COLOR: "1" } })
    expect(asked.stderr).toMatch(/^answered by mlx \(sim-model\)/)
    const row = tab.locator('[data-request="fast"]').first()
    await row.waitFor({ timeout: 5_000 })
    expect(await row.locator("summary").textContent()).toMatch(/mlx · sim-model.*1 try.*first \d+ ms.*answered/)
    await row.locator("summary").click()
    expect(await row.locator(".trace").textContent()).toMatch(/mlx \(sim-model\) answered in \d+ ms/)
    await tab.waitForSelector('[data-chart="mlx"] svg rect.bar', { timeout: 5_000 })
    expect(await tab.content()).not.toContain(secret)
    expect(await (await fetch(`${serve.url}/status`)).text()).not.toContain(secret)
    await screenshot(tab, "8-request-desktop")
    await tab.close()
  }, 60_000)

  it("local-router status --watch --json follows the same stream: servers, routes and the request list", async () => {
    const cli = spawn(process.execPath, [path.join(RealServe.repoDir, "apps/supervisor/dist/bin.js"), "status", "--watch", "--json", "--config", serve.file, "--port", String(serve.port)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let out = ""
        cli.stdout.on("data", (d: Buffer) => {
          out += d
          const end = out.indexOf("\n")
          if (end >= 0) resolve(out.slice(0, end))
        })
        cli.once("exit", (code) => reject(new Error(`status --watch exited ${code}`)))
      })
      const status = JSON.parse(first) as {
        supervisor: { servers: Array<{ name: string }> }
        router: { routes: Array<{ category: string }> }
        requests: { recent: Array<{ category: string }> }
      }
      expect(status.supervisor.servers.map((s) => s.name).sort()).toEqual(["library", "mlx", "moondream", "ollama"])
      expect(status.router.routes.map((r) => r.category)).toContain("fast")
      expect(status.requests.recent.map((r) => r.category)).toContain("fast")
    } finally {
      cli.kill("SIGTERM")
    }
  }, 30_000)

  it("kill -9 of a server: the page shows it leave ready, the route move on, and the server return, without a reload", async () => {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/ui`)
    await tab.waitForSelector('[data-server="mlx"][data-phase="ready"]', { timeout: 15_000 })
    await tab.evaluate("window.sameDocument = true")
    const status = await (await fetch(`${serve.url}/status`)).json() as { supervisor: { servers: Array<{ name: string; pid: number; restarts: number }> } }
    const before = status.supervisor.servers.find((s) => s.name === "mlx")!
    process.kill(before.pid, "SIGKILL")
    await tab.waitForSelector('[data-server="mlx"]:not([data-phase="ready"])', { timeout: 5_000 })
    await tab.waitForSelector('[data-category="fast"] .answer:has-text("ollama")', { timeout: 5_000 })
    expect(await tab.locator('[data-category="fast"] .skips').textContent()).toMatch(/mlx: server (backing-off|starting|unhealthy)/)
    await screenshot(tab, "3-restarting-desktop")
    await tab.waitForSelector('[data-server="mlx"][data-phase="ready"]', { timeout: 20_000 })
    expect(await tab.evaluate("window.sameDocument")).toBe(true)
    const card = await tab.locator('[data-server="mlx"]').textContent()
    expect(card).toContain(`restarts${before.restarts + 1}`)
    expect(card).not.toContain(`pid${before.pid}`)
    expect(await tab.locator('[data-category="fast"] .answer').textContent()).toBe("→ mlx · sim-model")
    await screenshot(tab, "4-back-desktop")
    await tab.close()
  }, 60_000)

  it("the Restart button stops a server gracefully and starts it again at once (not counted as a crash)", async () => {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/ui`)
    await tab.waitForSelector('[data-server="ollama"][data-phase="ready"]', { timeout: 15_000 })
    const before = await serverNamed(serve.url, "ollama")
    await tab.click('button[aria-label="restart ollama"]')
    await tab.waitForSelector('[data-outcome="ok"]:has-text("restart ollama: ollama: restarting")', { timeout: 5_000 })
    const card = tab.locator('[data-server="ollama"]')
    // One read of the whole card, so phase, reason and counters come from the same update.
    await expect.poll(() => card.textContent(), { timeout: 15_000 }).toMatch(new RegExp(`^ollamaollamareadyanswers at .*restarts${before.restarts + 1}`))
    expect(await card.textContent()).not.toContain(`pid${before.pid}`)
    await tab.close()
  }, 60_000)

  it("the Pull button shows a progress bar that reaches done, and the model then shows as present", async () => {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/ui`)
    await tab.waitForSelector('[data-server="library"] li.missing:has-text("llava:7b")', { timeout: 15_000 })
    await tab.click('button[aria-label="pull llava:7b onto library"]')
    await tab.waitForSelector('[data-pull="llava:7b"] progress', { timeout: 5_000 })
    await expect.poll(() => tab.locator('[data-pull="llava:7b"] progress').getAttribute("value"), { timeout: 5_000 }).toMatch(/^0\.\d*[1-9]/)
    await screenshot(tab, "6-pulling-desktop")
    await tab.waitForSelector('[data-server="library"] li.present:has-text("llava:7b")', { timeout: 20_000 })
    expect(await tab.locator('[data-pull="llava:7b"]').count()).toBe(0)
    expect((await serverNamed(serve.url, "library")).models?.missing).toEqual([])
    expect(await tab.locator('[data-category="pictures"] .answer').textContent()).toBe("→ library · llava:7b")
    await tab.close()
  }, 60_000)

  it("Reload config re-reads routing.yaml and says what it found", async () => {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await tab.goto(`${serve.url}/ui`)
    await tab.waitForSelector('[data-link="live"]', { timeout: 15_000 })
    await tab.click('button[aria-label="reload routing.yaml"]')
    await tab.waitForSelector('[data-outcome="ok"]:has-text("routing.yaml is unchanged")', { timeout: 5_000 })
    await tab.close()
  }, 60_000)

  it("a page from another origin cannot take an action, not even one on this machine; a client without a page (curl, the CLI) can", async () => {
    const before = await serverNamed(serve.url, "ollama")
    for (const origin of [`http://localhost:${sitePort}`, `http://evil.test:${sitePort}`]) {
      const tab = await browser.newPage()
      await tab.goto(`${origin}/`)
      const results = await tab.evaluate("window.tryRestart()") as { json: number | string; simple: string }
      // localhost may read answers (CORS), so it sees the 403; evil.test's POST fails its preflight or is refused.
      if (origin.includes("localhost")) expect(results.json).toBe(403)
      expect(results.simple).toBe("sent")
      await tab.close()
    }
    await expect.poll(() => serve.output(), { timeout: 5_000 }).toMatch(/refused the restart action: actions are taken only from local-router's own page/)
    expect(serve.output()).toMatch(/refused POST \/actions\/restart: requests from the browser origin http:\/\/evil\.test/)
    const after = await serverNamed(serve.url, "ollama")
    expect([after.pid, after.restarts]).toEqual([before.pid, before.restarts])
    const cli = await fetch(`${serve.url}/actions/restart`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ server: "ollama" }) })
    expect(await cli.json()).toEqual({ ok: true, message: "ollama: restarting" })
    await expect.poll(async () => (await serverNamed(serve.url, "ollama")).restarts, { timeout: 15_000 }).toBe(before.restarts + 1)
    await expect.poll(async () => (await serverNamed(serve.url, "ollama")).phase, { timeout: 15_000 }).toBe("ready")
  }, 60_000)

  it("reconnects by itself after serve restarts", async () => {
    const tab = await browser.newPage({ viewport: { width: 390, height: 844 } })
    await tab.goto(`${serve.url}/ui`)
    await tab.waitForSelector('[data-link="live"]', { timeout: 15_000 })
    await tab.evaluate("window.sameDocument = true")
    await serve.stop()
    await tab.waitForSelector('[data-link="lost"]', { timeout: 5_000 })
    await screenshot(tab, "5-lost-phone")
    serve = await serve.again()
    await tab.waitForSelector('[data-link="live"]', { timeout: 15_000 })
    await tab.waitForSelector('[data-server="ollama"][data-phase="ready"]', { timeout: 15_000 })
    expect(await tab.evaluate("window.sameDocument")).toBe(true)
    await tab.close()
  }, 90_000)
})

describe("the status page with a token", () => {
  const token = "s3cret-token-for-the-page"
  let guarded: RealServe.RealServe

  beforeAll(async () => {
    guarded = await RealServe.start({ token })
  }, 60_000)
  afterAll(() => guarded?.stop())

  it("the page asks for the token and then works; an action without the token is refused", async () => {
    const without = await fetch(`${guarded.url}/actions/restart`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ server: "ollama" }) })
    expect(without.status).toBe(401)
    expect((await fetch(`${guarded.url}/status/events`)).status).toBe(401)
    const before = await serverNamed(guarded.url, "ollama", token)
    const tab = await browser.newPage({ viewport: { width: 390, height: 844 } })
    await tab.goto(`${guarded.url}/ui`)
    await tab.waitForSelector("form.token", { timeout: 10_000 })
    await screenshot(tab, "7-token-phone")
    await tab.fill('input[name="token"]', "a wrong token")
    await tab.click('form.token button[type="submit"]')
    await tab.waitForSelector('[data-link="needs-token"]', { timeout: 5_000 })
    await tab.fill('input[name="token"]', token)
    await tab.click('form.token button[type="submit"]')
    await tab.waitForSelector('[data-server="ollama"][data-phase="ready"]', { timeout: 10_000 })
    expect(await tab.locator("form.token").count()).toBe(0)
    await tab.click('button[aria-label="restart ollama"]')
    await tab.waitForSelector('[data-outcome="ok"]', { timeout: 5_000 })
    await expect.poll(async () => (await serverNamed(guarded.url, "ollama", token)).restarts, { timeout: 15_000 }).toBe(before.restarts + 1)
    await tab.close()
  }, 60_000)
})
