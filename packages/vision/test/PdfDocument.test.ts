import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as fs from "node:fs"
import sharp from "sharp"
import { Limits, PdfDocument } from "../src/index.ts"
import * as Images from "./support/Images.ts"
import * as MinimalPdf from "./support/MinimalPdf.ts"
import * as RealPdfs from "./support/RealPdfs.ts"
import * as SharedPool from "./support/SharedPool.ts"

const pool = SharedPool.make()
const open = (bytes: Uint8Array, options: Partial<PdfDocument.OpenOptions> = {}) =>
  PdfDocument.open(bytes, "test.pdf", { limits: Limits.defaults, pool, ...options })

const secret = MinimalPdf.make({
  pages: [{ lines: ["The launch code is 0000"] }],
  encrypt: { userPassword: "hunter2", ownerPassword: "owner" }
})

describe("PdfDocument", () => {
  it.effect("renders a page at 144 DPI by default and extracts its text layer", () =>
    Effect.gen(function*() {
      const doc = yield* open(MinimalPdf.make({ pages: [{ lines: ["Quarterly report", "Revenue (EUR): 1,234"] }, { lines: ["Two"] }] }))
      expect(doc.pageCount).toBe(2)
      const page = yield* doc.render(1)
      // US Letter is 8.5 x 11 inches.
      expect([page.width, page.height, page.dpi, page.scaledDown]).toStrictEqual([1224, 1584, 144, false])
      expect(page.text).toBe("Quarterly report\nRevenue (EUR): 1,234")
      const meta = yield* Effect.promise(() => sharp(page.png).metadata())
      expect([meta.format, meta.width, meta.height]).toStrictEqual(["png", 1224, 1584])
      // Ink where the text is: the text really was drawn, on white paper.
      expect(yield* Effect.promise(() => Images.darkest(page.png, { left: 144, top: 100, width: 400, height: 60 }))).toBeLessThan(100)
      expect(yield* Effect.promise(() => Images.darkest(page.png, { left: 0, top: 1500, width: 50, height: 50 }))).toBe(255)
      expect((yield* doc.render(2, 72)).width).toBe(612)
      expect(yield* doc.text(2)).toBe("Two")
    }))

  it.effect("a page with a huge MediaBox renders within maxPagePixels at a lower DPI, without allocating gigabytes", () =>
    Effect.gen(function*() {
      // 200000 pt square is ~2.8 km wide: at 144 DPI that would be 400000 x 400000 pixels (640 GB).
      const doc = yield* open(MinimalPdf.make({ pages: [{ lines: ["Big"], size: [200_000, 200_000] }] }), {
        limits: { ...Limits.defaults, maxPagePixels: 1_000_000 }
      })
      const page = yield* doc.render(1)
      expect(page.width * page.height).toBeLessThanOrEqual(1_000_000)
      expect(page.scaledDown).toBe(true)
      expect(page.dpi).toBeLessThan(1)
    }))

  it.effect("an encrypted PDF without a password is Encrypted, asking for the password option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(open(secret))
      expect(error.reason).toBe("Encrypted")
      expect(error.message).toContain("`password` option")
    }))

  it.effect("an encrypted PDF opens with its password; a wrong one is WrongPassword", () =>
    Effect.gen(function*() {
      const doc = yield* open(secret, { password: "hunter2" })
      expect((yield* doc.render(1)).text).toBe("The launch code is 0000")
      expect((yield* Effect.flip(open(secret, { password: "letmein" }))).reason).toBe("WrongPassword")
    }))

  it.effect.each([
    ["truncated to 60%", (b: Uint8Array) => b.slice(0, Math.floor(b.length * 0.6))],
    ["truncated to its first 300 bytes", (b: Uint8Array) => b.slice(0, 300)],
    ["a header and rubbish", () => new TextEncoder().encode("%PDF-1.7\nrubbish\n")]
  ] as const)("a PDF %s is CorruptPdf with a clear message", ([, damage]) =>
    Effect.gen(function*() {
      const whole = MinimalPdf.make({ pages: [{ lines: ["one"] }, { lines: ["two"] }, { lines: ["three"] }] })
      const error = yield* Effect.flip(open(damage(whole)))
      expect(error.reason).toBe("CorruptPdf")
      expect(error.message).toContain("cannot be read as a PDF (truncated or damaged)")
    }))

  it.effect("a PDF with zero pages is NoPages", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(open(MinimalPdf.make({ pages: [] })))).reason).toBe("NoPages")
    }))

  it.effect("a PDF over maxPages is TooManyPages; a page it lacks is BadPageRange", () =>
    Effect.gen(function*() {
      const three = MinimalPdf.make({ pages: [{ lines: ["1"] }, { lines: ["2"] }, { lines: ["3"] }] })
      const error = yield* Effect.flip(open(three, { limits: { ...Limits.defaults, maxPages: 2 } }))
      expect(error.reason).toBe("TooManyPages")
      expect(error.message).toContain("3 pages, over the 2 page limit")
      const doc = yield* open(three)
      expect((yield* Effect.flip(doc.render(4))).message).toContain("has no page 4: it has 3 pages")
    }))

  it.effect("a PDF handed over as a Node Buffer (what an HTTP upload is) opens and renders in the render process", () =>
    Effect.gen(function*() {
      const doc = yield* open(Buffer.from(MinimalPdf.make({ pages: [{ lines: ["from a Buffer"] }] })))
      expect(doc.pageCount).toBe(1)
      expect((yield* doc.render(1, 36)).text).toBe("from a Buffer")
    }))

  it.effect("bytes that are not a PDF are UnsupportedFormat before any worker starts", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(open(new Uint8Array([0x89, 0x50, 0x4e, 0x47])))).reason).toBe("UnsupportedFormat")
    }))

  it.effect("a page over renderTimeoutMs fails with RenderTimeout; its worker is killed and the next render gets a fresh one", () =>
    Effect.gen(function*() {
      const doc = yield* open(MinimalPdf.make({ pages: [{ lines: ["slow"], image: MinimalPdf.scan(600, 800) }] }))
      // Started at once, so the render holds its worker before the clock moves.
      const slow = yield* Effect.forkChild(doc.render(1, 600), { startImmediately: true })
      // Move the clock past the deadline until the render, once it has armed it, gives up:
      // a move made before the deadline is armed leaves the deadline a full span ahead.
      while (slow.pollUnsafe() === undefined) {
        yield* TestClock.adjust(Limits.defaults.renderTimeoutMs + 1)
        yield* Effect.yieldNow
      }
      const error = yield* Effect.flip(Fiber.join(slow))
      expect(error.reason).toBe("RenderTimeout")
      expect(error.page).toBe(1)
      expect(error.message).toContain("page 1 took longer than 30000 ms (renderTimeoutMs)")
      expect((yield* doc.render(1, 36)).text).toBe("slow")
    }))

  it.live("a 30 KB content-stream bomb that needs more heap than workerMemoryMb fails its page, not the process", () =>
    Effect.scoped(Effect.gen(function*() {
      // 15 million numbers in one TJ array deflate to 30 KB and need hundreds of MB to parse.
      const bomb = MinimalPdf.make({ pages: [{ lines: ["x"], operators: `BT /F1 1 Tf [${"1 ".repeat(15_000_000)}] TJ ET\n` }] })
      expect(bomb.byteLength).toBeLessThan(40_000)
      const doc = yield* open(bomb, { limits: { ...Limits.defaults, workerMemoryMb: 128 }, pool: undefined })
      const error = yield* Effect.flip(doc.render(1, 36))
      expect(error.reason).toBe("RenderFailed")
      expect(error.message).toContain("ran out of memory (workerMemoryMb: 128)")
    })))

  it.effect("renders pages concurrently, each answer for the page asked", () =>
    Effect.gen(function*() {
      const doc = yield* open(MinimalPdf.make({ pages: [1, 2, 3, 4].map((n) => ({ lines: [`Page number ${n}`] })) }), { concurrency: 2 })
      const pages = yield* Effect.forEach([4, 1, 3, 2], (n) => doc.render(n, 36), { concurrency: "unbounded" })
      expect(pages.map((p) => [p.page, p.text])).toStrictEqual([[4, "Page number 4"], [1, "Page number 1"], [3, "Page number 3"], [2, "Page number 2"]])
    }))

  const spec = RealPdfs.find(RealPdfs.sharedMimeInfoSpec, "shared-mime-info")
  it.effect.skipIf(!spec)("renders a real-world PDF (shared-mime-info spec), first, middle and last pages, with their text", () =>
    Effect.gen(function*() {
      const doc = yield* open(new Uint8Array(fs.readFileSync(spec!)), { concurrency: 3 })
      expect(doc.pageCount).toBe(17)
      const first = yield* doc.render(1)
      expect(first.text).toContain("Shared MIME-info Database")
      expect(first.width).toBeGreaterThan(1100)
      const pages = yield* Effect.forEach([2, 9, 17], (n) => doc.render(n, 36), { concurrency: 3 })
      expect(pages.every((p) => p.png.byteLength > 1_000)).toBe(true)
    }))

  const tasn = RealPdfs.find(RealPdfs.libtasn1Manual, "libtasn1-doc")
  it.effect.skipIf(!tasn)("renders a real-world PDF (libtasn1 manual) page with its text", () =>
    Effect.gen(function*() {
      const doc = yield* open(new Uint8Array(fs.readFileSync(tasn!)))
      expect(doc.pageCount).toBeGreaterThan(10)
      const page = yield* doc.render(1)
      expect(page.text.toLowerCase()).toContain("libtasn1")
    }))
})
