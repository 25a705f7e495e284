/**
 * A minimal PDF writer for tests: text pages in Helvetica, pages of any MediaBox, pages that
 * are one full-page image (what a scanner makes), and RC4 encryption with a password
 * (Standard security handler, revision 2). Byte offsets in the xref table are exact, so
 * every reader opens these without repairing them.
 */
import { createHash } from "node:crypto"
import { deflateSync } from "node:zlib"

export interface PageSpec {
  /** Lines of text, top to bottom. */
  readonly lines?: ReadonlyArray<string>
  /** Width and height in points (default US Letter, 612 x 792). */
  readonly size?: readonly [number, number]
  /** A full-page RGB image, 8 bits per channel: a scanned page with no text layer. */
  readonly image?: { readonly width: number; readonly height: number; readonly rgb: Uint8Array }
  /** Raw content-stream operators drawn after the rest (deflated, so a huge stream stays a small file). */
  readonly operators?: string
}

export interface PdfSpec {
  readonly pages: ReadonlyArray<PageSpec>
  readonly encrypt?: { readonly userPassword: string; readonly ownerPassword: string }
}

const PAD = Buffer.from("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A", "hex")
const padded = (password: string) => Buffer.concat([Buffer.from(password, "latin1"), PAD]).subarray(0, 32)
const md5 = (...parts: ReadonlyArray<Uint8Array>) => {
  const hash = createHash("md5")
  for (const part of parts) hash.update(part)
  return hash.digest()
}

export const rc4 = (key: Uint8Array, data: Uint8Array): Buffer => {
  const s = Array.from({ length: 256 }, (_, i) => i)
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 255
    ;[s[i], s[j]] = [s[j]!, s[i]!]
  }
  const out = Buffer.alloc(data.length)
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 255
    j = (j + s[i]!) & 255
    ;[s[i], s[j]] = [s[j]!, s[i]!]
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 255]!
  }
  return out
}

const escape = (text: string) => text.replace(/[\\()]/g, (c) => `\\${c}`)

export const make = (spec: PdfSpec): Uint8Array => {
  const objects: Array<{ dict: string; stream?: Buffer }> = []
  const add = (dict: string, stream?: Buffer) => {
    objects.push(stream === undefined ? { dict } : { dict, stream })
    return objects.length
  }
  add("") // 1: catalog, filled in below
  add("") // 2: page tree
  const font = add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
  const kids: Array<number> = []
  for (const page of spec.pages) {
    const [w, h] = page.size ?? [612, 792]
    let content = ""
    let resources = `/Font << /F1 ${font} 0 R >>`
    if (page.image) {
      const { height, rgb, width } = page.image
      const image = add(
        `<< /Type /XObject /Subtype /Image /Width ${width} /Height ${height} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode`,
        deflateSync(rgb)
      )
      resources += ` /XObject << /Im1 ${image} 0 R >>`
      content += `q ${w} 0 0 ${h} 0 0 cm /Im1 Do Q\n`
    }
    if (page.lines?.length) {
      content += `BT /F1 14 Tf 18 TL 72 ${h - 72} Td\n`
      content += page.lines.map((line) => `(${escape(line)}) Tj T*`).join("\n")
      content += "\nET\n"
    }
    if (page.operators) content += page.operators
    const contents = add("<< /Filter /FlateDecode >>", deflateSync(Buffer.from(content, "latin1")))
    kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${w} ${h}] /Resources << ${resources} >> /Contents ${contents} 0 R >>`))
  }
  objects[0] = { dict: "<< /Type /Catalog /Pages 2 0 R >>" }
  objects[1] = { dict: `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(" ")}] /Count ${kids.length} >>` }

  const id = md5(Buffer.from(JSON.stringify(spec.pages.map((p) => p.lines ?? []))))
  let fileKey: Buffer | undefined
  let encryptRef = 0
  if (spec.encrypt) {
    const permissions = -4
    const p = Buffer.alloc(4)
    p.writeInt32LE(permissions)
    const owner = rc4(md5(padded(spec.encrypt.ownerPassword)).subarray(0, 5), padded(spec.encrypt.userPassword))
    fileKey = md5(padded(spec.encrypt.userPassword), owner, p, id).subarray(0, 5)
    const user = rc4(fileKey, PAD)
    encryptRef = add(`<< /Filter /Standard /V 1 /R 2 /O <${owner.toString("hex")}> /U <${user.toString("hex")}> /P ${permissions} >>`)
  }

  const chunks: Array<Buffer> = [Buffer.from("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n", "latin1")]
  let offset = chunks[0]!.length
  const offsets: Array<number> = []
  objects.forEach((object, index) => {
    const num = index + 1
    offsets.push(offset)
    let body: Buffer
    if (object.stream === undefined) {
      body = Buffer.from(`${num} 0 obj\n${object.dict}\nendobj\n`, "latin1")
    } else {
      let data = object.stream
      if (fileKey && num !== encryptRef) {
        const key = md5(fileKey, Buffer.from([num & 255, (num >> 8) & 255, (num >> 16) & 255, 0, 0])).subarray(0, 10)
        data = rc4(key, data)
      }
      const dict = object.dict.endsWith(">>") ? object.dict.slice(0, -2) : object.dict
      body = Buffer.concat([
        Buffer.from(`${num} 0 obj\n${dict} /Length ${data.length} >>\nstream\n`, "latin1"),
        data,
        Buffer.from("\nendstream\nendobj\n", "latin1")
      ])
    }
    chunks.push(body)
    offset += body.length
  })
  const xref = [
    "xref",
    `0 ${objects.length + 1}`,
    "0000000000 65535 f ",
    ...offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n `),
    "trailer",
    `<< /Size ${objects.length + 1} /Root 1 0 R /ID [<${id.toString("hex")}> <${id.toString("hex")}>]${encryptRef ? ` /Encrypt ${encryptRef} 0 R` : ""} >>`,
    "startxref",
    String(offset),
    "%%EOF",
    ""
  ].join("\n")
  chunks.push(Buffer.from(xref, "latin1"))
  return new Uint8Array(Buffer.concat(chunks))
}

/** A page-sized photo-like RGB image (gradients and noise), to stand in for a scan. */
export const scan = (width: number, height: number): PageSpec["image"] & {} => {
  const rgb = new Uint8Array(width * height * 3)
  let seed = 7
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      const i = (y * width + x) * 3
      // Dark "ink" bands on light "paper": what a scanned page of text looks like.
      const ink = y % 24 < 8 && x > width * 0.1 && x < width * 0.9 && (x >> 3) % 5 !== 0
      const base = ink ? 40 : 235
      rgb[i] = base + (seed % 12)
      rgb[i + 1] = base + ((seed >> 4) % 12)
      rgb[i + 2] = base + ((seed >> 8) % 10)
    }
  }
  return { width, height, rgb }
}
