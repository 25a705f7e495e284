/**
 * Images as the two wire dialects send them, turned into core's `{ data, mime }`:
 * OpenAI sends `data:<mime>;base64,<data>` URLs, Ollama sends bare base64. A bare image's
 * type is read from its first bytes; the declared type of a data URL is trusted only when
 * the bytes do not say otherwise.
 *
 * Remote `http(s)://` URLs are refused rather than fetched: the gateway never makes requests
 * on a caller's behalf to addresses the caller chose.
 */
import type { Backend } from "@local-router/core"
import * as Result from "effect/Result"

const BASE64 = /^[A-Za-z0-9+/=\s_-]*$/

/** The image type its first bytes announce, if it is one backends take. */
export const sniff = (bytes: Uint8Array): string | undefined => {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "image/png"
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg"
  if (bytes.length >= 6 && bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x38) return "image/gif"
  if (
    bytes.length >= 12 && bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x46 &&
    bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50
  ) return "image/webp"
  if (bytes.length >= 5 && bytes[0] === 0x25 && bytes[1] === 0x50 && bytes[2] === 0x44 && bytes[3] === 0x46) return "application/pdf"
  return undefined
}

/**
 * Largest image passed on, in pixels as its header declares them (packages/vision's default
 * too). A few kilobytes can declare gigapixels; refusing on the header keeps a decompression
 * bomb from reaching a backend that would try to decode it.
 */
export const maxPixels = 100_000_000

/** Width and height as the image's header declares them, when the header can be read. */
export const dimensions = (bytes: Uint8Array, mime: string): { readonly width: number; readonly height: number } | undefined => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const at = (i: number) => bytes[i] ?? 0
  switch (mime) {
    case "image/png":
      return bytes.length >= 24 ? { width: view.getUint32(16), height: view.getUint32(20) } : undefined
    case "image/gif":
      return bytes.length >= 10 ? { width: view.getUint16(6, true), height: view.getUint16(8, true) } : undefined
    case "image/webp": {
      if (bytes.length < 30) return undefined
      const chunk = String.fromCharCode(at(12), at(13), at(14), at(15))
      if (chunk === "VP8X") return { width: 1 + (at(24) | at(25) << 8 | at(26) << 16), height: 1 + (at(27) | at(28) << 8 | at(29) << 16) }
      if (chunk === "VP8L") {
        const bits = view.getUint32(21, true)
        return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) }
      }
      if (chunk === "VP8 ") return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff }
      return undefined
    }
    case "image/jpeg": {
      // Walk the segments to the first start-of-frame marker, which holds the size.
      let i = 2
      while (i + 9 < bytes.length) {
        if (at(i) !== 0xff) return undefined
        const marker = at(i + 1)
        if (marker === 0xff) {
          i++
          continue
        }
        if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
          return { height: view.getUint16(i + 5), width: view.getUint16(i + 7) }
        }
        i += marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7) ? 2 : 2 + view.getUint16(i + 2)
      }
      return undefined
    }
    default:
      return undefined
  }
}

const decode = (base64: string, declared: string | undefined): Result.Result<Backend.Image, string> => {
  if (!BASE64.test(base64)) return Result.fail("the image is not base64")
  const data = Buffer.from(base64, "base64")
  if (data.length === 0) return Result.fail("the image is empty")
  const mime = sniff(data) ?? declared
  if (mime === undefined) return Result.fail("the image is not PNG, JPEG, GIF or WebP")
  const size = dimensions(data, mime)
  if (size && size.width * size.height > maxPixels) {
    return Result.fail(`the image declares ${size.width}x${size.height} pixels (${Math.round(size.width * size.height / 1e6)} MP), over the ${maxPixels / 1e6} MP limit`)
  }
  return Result.succeed({ data, mime })
}

/** Bare base64 (Ollama), or a data URL for lenience. */
export const fromBase64 = (value: string): Result.Result<Backend.Image, string> =>
  value.startsWith("data:") ? fromUrl(value) : decode(value, undefined)

/** An OpenAI `image_url.url`. */
export const fromUrl = (url: string): Result.Result<Backend.Image, string> => {
  if (/^https?:\/\//i.test(url)) {
    return Result.fail("image URLs are not supported: send the image as a data URL (data:image/png;base64,...)")
  }
  const comma = url.indexOf(",")
  if (!url.startsWith("data:") || comma < 0 || !url.slice(0, comma).endsWith(";base64")) {
    return Result.fail("invalid image input: expected a data URL (data:image/png;base64,...)")
  }
  const declared = url.slice(5, comma - ";base64".length)
  return decode(url.slice(comma + 1), declared === "" ? undefined : declared)
}
