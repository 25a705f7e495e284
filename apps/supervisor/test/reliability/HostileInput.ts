/**
 * Hostile request bodies for the gateway, built in memory: image and PDF bombs that are small
 * on the wire and enormous when decoded, JSON nested past any sane depth, bytes that are not
 * UTF-8, and model names that look like paths.
 */
import * as zlib from "node:zlib"

const chunk = (type: string, data: Buffer) => {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, "latin1"), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(zlib.crc32(body))
  return Buffer.concat([length, body, crc])
}

/** A PNG whose header declares width x height RGB pixels, with a few kilobytes of data: decoding it would need width*height*3 bytes. */
export const pngBomb = (width: number, height: number): Buffer => {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // RGB
  const rows = zlib.deflateSync(Buffer.alloc(4 * 1024 * 1024), { level: 9 })
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", rows),
    chunk("IEND", Buffer.alloc(0))
  ])
}

/** A valid PDF whose page tree lists one tiny page `pages` times. */
export const pdfPageBomb = (pages: number): Buffer => {
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    `<< /Type /Pages /Count ${pages} /Kids [${Array(pages).fill("3 0 R").join(" ")}] >>`,
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"
  ]
  let body = "%PDF-1.4\n"
  const offsets: Array<number> = []
  objects.forEach((object, i) => {
    offsets.push(Buffer.byteLength(body, "latin1"))
    body += `${i + 1} 0 obj\n${object}\nendobj\n`
  })
  const xref = Buffer.byteLength(body, "latin1")
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(body, "latin1")
}

/** A chat request whose `messages` value is nested `depth` arrays deep. */
export const deepJson = (depth: number): string => `{"model":"fast","messages":${"[".repeat(depth)}${"]".repeat(depth)}}`

/** A chat request whose content holds bytes that are not UTF-8 (a lone continuation byte, an overlong form, 0xFF). */
export const invalidUtf8 = (): Buffer =>
  Buffer.concat([
    Buffer.from(`{"model":"fast","messages":[{"role":"user","content":"hello `, "utf8"),
    Buffer.from([0x80, 0xc0, 0xaf, 0xff, 0xfe]),
    Buffer.from(`"}]}`, "utf8")
  ])

export const pathLikeModels: ReadonlyArray<string> = [
  "../../../../etc/passwd",
  "/etc/passwd",
  "ollama/../../../../etc/passwd",
  "file:///etc/passwd",
  "..\\..\\..\\windows\\system32\\config\\sam",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "ollama/%2e%2e/%2e%2e/etc/shadow",
  "fast\u0000../../etc/passwd"
]
