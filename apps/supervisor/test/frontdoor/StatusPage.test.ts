/**
 * The status page in a real browser against a real serve supervising three simulators (Ollama,
 * MLX, Moondream): every server shows as ready, a `kill -9` of one shows it leaving ready and
 * coming back without a reload while its category's route moves to the next server, and the
 * page reconnects by itself when serve itself restarts. Screenshots of each state, at a desk's
 * and a phone's width, go to $LR_SCREENSHOTS or a temp directory (printed).
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Chromium from "./Chromium.ts"
import * as RealServe from "./RealServe.ts"

let serve: RealServe.RealServe
let browser: Browser
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
  serve = await RealServe.start({
    more: {
      // A restart that waits a second and a half, so the page has a moment to show it.
      mlx: { kind: "mlx", supervise: { restart: { backoffMin: "1500ms", backoffMax: "2s", window: "20s", limit: 4 } } },
      moondream: { kind: "moondream" }
    },
    edit: (config) => ({
      ...config,
      categories: {
        ...config.categories,
        fast: { input: "text", priority: ["mlx", "ollama"], models: { mlx: "sim-model", ollama: "phi3.5:3.8b" } }
      }
    })
  })
  browser = await chromium.launch({ executablePath })
  console.log(`status page screenshots: ${shots}`)
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
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
    for (const name of ["ollama", "mlx", "moondream"]) {
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
