import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import sharp from "sharp"
import { Limits, PdfDocument, Vision } from "../src/index.ts"
import * as Images from "./support/Images.ts"
import * as MinimalPdf from "./support/MinimalPdf.ts"
import * as RealPdfs from "./support/RealPdfs.ts"
import * as Routed from "./support/Routed.ts"
import * as SharedPool from "./support/SharedPool.ts"

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const dimensions = (bytes: Uint8Array) => Effect.promise(() => sharp(bytes).metadata().then((m) => [m.width, m.height]))

/** The page as PdfDocument renders it on its own: what the backend must have received. */
const renderAlone = (pdf: Uint8Array, page: number) =>
  Effect.scoped(Effect.flatMap(PdfDocument.open(pdf, "reference", { limits: Limits.defaults, pool }), (doc) => doc.render(page)))

const pool = SharedPool.make(3)

const report = MinimalPdf.make({
  pages: [
    { lines: ["Annual report 2024", "Revenue grew by twelve percent over the previous year,", "driven by exports to new markets in the north and the east."] },
    { image: MinimalPdf.scan(300, 388) },
    { lines: ["PAGE-THREE appendix with enough words to count as a real text layer for this test case."] },
    { lines: ["Page four: conclusions, with enough letters and digits to be a real text layer."] },
    { lines: ["Page five"] }
  ]
})

describe("Vision through the Router", () => {
  it.live("describeImage: each backend gets the image scaled to its own limits from routing.yaml", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make({ moondream: [{ fail: "Unreachable" }] })
      const vision = yield* Vision.make(router, { pool })
      const photo = yield* Effect.promise(() => Images.halves(3000, 1500, "jpeg"))
      const answer = yield* vision.describeImage(photo, { length: "short" })
      expect(answer.answer).toBe("A page")
      expect(answer.backend).toBe("ollama")
      expect(answer.image).toStrictEqual({ width: 3000, height: 1500, mime: "image/jpeg" })
      // moondream (maxSide 512) was tried first and got 512 x 256...
      const [toMoondream] = Routed.imagesOf(backends.moondream)
      expect(yield* dimensions(toMoondream!.data)).toStrictEqual([512, 256])
      expect(backends.moondream.requests[0]!.task).toStrictEqual({ _tag: "Caption", length: "short" })
      // ...then ollama (maxPixels 3 MP) got its own, larger, scaling of the same photo.
      const [toOllama] = Routed.imagesOf(backends.ollama)
      const [w, h] = yield* dimensions(toOllama!.data)
      expect(w! * h!).toBeLessThanOrEqual(3_000_000)
      expect(w).toBeGreaterThan(2400)
      expect(toOllama!.mime).toBe("image/jpeg")
      expect(answer.trace.attempts.map((a) => [a.backend, a.outcome])).toStrictEqual([["moondream", "failed"], ["ollama", "answered"]])
    }))

  it.live("queryImage sends the question with the image, as a chat", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const png = yield* Effect.promise(() => Images.halves(300, 200, "png"))
      const answer = yield* vision.queryImage(png, "Which colour is on the left?")
      expect(answer.backend).toBe("moondream")
      expect(Routed.promptOf(backends.moondream)).toBe("Which colour is on the left?")
      expect(backends.moondream.requests[0]!.task).toStrictEqual({ _tag: "Chat" })
      // It fitted moondream's 512 px already: the bytes go through untouched.
      expect(Routed.imagesOf(backends.moondream)[0]!.data).toBe(png)
    }))

  it.live("describeImage refuses a PDF and an unreadable path before any backend is asked", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const asPdf = yield* Effect.flip(vision.describeImage(report))
      expect(asPdf._tag === "VisionError" && asPdf.reason).toBe("UnsupportedFormat")
      const missing = yield* Effect.flip(vision.describeImage("/nonexistent/cat.png"))
      expect(missing._tag === "VisionError" && missing.reason).toBe("Unreadable")
      expect(backends.moondream.requests).toHaveLength(0)
    }))

  it.live("processPdfPage: llava receives exactly the rendered page, with the page's text layer in the prompt", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const result = yield* vision.processPdfPage(report, { page: 1 })
      expect(result).toMatchObject({ page: 1, path: "vision", answer: "A page", backend: "ollama", model: "llava:7b" })
      expect(result.text).toContain("Annual report 2024")
      expect(result.render).toMatchObject({ width: 1224, height: 1584, dpi: 144, scaledDown: false })
      const [image] = Routed.imagesOf(backends.ollama)
      const reference = yield* renderAlone(report, 1)
      expect(image!.mime).toBe("image/png")
      expect(sha(image!.data)).toBe(sha(reference.png))
      expect(Routed.promptOf(backends.ollama)).toContain("Revenue grew by twelve percent")
    }))

  it.live("processPdfPage takes an already-rendered page image too (the original API)", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const rendered = yield* renderAlone(report, 2)
      const result = yield* vision.processPdfPage(rendered.png)
      expect(result).toMatchObject({ page: 1, path: "vision", text: "", answer: "A page" })
      expect(sha(Routed.imagesOf(backends.ollama)[0]!.data)).toBe(sha(rendered.png))
    }))

  it.live("textFirst: a page with a real text layer goes to the text category; a scanned page still goes to vision", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const text = yield* vision.processPdfPage(report, { page: 1, textFirst: true })
      expect(text).toMatchObject({ path: "text", backend: "text", answer: "From the text" })
      expect(text.render).toBeUndefined()
      expect(Routed.promptOf(backends.text)).toContain("Annual report 2024")
      expect(Routed.imagesOf(backends.text)).toHaveLength(0)
      const scanned = yield* vision.processPdfPage(report, { page: 2, textFirst: true })
      expect(scanned).toMatchObject({ path: "vision", backend: "ollama", text: "" })
      expect(backends.ollama.requests).toHaveLength(1)
    }))

  it.live("processPdf streams pages in order with progress; one failing page yields its error and the rest still come", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make({
        // The backend rejects page 3 outright (BadRequest: no fallback); every other page answers.
        ollama: (request) => Routed.promptOf({ requests: [request] } as never).includes("PAGE-THREE") ? { fail: "BadRequest" } : { tokens: ["A page"] }
      })
      const vision = yield* Vision.make(router, { pool })
      const events = yield* Stream.runCollect(vision.processPdf(report, { pages: "1-3,5", concurrency: 3 }))
      expect(events[0]).toMatchObject({ _tag: "Opened", pageCount: 5, pages: [1, 2, 3, 5] })
      expect(events.at(-1)).toMatchObject({ _tag: "Finished", pages: 4, succeeded: 3, failed: 1 })
      const outcomes = events.flatMap((e) => e._tag === "PageDone" || e._tag === "PageFailed" ? [[e._tag, e.page, e.index, e.of]] : [])
      expect(outcomes).toStrictEqual([["PageDone", 1, 1, 4], ["PageDone", 2, 2, 4], ["PageFailed", 3, 3, 4], ["PageDone", 5, 4, 4]])
      const failed = events.find((e) => e._tag === "PageFailed")
      expect(failed?._tag === "PageFailed" && failed.error._tag).toBe("RouteError")
      expect(events.filter((e) => e._tag === "PageStarted").map((e) => e.page).sort()).toStrictEqual([1, 2, 3, 5])
      expect(events.filter((e) => e._tag === "PageRendered")).toHaveLength(4)
      // Page 5's answer came from page 5's pixels.
      const five = backends.ollama.requests.find((r) => Routed.promptOf({ requests: [r] } as never).includes("Page five"))!
      expect(sha(five.messages[0]!.images![0]!.data)).toBe(sha((yield* renderAlone(report, 5)).png))
    }))

  it.live("processPdf with textFirst says which path each page took", () =>
    Effect.gen(function*() {
      const { router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const events = yield* Stream.runCollect(vision.processPdf(report, { pages: "1-2,5", textFirst: { minChars: 50 } }))
      const paths = events.flatMap((e) => e._tag === "PageDone" ? [[e.page, e.result.path]] : [])
      // Page 5's text layer ("Page five") is too short to trust: it is rendered.
      expect(paths).toStrictEqual([[1, "text"], [2, "vision"], [5, "vision"]])
    }))

  it.live("processPdf fails as a whole, before any page, for an encrypted PDF, a bad page selection, or a non-PDF", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const locked = MinimalPdf.make({ pages: [{ lines: ["x"] }], encrypt: { userPassword: "pw", ownerPassword: "o" } })
      expect((yield* Effect.flip(Stream.runDrain(vision.processPdf(locked)))).reason).toBe("Encrypted")
      const pages = yield* Effect.flip(Stream.runDrain(vision.processPdf(report, { pages: "2-9" })))
      expect(pages.reason).toBe("BadPageRange")
      expect(pages.message).toContain("page 9 does not exist: the PDF has 5 pages")
      expect((yield* Effect.flip(Stream.runDrain(vision.processPdf(new Uint8Array(100))))).reason).toBe("UnsupportedFormat")
      const unlocked = yield* vision.processPdfPage(locked, { password: "pw" })
      expect(unlocked.text).toBe("x")
      expect(backends.ollama.requests).toHaveLength(1)
    }))

  const spec = RealPdfs.find(RealPdfs.sharedMimeInfoSpec, "shared-mime-info")
  it.live.skipIf(!spec)("a real-world PDF page from a path: the backend receives the rendered page and its text", () =>
    Effect.gen(function*() {
      const { backends, router } = yield* Routed.make()
      const vision = yield* Vision.make(router, { pool })
      const result = yield* vision.processPdfPage(spec!, { page: 3 })
      const reference = yield* renderAlone(new Uint8Array(fs.readFileSync(spec!)), 3)
      expect(sha(Routed.imagesOf(backends.ollama)[0]!.data)).toBe(sha(reference.png))
      expect(result.text).toBe(reference.text)
      expect(result.text.length).toBeGreaterThan(200)
    }))
})
