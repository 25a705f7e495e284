/**
 * An open PDF, rendered by the render processes of a RenderPool (pdfjs-dist drawing into an
 * @napi-rs/canvas). A renderer borrowed for a page opens this document first if it holds another
 * one; a page that times out or crashes its renderer (heap cap) costs that renderer alone, and
 * the next page gets a fresh one.
 */
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import type * as Scope from "effect/Scope"
import { DEFAULT_DPI, type Limits } from "./Limits.ts"
import * as RenderPool from "./RenderPool.ts"
import { VisionError } from "./VisionError.ts"

export interface RenderedPage {
  /** 1-based. */
  readonly page: number
  readonly png: Uint8Array
  readonly width: number
  readonly height: number
  /** The DPI actually used: lower than asked when the page had to fit `maxPagePixels`. */
  readonly dpi: number
  readonly scaledDown: boolean
  /** The page's text layer ("" for a scanned page). */
  readonly text: string
  readonly renderMs: number
}

export interface PdfDocument {
  readonly source: string
  readonly pageCount: number
  /** The page's text layer only, without rendering. */
  readonly text: (page: number) => Effect.Effect<string, VisionError>
  readonly render: (page: number, dpi?: number) => Effect.Effect<RenderedPage, VisionError>
}

export interface OpenOptions {
  readonly limits: Limits
  readonly password?: string | undefined
  /** How many pages of this document may render at once (default 1). */
  readonly concurrency?: number | undefined
  /** Warm workers to borrow; without one, the document starts its own for its scope. */
  readonly pool?: RenderPool.RenderPool | undefined
}

/** The PDF signature must sit in the first KiB (the spec lets junk precede it). */
export const isPdf = (bytes: Uint8Array): boolean =>
  Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024)).includes("%PDF-")

let documents = 0

export const open = (bytes: Uint8Array, source: string, options: OpenOptions): Effect.Effect<PdfDocument, VisionError, Scope.Scope> =>
  Effect.gen(function*() {
    const { limits } = options
    if (!isPdf(bytes)) {
      return yield* new VisionError({ reason: "UnsupportedFormat", source, message: `${source} is not a PDF (no %PDF- header)` })
    }
    const concurrency = Math.max(1, options.concurrency ?? 1)
    const pool = options.pool ?? (yield* RenderPool.make(limits, concurrency))
    const id = ++documents
    const data = bytes.slice()

    const openIn = (worker: RenderPool.PooledWorker) =>
      Effect.gen(function*() {
        worker.loaded = undefined
        const reply = yield* pool.call(worker, {
          op: "open",
          data,
          maxImagePixels: limits.maxPdfImagePixels,
          ...(options.password === undefined ? {} : { password: options.password })
        }, { source }).pipe(Effect.mapError(explainOpen(source)))
        worker.loaded = id
        return reply.op === "open" ? reply.pages : 0
      })

    const pageCount = yield* pool.use(openIn)
    if (pageCount === 0) return yield* new VisionError({ reason: "NoPages", source, message: `${source} has no pages` })
    if (pageCount > limits.maxPages) {
      return yield* new VisionError({
        reason: "TooManyPages",
        source,
        message: `${source} has ${pageCount} pages, over the ${limits.maxPages} page limit (maxPages)`
      })
    }

    const permits = yield* Semaphore.make(concurrency)
    const onPage = <A>(page: number, work: (worker: RenderPool.PooledWorker) => Effect.Effect<A, VisionError>) =>
      Number.isInteger(page) && page >= 1 && page <= pageCount
        ? permits.withPermits(1)(pool.use((worker) =>
          Effect.andThen(worker.loaded === id ? Effect.void : openIn(worker), work(worker))
        ))
        : Effect.fail(
          new VisionError({
            reason: "BadPageRange",
            source,
            page,
            message: `${source} has no page ${page}: it has ${pageCount} page${pageCount === 1 ? "" : "s"}`
          })
        )

    return {
      source,
      pageCount,
      text: (page) =>
        onPage(page, (worker) => Effect.map(pool.call(worker, { op: "text", page }, { source, page }), (r) => r.op === "text" ? r.text : "")),
      render: (page, dpi = DEFAULT_DPI) =>
        onPage(page, (worker) =>
          Effect.gen(function*() {
            const started = performance.now()
            const reply = yield* pool.call(worker, { op: "render", page, dpi, maxPixels: limits.maxPagePixels }, { source, page })
            if (reply.op !== "render") {
              return yield* new VisionError({ reason: "RenderFailed", source, page, message: `${source} page ${page}: the renderer answered out of turn` })
            }
            return {
              page,
              png: reply.png,
              width: reply.width,
              height: reply.height,
              dpi: reply.dpi,
              scaledDown: reply.scaledDown,
              text: reply.text,
              renderMs: performance.now() - started
            }
          }))
    } satisfies PdfDocument
  })

const explainOpen = (source: string) => (error: VisionError): VisionError =>
  error.reason === "Encrypted"
    ? new VisionError({ reason: "Encrypted", source, message: `${source} is encrypted: give its password (the \`password\` option)` })
    : error.reason === "WrongPassword"
    ? new VisionError({ reason: "WrongPassword", source, message: `${source}: the password does not open this PDF` })
    : error.reason === "CorruptPdf"
    ? new VisionError({ reason: "CorruptPdf", source, message: `${source} cannot be read as a PDF (truncated or damaged): ${error.message.slice(source.length + 2)}` })
    : error
