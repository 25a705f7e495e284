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
import { Either } from "effect"

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

const decode = (base64: string, declared: string | undefined): Either.Either<Backend.Image, string> => {
  if (!BASE64.test(base64)) return Either.left("the image is not base64")
  const data = Buffer.from(base64, "base64")
  if (data.length === 0) return Either.left("the image is empty")
  const mime = sniff(data) ?? declared
  if (mime === undefined) return Either.left("the image is not PNG, JPEG, GIF or WebP")
  return Either.right({ data, mime })
}

/** Bare base64 (Ollama), or a data URL for lenience. */
export const fromBase64 = (value: string): Either.Either<Backend.Image, string> =>
  value.startsWith("data:") ? fromUrl(value) : decode(value, undefined)

/** An OpenAI `image_url.url`. */
export const fromUrl = (url: string): Either.Either<Backend.Image, string> => {
  if (/^https?:\/\//i.test(url)) {
    return Either.left("image URLs are not supported: send the image as a data URL (data:image/png;base64,...)")
  }
  const comma = url.indexOf(",")
  if (!url.startsWith("data:") || comma < 0 || !url.slice(0, comma).endsWith(";base64")) {
    return Either.left("invalid image input: expected a data URL (data:image/png;base64,...)")
  }
  const declared = url.slice(5, comma - ";base64".length)
  return decode(url.slice(comma + 1), declared === "" ? undefined : declared)
}
