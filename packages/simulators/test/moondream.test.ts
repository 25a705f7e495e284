/**
 * sim-moondream against the official `moondream` npm client (class `vl` with a local
 * endpoint), plus the Station quirks the client hides: 200-with-error, queue limit, timeout,
 * and port drift recorded in config.json.
 */
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vl } from "moondream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"
import { tinyPng } from "./Images.ts"

let sim: Simulator.Running
let md: vl

beforeAll(async () => {
  sim = await Simulator.start("moondream")
  md = new vl({ endpoint: `${sim.url}/v1` })
})
afterAll(() => sim.stop())

const post = async (path: string, body: unknown): Promise<unknown> => {
  const res = await fetch(`${sim.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
  expect(res.status).toBe(200)
  return res.json()
}

describe("sim-moondream with the moondream client", () => {
  it("captions a Buffer image (re-encoded to JPEG by the client) and names the JPEG bytes it received", async () => {
    const { caption } = await md.caption({ image: tinyPng(), length: "short" })
    expect(typeof caption).toBe("string")
    const [recorded] = (await sim.requests()).filter((r) => r.path === "/v1/caption").slice(-1)
    expect(recorded?.images[0]?.prefix).toBe("data:image/jpeg;base64,")
    const image = recorded?.images[0]
    expect(caption).toBe(Answer.make({ prompt: "caption:short", images: [{ bytes: image?.bytes ?? 0, sha256: image?.sha256 ?? "" }], tokens: 4 }).text)
  })

  it("streams a caption as chunks that the client yields until completed", async () => {
    const png = tinyPng(2, 2, [1, 2, 3])
    const imageUrl = `data:image/png;base64,${png.toString("base64")}`
    const { caption } = await md.caption({ image: { imageUrl }, length: "normal", stream: true })
    const chunks: Array<string> = []
    for await (const c of caption as AsyncGenerator<string>) chunks.push(c)
    expect(chunks).toEqual(Answer.make({ prompt: "caption:normal", images: [{ bytes: png.length, sha256: Answer.sha256(png) }], tokens: 8 }).tokens)
    const raw = await (await fetch(`${sim.url}/v1/caption`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ image_url: imageUrl, stream: true }) })).text()
    expect(raw.trimEnd().endsWith('data: {"completed": true}')).toBe(true)
    expect(raw).toContain('data: {"chunk": ')
  })

  it("answers a query, detects and points with 0-1 coordinates", async () => {
    const imageUrl = `data:image/png;base64,${tinyPng().toString("base64")}`
    const { answer } = await md.query({ image: { imageUrl }, question: "How many cats?" })
    expect(answer).toContain("[image ")
    const { objects } = await md.detect({ image: { imageUrl }, object: "cat" })
    expect(objects.length).toBeGreaterThan(0)
    for (const o of objects) for (const v of [o.x_min, o.y_min, o.x_max, o.y_max]) expect(v).toBeGreaterThanOrEqual(0), expect(v).toBeLessThanOrEqual(1)
    const { points } = await md.point({ image: { imageUrl }, object: "cat" })
    expect(points).toHaveLength(objects.length)
  })

  it("returns errors as HTTP 200 bodies, which the client turns into undefined fields", async () => {
    expect(await post("/v1/caption", {})).toEqual({ error: "image_url is required" })
    expect(await post("/v1/chat/completions", {})).toEqual({ error: "Function 'chat' not available" })
    expect(await post("/v1/caption", { image_url: "data:image/png;base64,aGVsbG8gd29ybGQh" })).toMatchObject({ error: expect.stringContaining("cannot identify image file") })
    // A body not labelled JSON is ignored, as Station does.
    const res = await fetch(`${sim.url}/v1/caption`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ image_url: "x" }) })
    expect(await res.json()).toEqual({ error: "image_url is required" })
    await sim.setFaults([{ kind: "errorBody", message: "Model load failed", count: 1 }])
    const { caption } = await md.caption({ image: { imageUrl: `data:image/png;base64,${tinyPng().toString("base64")}` } })
    expect(caption).toBeUndefined()
  })
})

describe("sim-moondream worker and port", () => {
  it("rejects beyond the queue limit and times out slow requests while the work continues", async () => {
    const busy = await Simulator.start("moondream", { args: ["--queue-size", "1", "--infer-ms", "1000", "--timeout-ms", "100"] })
    try {
      const imageUrl = `data:image/png;base64,${tinyPng().toString("base64")}`
      const send = () =>
        fetch(`${busy.url}/v1/caption`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ image_url: imageUrl }) }).then((r) => r.json())
      const results = await Promise.all([send(), send(), send()])
      // One processing, one waiting, the third rejected; the first two exceed 100 ms and time out.
      expect(results).toContainEqual({ error: "Queue is full", status: "rejected" })
      expect(results).toContainEqual({ error: "Request timeout", status: "timeout" })
    } finally {
      await busy.stop()
    }
  })

  it("drifts to the next free port when the configured one is busy and writes it to config.json", async () => {
    const blocker: Server = createServer()
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r))
    const taken = (blocker.address() as { port: number }).port
    const home = mkdtempSync(join(tmpdir(), "md-home-"))
    mkdirSync(join(home, ".moondream-station"))
    writeFileSync(join(home, ".moondream-station", "config.json"), JSON.stringify({ service_port: taken, hf_token: "keep-me" }))
    const drifted = await Simulator.start("moondream", { home, args: ["--port", "auto"] })
    try {
      expect(drifted.port).toBeGreaterThan(taken)
      expect(drifted.port).toBeLessThanOrEqual(taken + 19)
      const config = JSON.parse(readFileSync(join(home, ".moondream-station", "config.json"), "utf8")) as Record<string, unknown>
      expect(config["service_port"]).toBe(drifted.port)
      expect(config["hf_token"]).toBe("keep-me")
      expect(await (await fetch(`${drifted.url}/health`)).json()).toEqual({ status: "ok", server: "moondream-station" })
    } finally {
      await drifted.stop()
      blocker.close()
    }
  })
})
