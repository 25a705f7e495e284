/** Real encoded images for tests, made with sharp: photo-like pixels, any format, any EXIF orientation. */
import { randomBytes } from "node:crypto"
import sharp from "sharp"

/** A width x height image whose left half is red and right half blue (so rotation is visible). */
export const halves = async (width: number, height: number, format: "png" | "jpeg" | "webp" | "gif", orientation?: number) => {
  const raw = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3
      if (x < width / 2) raw[i] = 255
      else raw[i + 2] = 255
    }
  }
  let image = sharp(raw, { raw: { width, height, channels: 3 } }).toFormat(format)
  if (orientation !== undefined) image = image.withMetadata({ orientation })
  return new Uint8Array(await image.toBuffer())
}

/** Noisy pixels compress badly, like a photo: a large encoded size for its dimensions. */
export const noise = async (width: number, height: number) => {
  const raw = randomBytes(width * height * 3)
  return new Uint8Array(await sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer())
}

/** The RGB of one pixel. */
export const pixel = async (data: Uint8Array, x: number, y: number) => {
  const { data: raw, info } = await sharp(data).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const i = (y * info.width + x) * 3
  return [raw[i]!, raw[i + 1]!, raw[i + 2]!] as const
}

/** A PNG that is only a header declaring `width` x `height`: a decompression bomb's calling card. */
export const bombHeader = (width: number, height: number): Uint8Array => {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff
    for (const b of bytes) c = crcTable[(c ^ b) & 255]! ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data])
    const out = Buffer.alloc(8 + data.length + 4)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc(body), 8 + data.length)
    return out
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  return new Uint8Array(Buffer.concat([
    Buffer.from("89504e470d0a1a0a", "hex"),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk("IEND", Buffer.alloc(0))
  ]))
}

/** The darkest red value in a region (sharp's own `stats()` would ignore the crop). */
export const darkest = async (data: Uint8Array, region: { left: number; top: number; width: number; height: number }) => {
  const { data: raw, info } = await sharp(data).extract(region).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  let min = 255
  for (let i = 0; i < raw.length; i += info.channels) min = Math.min(min, raw[i]!)
  return min
}
