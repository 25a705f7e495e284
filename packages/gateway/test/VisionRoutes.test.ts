/**
 * The native vision endpoints: /v1/vision/describe over packages/vision's real service (a real
 * PNG decoded, scaled and routed to the scripted vision backend), and /v1/vision/pdf's NDJSON
 * framing and errors over a stand-in service that emits what processPdf emits.
 */
import { Vision } from "@local-router/vision"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { afterEach, describe, expect, it } from "vitest"
import type { PdfEvent, VisionService } from "../src/vision/VisionRoutes.ts"
import { type Running, start } from "./TestGateway.ts"

let running: Running | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
})

const json = (response: Response): Promise<any> => response.json()

// A 1x1 PNG.
const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

const withVision = () => start({}, { vision: (router) => Vision.make(router, { renderWorkers: 1 }) })

describe("POST /v1/vision/describe", () => {
  it("an uploaded image (raw body) is described by the vision category, and the answer says who", async () => {
    running = await withVision()
    const response = await fetch(`${running.url}/v1/vision/describe?length=short`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: png
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("x-local-router-backend")).toBe("vision")
    const body = await json(response)
    expect(body).toMatchObject({ answer: "Hello, world", backend: "vision", model: "moondream", image: { width: 1, height: 1, mime: "image/png" } })
    const sent = running.scripted.vision.requests[0]!.messages[0]!
    expect(sent.content).toBe("Describe this image in one short sentence.")
    expect(sent.images![0]!.mime).toBe("image/png")
  })

  it("a JSON body with a data URL and a prompt works the same", async () => {
    running = await withVision()
    const response = await fetch(`${running.url}/v1/vision/describe`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ image: `data:image/png;base64,${png.toString("base64")}`, prompt: "What colour is it?" })
    })
    expect(response.status).toBe(200)
    expect(running.scripted.vision.requests[0]!.messages[0]!.content).toBe("What colour is it?")
  })

  it("a multipart form upload (curl -F image=@photo.png -F prompt=...) works too", async () => {
    running = await withVision()
    const form = new FormData()
    form.append("image", new Blob([png], { type: "image/png" }), "photo.png")
    form.append("prompt", "Is it dark?")
    const response = await fetch(`${running.url}/v1/vision/describe`, { method: "POST", body: form })
    expect(response.status).toBe(200)
    expect((await json(response)).image).toEqual({ width: 1, height: 1, mime: "image/png" })
    expect(running.scripted.vision.requests[0]!.messages[0]!.content).toBe("Is it dark?")
  })

  it("a multipart form over the body limit is 413", async () => {
    running = await start({}, { maxBodyBytes: 1024, vision: (router) => Vision.make(router, { renderWorkers: 1 }) })
    const form = new FormData()
    form.append("image", new Blob([Buffer.alloc(4096)], { type: "image/png" }), "big.png")
    const response = await fetch(`${running.url}/v1/vision/describe`, { method: "POST", body: form })
    expect(response.status).toBe(413)
    expect(running.scripted.vision.requests).toHaveLength(0)
  })

  it("bytes that are no image are a 400 naming the problem; nothing is routed", async () => {
    running = await withVision()
    const response = await fetch(`${running.url}/v1/vision/describe`, { method: "POST", headers: { "content-type": "image/png" }, body: "not an image" })
    expect(response.status).toBe(400)
    expect((await json(response)).error.local_router.reason).toBe("InvalidRequest")
    expect(running.scripted.vision.requests).toHaveLength(0)
  })

  it("without a vision service the endpoints are 404", async () => {
    running = await start()
    const response = await fetch(`${running.url}/v1/vision/describe`, { method: "POST", body: png })
    expect(response.status).toBe(404)
  })
})

/** A one-page PDF with a line of text, xref offsets exact. */
const onePagePdf = (): Buffer => {
  const content = "BT /F1 12 Tf 20 100 Td (Hello PDF) Tj ET"
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
  ]
  let out = "%PDF-1.4\n"
  const offsets: Array<number> = []
  objects.forEach((body, i) => {
    offsets.push(out.length)
    out += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = out.length
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, "latin1")
}

describe("POST /v1/vision/pdf over packages/vision's real service", () => {
  it("a real PDF upload is rendered, routed page by page, and answered as NDJSON", async () => {
    running = await withVision()
    const response = await fetch(`${running.url}/v1/vision/pdf?category=vision`, {
      method: "POST",
      headers: { "content-type": "application/pdf" },
      body: onePagePdf()
    })
    expect(response.status).toBe(200)
    const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l))
    expect(lines.map((l) => l.type)).toEqual(["opened", "page", "finished"])
    expect(lines[0]).toMatchObject({ pageCount: 1, pages: [1] })
    expect(lines[1]).toMatchObject({ page: 1, answer: "Hello, world", backend: "vision", path: "vision" })
    expect(lines[1].text).toContain("Hello PDF")
    const sent = running.scripted.vision.requests[0]!.messages[0]!
    expect(sent.images![0]!.mime).toBe("image/png")
  })
})

const trace = { attempts: [{ backend: "vision", outcome: "answered" as const, durationMs: 1 }], configVersion: 1, durationMs: 1 }
const page = (n: number) => ({ page: n, path: "vision", text: "", answer: `page ${n}`, backend: "vision", model: "llava", trace })

const standIn = (events: Stream.Stream<PdfEvent, { _tag: string; reason: string; message: string }>): VisionService => ({
  describeImage: () => Effect.die("not used"),
  processPdf: () => events
})

describe("POST /v1/vision/pdf", () => {
  it("streams one NDJSON line per page, in order, between opened and finished", async () => {
    const events: ReadonlyArray<PdfEvent> = [
      { _tag: "Opened", pageCount: 3, pages: [1, 2, 3] },
      { _tag: "PageStarted" },
      { _tag: "PageDone", page: 1, index: 1, of: 3, result: page(1) },
      { _tag: "PageFailed", page: 2, index: 2, of: 3, error: { _tag: "VisionError", reason: "RenderTimeout", message: "page 2 took too long" } },
      { _tag: "PageDone", page: 3, index: 3, of: 3, result: page(3) },
      { _tag: "Finished", pages: 3, succeeded: 2, failed: 1, durationMs: 12 }
    ]
    running = await start({}, { vision: () => Effect.succeed(standIn(Stream.fromIterable(events))) })
    const response = await fetch(`${running.url}/v1/vision/pdf?pages=1-3`, { method: "POST", headers: { "content-type": "application/pdf" }, body: "%PDF-1.4" })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toBe("application/x-ndjson")
    const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l))
    expect(lines.map((l) => [l.type, l.page])).toEqual([["opened", undefined], ["page", 1], ["page_error", 2], ["page", 3], ["finished", undefined]])
    expect(lines[1]).toMatchObject({ answer: "page 1", backend: "vision", model: "llava" })
    expect(lines[2]).toMatchObject({ reason: "Unprocessable", message: "page 2 took too long" })
  })

  it("a PDF that cannot be opened is an HTTP error, not a stream", async () => {
    const failing = Stream.fail({ _tag: "VisionError", reason: "CorruptPdf", message: "<8 bytes> is not a readable PDF" })
    running = await start({}, { vision: () => Effect.succeed(standIn(failing)) })
    const response = await fetch(`${running.url}/v1/vision/pdf`, { method: "POST", headers: { "content-type": "application/pdf" }, body: "garbage!" })
    expect(response.status).toBe(400)
    expect((await json(response)).error.message).toMatch(/not a readable PDF/)
  })
})

describe("multipart uploads the fuzz test found", () => {
  it("an empty or cut multipart body is a 400 at once, never a request left hanging", async () => {
    running = await withVision()
    for (const path of ["/v1/vision/describe", "/v1/vision/pdf"]) {
      for (const body of ["", "------x\r\n", "------x--\r\n", "garbage"]) {
        const response = await fetch(`${running.url}${path}`, {
          method: "POST",
          headers: { "content-type": "multipart/form-data; boundary=----x" },
          body,
          signal: AbortSignal.timeout(5_000)
        })
        expect([path, body, response.status]).toEqual([path, body, 400])
        expect((await json(response)).error.message).toMatch(/form/)
      }
    }
  })
})
