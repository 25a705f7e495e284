/**
 * A real browser against a real serve. Headless Chromium (Debian's package, installed by
 * Chromium.ensure when missing) opens a page from another site — `http://evil.test`, which the
 * browser resolves to this machine — that tries what any web page could: the "simple" no-cors
 * text/plain POST that browsers send without a preflight, and the GET that used to end serve.
 * serve refuses the POST with a 403 before any work (the simulator behind it sees no
 * completion), answers the GET with a 400, and stays up. A page on this machine
 * (http://localhost:*, allowed by default) still gets its answer through CORS.
 */
import * as http from "node:http"
import type * as net from "node:net"
import { type Browser, chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Chromium from "./Chromium.ts"
import * as RealServe from "./RealServe.ts"

let serve: RealServe.RealServe
let browser: Browser
let site: http.Server
let sitePort: number

const page = (servePort: number) => `<!doctype html><title>a page on another site</title><script>
window.attack = async () => {
  const results = {}
  const chat = JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "spend the user's cloud credits" }] })
  try {
    await fetch("http://127.0.0.1:${servePort}/v1/chat/completions", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: chat })
    results.post = "sent"
  } catch (e) { results.post = "blocked: " + e }
  try {
    await fetch("http://127.0.0.1:${servePort}/v1/models/%", { mode: "no-cors" })
    results.get = "sent"
  } catch (e) { results.get = "blocked: " + e }
  return results
}
window.ask = async () => {
  const r = await fetch("http://127.0.0.1:${servePort}/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "hello from a local web app" }] })
  })
  return { status: r.status, backend: r.headers.get("x-local-router-backend"), text: (await r.json()).choices[0].message.content }
}
</script>`

const chats = async () => {
  const log = await (await fetch(`${serve.simulator}/__sim/requests`)).json() as { requests: Array<{ path: string }> }
  return log.requests.filter((r) => r.path === "/api/chat").length
}

beforeAll(async () => {
  const executablePath = Chromium.ensure()
  serve = await RealServe.start()
  site = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" })
    res.end(page(serve.port))
  })
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve))
  sitePort = (site.address() as net.AddressInfo).port
  browser = await chromium.launch({ executablePath, args: ["--host-resolver-rules=MAP evil.test 127.0.0.1"] })
}, 15 * 60_000)

afterAll(async () => {
  await browser?.close()
  site?.close()
  await serve?.stop()
})

describe("a web page in a real browser", () => {
  it("on another site: its no-cors POST is refused 403 before any completion runs, the crash GET is a 400, serve stays up", async () => {
    const before = await chats()
    const tab = await browser.newPage()
    await tab.goto(`http://evil.test:${sitePort}/`)
    const results = await tab.evaluate("window.attack()") as Record<string, string>
    // The browser did send both (an opaque answer, as no-cors gets): serve saw them and refused.
    expect(results).toEqual({ post: "sent", get: "sent" })
    await expect.poll(() => serve.output(), { timeout: 5_000 }).toMatch(
      /refused POST \/v1\/chat\/completions: requests from the browser origin http:\/\/evil\.test:\d+ are not allowed/
    )
    expect(await chats()).toBe(before)
    expect(serve.alive()).toBe(true)
    expect((await fetch(`${serve.url}/health`)).status).toBe(200)
    await tab.close()
  }, 60_000)

  it("on this machine (http://localhost:PORT, allowed by default): a JSON POST with a preflight gets the answer and who gave it", async () => {
    const tab = await browser.newPage()
    await tab.goto(`http://localhost:${sitePort}/`)
    const answer = await tab.evaluate("window.ask()") as { status: number; backend: string; text: string }
    expect(answer.status).toBe(200)
    expect(answer.backend).toBe("ollama")
    expect(answer.text.length).toBeGreaterThan(0)
    await tab.close()
  }, 60_000)
})
