/**
 * An image made safe to send: its format sniffed from the content (never the file name),
 * its declared size checked before decoding, its EXIF orientation applied, and its pixels
 * re-encoded as PNG or JPEG, the two formats every vision backend takes.
 *
 * `fit` then scales a picture down to one backend's `images:` limits from routing.yaml; the
 * router calls it once per attempt, so each backend gets the largest image it accepts.
 */
import * as Effect from "effect/Effect"
import { fileTypeFromBuffer } from "file-type"
import type Sharp from "sharp"
import type { Limits } from "./Limits.ts"
import { VisionError } from "./VisionError.ts"

/**
 * sharp (libvips), loaded the first time a picture needs decoding or scaling: a PDF page
 * rendered within its backend's limits never does, and loading libvips maps ~7 MB that a
 * long-running serve would carry for good (bench/pdf --serve).
 */
let loaded: Promise<typeof Sharp> | undefined
const sharp: Effect.Effect<typeof Sharp> = Effect.promise(() =>
  loaded ??= import("sharp").then(({ default: sharp }) => {
    // libvips keeps up to 50 MB of recent operations in case the same one runs again on the
    // same image; every upload here is new, so in a long-running serve the cache only held
    // memory (bench/fuzz: +26 MB of resident memory that never came back after 30,000 requests).
    sharp.cache(false)
    return sharp
  })
)

export type Mime = "image/png" | "image/jpeg"

export interface Picture {
  readonly data: Uint8Array
  readonly mime: Mime
  readonly width: number
  readonly height: number
}

/** What a backend accepts (routing.yaml `images:`). */
export interface Fit {
  readonly maxSide?: number
  readonly maxPixels?: number
  readonly maxBytes?: number
}

const accepted: Readonly<Record<string, string>> = {
  "image/png": "PNG",
  "image/jpeg": "JPEG",
  "image/webp": "WebP",
  "image/gif": "GIF"
}

/** What the content is, from its magic bytes: an accepted image mime, "application/pdf", or other. */
export const sniff = (bytes: Uint8Array): Effect.Effect<string | undefined> =>
  Effect.promise(() => fileTypeFromBuffer(bytes).then((t) => t?.mime, () => undefined))

/** Decode, check and normalize an image already read into memory. */
export const fromBytes = (
  bytes: Uint8Array,
  source: string,
  limits: Pick<Limits, "maxInputPixels">
): Effect.Effect<Picture, VisionError> =>
  Effect.gen(function*() {
    const mime = yield* sniff(bytes)
    if (mime === undefined || !(mime in accepted)) {
      const what = mime === "application/pdf"
        ? "a PDF, not an image (use processPdfPage or processPdf)"
        : mime === undefined
        ? "not a recognised image"
        : `${mime}, not a supported image`
      return yield* new VisionError({
        reason: "UnsupportedFormat",
        source,
        message: `${source} is ${what}; expected PNG, JPEG, WebP or GIF`
      })
    }
    const corrupt = (cause: unknown) =>
      new VisionError({ reason: "CorruptImage", source, message: `${source}: cannot decode the ${accepted[mime]} image (${messageOf(cause)})` })
    const options = { limitInputPixels: limits.maxInputPixels, failOn: "truncated" } as const
    // Reading the header decodes no pixels, so it runs without the pixel cap: the cap is checked next, by us, with a clearer message.
    const vips = yield* sharp
    const meta = yield* Effect.tryPromise({ try: () => vips(bytes, { limitInputPixels: false }).metadata(), catch: corrupt })
    const { width, height } = meta
    if (!width || !height) return yield* corrupt("no dimensions")
    // The header is all a bomb needs to be recognised: refuse before a single pixel is decoded.
    if (width * height > limits.maxInputPixels) {
      return yield* new VisionError({
        reason: "ImageTooLarge",
        source,
        message: `${source} declares ${width}x${height} pixels (${(width * height / 1e6).toFixed(0)} MP), over the ${limits.maxInputPixels / 1e6} MP limit (maxInputPixels)`
      })
    }
    const rotates = (meta.orientation ?? 1) > 1
    const keep = (mime === "image/png" || mime === "image/jpeg") && !rotates && meta.exif === undefined
    // Decoding every pixel is the only way to find a truncated file; do it even when the
    // original bytes are kept. Re-encoding drops EXIF (camera, GPS) before it leaves the machine.
    const out: Mime = mime === "image/jpeg" ? "image/jpeg" : "image/png"
    if (keep) {
      // libvips streams the decode for statistics, so this checks every pixel without holding them.
      yield* Effect.tryPromise({ try: () => vips(bytes, options).stats(), catch: corrupt })
      return { data: bytes, mime: out, width, height }
    }
    const encoded = yield* Effect.tryPromise({
      try: () => encode(vips(bytes, options).rotate(), out).toBuffer({ resolveWithObject: true }),
      catch: corrupt
    })
    return { data: new Uint8Array(encoded.data), mime: out, width: encoded.info.width, height: encoded.info.height }
  })

/** Scale a picture down (never up) to fit a backend's limits; the picture itself when it fits. */
export const fit = (picture: Picture, limits: Fit): Effect.Effect<Picture, VisionError> =>
  Effect.gen(function*() {
    const { width, height } = picture
    const scale = Math.min(
      1,
      limits.maxSide ? limits.maxSide / Math.max(width, height) : 1,
      limits.maxPixels ? Math.sqrt(limits.maxPixels / (width * height)) : 1
    )
    let current = picture
    if (scale < 1) current = yield* resize(picture, Math.max(1, Math.floor(width * scale)), Math.max(1, Math.floor(height * scale)), picture.mime)
    const maxBytes = limits.maxBytes
    if (maxBytes === undefined || current.data.byteLength <= maxBytes) return current
    // Too many bytes: JPEG first (photos and rendered pages shrink most), then fewer pixels.
    for (const quality of [85, 70, 55]) {
      current = yield* resize(current, current.width, current.height, "image/jpeg", quality)
      if (current.data.byteLength <= maxBytes) return current
    }
    while (current.data.byteLength > maxBytes && Math.max(current.width, current.height) > 64) {
      current = yield* resize(current, Math.max(1, Math.floor(current.width * 0.7)), Math.max(1, Math.floor(current.height * 0.7)), "image/jpeg", 55)
    }
    return current
  })

const resize = (picture: Picture, width: number, height: number, mime: Mime, quality = 90): Effect.Effect<Picture, VisionError> =>
  Effect.flatMap(sharp, (vips) => Effect.tryPromise({
    try: async () => {
      const { data, info } = await encode(vips(picture.data).resize(width, height, { fit: "fill" }), mime, quality)
        .toBuffer({ resolveWithObject: true })
      return { data: new Uint8Array(data), mime, width: info.width, height: info.height }
    },
    catch: (cause) =>
      new VisionError({ reason: "CorruptImage", source: `<${picture.data.byteLength} bytes>`, message: `cannot scale the image: ${messageOf(cause)}` })
  }))

const encode = (image: Sharp.Sharp, mime: Mime, quality = 92) =>
  mime === "image/jpeg" ? image.jpeg({ quality }) : image.png()

const messageOf = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!
