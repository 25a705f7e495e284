import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import sharp from "sharp"
import { Input, Limits, Picture } from "../src/index.ts"
import * as Images from "./support/Images.ts"
import * as MinimalPdf from "./support/MinimalPdf.ts"

const load = (bytes: Uint8Array, limits = Limits.defaults) => Picture.fromBytes(bytes, "test image", limits)

describe("Picture.fromBytes", () => {
  it.effect.each(["png", "jpeg", "webp", "gif"] as const)("sniffs %s from the content, not the file name", (format) =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vision-"))
      const file = path.join(dir, "misnamed.txt")
      fs.writeFileSync(file, yield* Effect.promise(() => Images.halves(64, 32, format)))
      const { bytes, source } = yield* Input.read(file, Limits.defaults.maxFileBytes)
      const picture = yield* Picture.fromBytes(bytes, source, Limits.defaults)
      expect(picture.mime).toBe(format === "jpeg" ? "image/jpeg" : "image/png")
      expect([picture.width, picture.height]).toStrictEqual([64, 32])
      // Whatever the format, a backend receives pixels it can decode.
      const meta = yield* Effect.promise(() => sharp(picture.data).metadata())
      expect(meta.format).toBe(format === "jpeg" ? "jpeg" : "png")
    }))

  it.effect("keeps a PNG without EXIF byte for byte", () =>
    Effect.gen(function*() {
      const png = yield* Effect.promise(() => Images.halves(20, 10, "png"))
      expect((yield* load(png)).data).toBe(png)
    }))

  it.effect("refuses a PDF passed as an image, saying what it is", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load(MinimalPdf.make({ pages: [{ lines: ["hi"] }] })))
      expect(error.reason).toBe("UnsupportedFormat")
      expect(error.message).toContain("a PDF, not an image")
    }))

  it.effect.each([
    { what: "text", bytes: new TextEncoder().encode("just some text, not an image at all") },
    { what: "a zip", bytes: new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...new Array<number>(60).fill(0)]) }
  ])("refuses $what with UnsupportedFormat", ({ bytes }) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load(bytes))
      expect(error.reason).toBe("UnsupportedFormat")
      expect(error.message).toContain("expected PNG, JPEG, WebP or GIF")
    }))

  it.effect("applies EXIF orientation: a JPEG tagged 'rotate 90' arrives upright, with its EXIF dropped", () =>
    Effect.gen(function*() {
      // Stored 40x20, red left / blue right; orientation 6 means "rotate 90° clockwise to view".
      const jpeg = yield* Effect.promise(() => Images.halves(40, 20, "jpeg", 6))
      const picture = yield* load(jpeg)
      expect([picture.width, picture.height]).toStrictEqual([20, 40])
      const top = yield* Effect.promise(() => Images.pixel(picture.data, 10, 5))
      const bottom = yield* Effect.promise(() => Images.pixel(picture.data, 10, 35))
      expect(top[0]).toBeGreaterThan(200) // red now on top
      expect(bottom[2]).toBeGreaterThan(200) // blue at the bottom
      const meta = yield* Effect.promise(() => sharp(picture.data).metadata())
      expect(meta.orientation ?? 1).toBe(1)
      expect(meta.exif).toBeUndefined()
    }))

  it.effect("refuses a decompression bomb from its header alone, quickly", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const error = yield* Effect.flip(load(Images.bombHeader(100_000, 100_000)))
      expect(error.reason).toBe("ImageTooLarge")
      expect(error.message).toContain("100000x100000")
      expect(Date.now() - started).toBeLessThan(2_000)
    }))

  it.effect.each(["png", "jpeg", "webp"] as const)("refuses a truncated %s with CorruptImage", (format) =>
    Effect.gen(function*() {
      const whole = yield* Effect.promise(() => Images.noise(200, 200).then((png) => sharp(png).toFormat(format).toBuffer()))
      const error = yield* Effect.flip(load(new Uint8Array(whole.subarray(0, Math.floor(whole.length / 2)))))
      expect(error.reason).toBe("CorruptImage")
    }))
})

describe("Picture.fit", () => {
  it.effect("scales down to maxSide, keeping the aspect ratio, and never up", () =>
    Effect.gen(function*() {
      const picture = yield* load(yield* Effect.promise(() => Images.halves(2000, 1000, "png")))
      const fitted = yield* Picture.fit(picture, { maxSide: 500 })
      expect([fitted.width, fitted.height]).toStrictEqual([500, 250])
      const meta = yield* Effect.promise(() => sharp(fitted.data).metadata())
      expect([meta.width, meta.height]).toStrictEqual([500, 250])
      expect(yield* Picture.fit(picture, { maxSide: 4000 })).toBe(picture)
      expect(yield* Picture.fit(picture, {})).toBe(picture)
    }))

  it.effect("scales down to maxPixels", () =>
    Effect.gen(function*() {
      const picture = yield* load(yield* Effect.promise(() => Images.halves(1000, 1000, "jpeg")))
      const fitted = yield* Picture.fit(picture, { maxPixels: 250_000 })
      expect(fitted.width * fitted.height).toBeLessThanOrEqual(250_000)
      expect(fitted.width).toBeGreaterThan(490)
      expect(fitted.mime).toBe("image/jpeg")
    }))

  it.effect("meets maxBytes, re-encoding as JPEG and shrinking as needed", () =>
    Effect.gen(function*() {
      const picture = yield* load(yield* Effect.promise(() => Images.noise(800, 600)))
      expect(picture.data.byteLength).toBeGreaterThan(1_000_000)
      const fitted = yield* Picture.fit(picture, { maxBytes: 50_000 })
      expect(fitted.data.byteLength).toBeLessThanOrEqual(50_000)
      expect(fitted.mime).toBe("image/jpeg")
      expect((yield* Effect.promise(() => sharp(fitted.data).metadata())).width).toBe(fitted.width)
    }))
})

describe("Input.read", () => {
  it.effect("a missing path, a directory and a device are Unreadable, naming the path", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Input.read("/nonexistent/photo.jpg", 1_000))
      expect(missing.reason).toBe("Unreadable")
      expect(missing.message).toBe("cannot read /nonexistent/photo.jpg: no such file")
      expect((yield* Effect.flip(Input.read(os.tmpdir(), 1_000))).reason).toBe("Unreadable")
      // Reading /dev/zero would never end: it is refused before it is opened.
      expect((yield* Effect.flip(Input.read("/dev/zero", 1_000))).message).toContain("not a regular file")
    }))

  it.effect("a file over maxFileBytes is TooLarge, refused from its size before it is read", () =>
    Effect.gen(function*() {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "vision-")), "huge.png")
      fs.closeSync(fs.openSync(file, "w"))
      fs.truncateSync(file, 8 * 1024 * 1024 * 1024) // sparse: 8 GiB claimed, nothing on disk
      const error = yield* Effect.flip(Input.read(file, Limits.defaults.maxFileBytes))
      expect(error.reason).toBe("TooLarge")
      expect(error.message).toContain("8192.0 MiB, over the 100.0 MiB limit (maxFileBytes)")
      fs.rmSync(file)
      expect((yield* Effect.flip(Input.read(new Uint8Array(2_000), 1_000))).reason).toBe("TooLarge")
    }))
})
