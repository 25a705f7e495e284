/**
 * The body of a render process (RenderPool forks it): holds one open PDF and answers page
 * requests over the IPC channel. PDF parsing and rendering run here, out of serve's process, so
 * that a hostile file that loops, hangs or bloats the heap costs only this renderer (the pool
 * kills it on timeout, and its heap is capped by --max-old-space-size), and the memory Skia and
 * pdfjs used goes back to the system when it ends. Nothing here is exported; the protocol is in
 * RenderProtocol.ts.
 */
import { createCanvas } from "@napi-rs/canvas"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as pdfjs from "pdfjs-dist/legacy/build/pdf.mjs"
import type { Reply, Request } from "./RenderProtocol.ts"

const assets = path.dirname(createRequire(import.meta.url).resolve("pdfjs-dist/package.json"))
let doc: pdfjs.PDFDocumentProxy | undefined

const fail = (reason: Extract<Reply, { ok: false }>["reason"], cause: unknown): Reply => ({
  ok: false,
  reason,
  message: (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!
})

const open = async (request: Extract<Request, { op: "open" }>): Promise<Reply> => {
  // A pooled worker moves from document to document: let the previous one go first.
  const previous = doc
  doc = undefined
  await previous?.loadingTask.destroy()
  try {
    doc = await pdfjs.getDocument({
      // pdfjs refuses a Buffer, and the pipe hands a Buffer over as a Buffer: view it plainly.
      data: new Uint8Array(request.data.buffer, request.data.byteOffset, request.data.byteLength),
      ...(request.password === undefined ? {} : { password: request.password }),
      // Fonts, CMaps and image decoders come from the package on disk, never from the network.
      standardFontDataUrl: `${assets}/standard_fonts/`,
      cMapUrl: `${assets}/cmaps/`,
      iccUrl: `${assets}/iccs/`,
      wasmUrl: `${assets}/wasm/`,
      maxImageSize: request.maxImagePixels,
      enableXfa: false,
      verbosity: 0
    }).promise
    return { ok: true, op: "open", pages: doc.numPages }
  } catch (cause) {
    if (cause instanceof pdfjs.PasswordException) {
      return fail(cause.code === pdfjs.PasswordResponses.INCORRECT_PASSWORD ? "WrongPassword" : "Encrypted", cause)
    }
    return fail("CorruptPdf", cause)
  }
}

const textOf = async (page: pdfjs.PDFPageProxy): Promise<string> => {
  const content = await page.getTextContent()
  let text = ""
  for (const item of content.items) {
    if ("str" in item) text += item.str + (item.hasEOL ? "\n" : "")
  }
  return text.trim()
}

const render = async (request: Extract<Request, { op: "render" | "text" }>): Promise<Reply> => {
  if (!doc) return fail("RenderFailed", "no document is open")
  let page: pdfjs.PDFPageProxy
  try {
    page = await doc.getPage(request.page)
  } catch (cause) {
    return fail("CorruptPdf", cause)
  }
  try {
    const text = await textOf(page)
    if (request.op === "text") return { ok: true, op: "text", text }
    let scale = request.dpi / 72
    const natural = page.getViewport({ scale })
    const pixels = natural.width * natural.height
    // A huge MediaBox must not become a huge canvas: lower the DPI until the page fits.
    const scaledDown = !(pixels <= request.maxPixels)
    if (scaledDown) scale *= Math.sqrt(request.maxPixels / Math.max(pixels, 1)) * 0.999
    if (!Number.isFinite(scale) || scale <= 0) return fail("CorruptPdf", "the page has no usable size (MediaBox)")
    const viewport = page.getViewport({ scale })
    const width = Math.max(1, Math.floor(viewport.width))
    const height = Math.max(1, Math.floor(viewport.height))
    const canvas = createCanvas(width, height)
    const context = canvas.getContext("2d")
    // Pages have no background of their own; vision models expect paper, not transparency.
    context.fillStyle = "#ffffff"
    context.fillRect(0, 0, width, height)
    // @napi-rs/canvas implements the 2D context pdfjs draws with; the DOM types do not know it.
    type RenderParameters = Parameters<pdfjs.PDFPageProxy["render"]>[0]
    await page.render({
      canvasContext: context as unknown as RenderParameters["canvasContext"],
      canvas: canvas as unknown as RenderParameters["canvas"],
      viewport
    }).promise
    const png = new Uint8Array(await canvas.encode("png"))
    return { ok: true, op: "render", png, width, height, dpi: scale * 72, scaledDown, text }
  } catch (cause) {
    return fail("RenderFailed", cause)
  } finally {
    page.cleanup()
  }
}

process.on("message", (request: Request) => {
  const reply = request.op === "open" ? open(request) : render(request)
  void reply.then((r) => process.send?.(r))
})
// The pool went away (serve ended, even by SIGKILL): so does this renderer.
process.on("disconnect", () => process.exit(0))
