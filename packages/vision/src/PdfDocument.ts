/**
 * An open PDF, rendered by a small pool of worker threads (pdfjs-dist drawing into an
 * @napi-rs/canvas). Each worker holds its own copy of the document; a page that times out or
 * crashes its worker (heap cap) kills that worker alone, and the next page gets a fresh one.
 * Closing the scope terminates every worker.
 */
import { Effect, type Scope } from "effect"
import { Worker } from "node:worker_threads"
import type { Reply, Request } from "./internal/RenderProtocol.ts"
import { DEFAULT_DPI, type Limits } from "./Limits.ts"
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
  /** How many pages may render at once (one worker each). */
  readonly concurrency?: number | undefined
}

/** The PDF signature must sit in the first KiB (the spec lets junk precede it). */
export const isPdf = (bytes: Uint8Array): boolean =>
  Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024)).includes("%PDF-")

export const MIN_WORKER_MEMORY_MB = 128

const workerUrl = new URL("./internal/renderWorker.ts", import.meta.url)

export const open = (bytes: Uint8Array, source: string, options: OpenOptions): Effect.Effect<PdfDocument, VisionError, Scope.Scope> =>
  Effect.gen(function*() {
    const { limits } = options
    if (!isPdf(bytes)) {
      return yield* new VisionError({ reason: "UnsupportedFormat", source, message: `${source} is not a PDF (no %PDF- header)` })
    }
    const live = new Set<Worker>()
    const idle: Array<Worker> = []
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([...live].map((w) => w.terminate()))))

    const kill = (worker: Worker) =>
      Effect.sync(() => {
        live.delete(worker)
        void worker.terminate()
      })

    /** One request to one worker; a timeout or a crash kills the worker. */
    const call = (worker: Worker, request: Request, page?: number): Effect.Effect<Reply & { ok: true }, VisionError> =>
      Effect.async<Reply, VisionError>((resume) => {
        const onMessage = (reply: Reply) => done(Effect.succeed(reply))
        const onError = (error: Error & { code?: string }) =>
          done(Effect.fail(failure(
            "RenderFailed",
            error.code === "ERR_WORKER_OUT_OF_MEMORY"
              ? `the renderer ran out of memory (workerMemoryMb: ${Math.max(MIN_WORKER_MEMORY_MB, limits.workerMemoryMb)})`
              : `the renderer failed: ${error.message}`,
            page
          )))
        const onExit = (code: number) => done(Effect.fail(failure("RenderFailed", `the renderer exited (code ${code})`, page)))
        const detach = () => {
          worker.off("message", onMessage)
          worker.off("error", onError)
          worker.off("exit", onExit)
        }
        const done = (result: Effect.Effect<Reply, VisionError>) => {
          detach()
          resume(result)
        }
        worker.on("message", onMessage)
        worker.on("error", onError)
        worker.on("exit", onExit)
        worker.postMessage(request)
        return Effect.sync(detach)
      }).pipe(
        Effect.timeoutFail({
          duration: limits.renderTimeoutMs,
          onTimeout: () =>
            failure(
              "RenderTimeout",
              `${page === undefined ? "opening the PDF" : `page ${page}`} took longer than ${limits.renderTimeoutMs} ms (renderTimeoutMs)`,
              page
            )
        }),
        Effect.tapError((e) => e.reason === "RenderTimeout" || e.reason === "RenderFailed" ? kill(worker) : Effect.void),
        Effect.onInterrupt(() => kill(worker)),
        Effect.flatMap((reply) => reply.ok ? Effect.succeed(reply) : Effect.fail(failure(reply.reason, reply.message, page)))
      )

    const failure = (reason: VisionError["reason"], message: string, page?: number) =>
      new VisionError({
        reason,
        source,
        message: reason === "Encrypted"
          ? `${source} is encrypted: give its password (the \`password\` option)`
          : reason === "WrongPassword"
          ? `${source}: the password does not open this PDF`
          : reason === "CorruptPdf" && page === undefined
          ? `${source} cannot be read as a PDF (truncated or damaged): ${message}`
          : `${source}${page === undefined ? "" : ` page ${page}`}: ${message}`,
        ...(page === undefined ? {} : { page })
      })

    const spawn = Effect.gen(function*() {
      // Below about 64 MiB V8 cannot even start the isolate, and that failure is fatal to the whole process.
      const heap = Math.max(MIN_WORKER_MEMORY_MB, limits.workerMemoryMb)
      const worker = new Worker(workerUrl, { resourceLimits: { maxOldGenerationSizeMb: heap } })
      live.add(worker)
      const opened = yield* call(worker, {
        op: "open",
        data: bytes.slice(),
        maxImagePixels: limits.maxPdfImagePixels,
        ...(options.password === undefined ? {} : { password: options.password })
      }).pipe(Effect.tapError(() => kill(worker)))
      return { worker, pages: opened.op === "open" ? opened.pages : 0 }
    })

    const first = yield* spawn
    idle.push(first.worker)
    const pageCount = first.pages
    if (pageCount === 0) return yield* new VisionError({ reason: "NoPages", source, message: `${source} has no pages` })
    if (pageCount > limits.maxPages) {
      return yield* new VisionError({
        reason: "TooManyPages",
        source,
        message: `${source} has ${pageCount} pages, over the ${limits.maxPages} page limit (maxPages)`
      })
    }

    const permits = yield* Effect.makeSemaphore(Math.max(1, options.concurrency ?? 1))
    const withWorker = <A>(use: (worker: Worker) => Effect.Effect<A, VisionError>) =>
      permits.withPermits(1)(
        Effect.gen(function*() {
          const worker = idle.pop() ?? (yield* Effect.map(spawn, (s) => s.worker))
          return yield* use(worker).pipe(Effect.ensuring(Effect.sync(() => {
            if (live.has(worker)) idle.push(worker)
          })))
        })
      )

    const checkPage = (page: number) =>
      Number.isInteger(page) && page >= 1 && page <= pageCount
        ? Effect.void
        : Effect.fail(
          new VisionError({
            reason: "BadPageRange",
            source,
            message: `${source} has no page ${page}: it has ${pageCount} page${pageCount === 1 ? "" : "s"}`
          })
        )

    return {
      source,
      pageCount,
      text: (page) =>
        Effect.zipRight(
          checkPage(page),
          withWorker((worker) => Effect.map(call(worker, { op: "text", page }, page), (r) => r.op === "text" ? r.text : ""))
        ),
      render: (page, dpi = DEFAULT_DPI) =>
        Effect.zipRight(
          checkPage(page),
          withWorker((worker) =>
            Effect.gen(function*() {
              const started = performance.now()
              const reply = yield* call(worker, { op: "render", page, dpi, maxPixels: limits.maxPagePixels }, page)
              if (reply.op !== "render") return yield* failure("RenderFailed", "the renderer answered out of turn", page)
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
            })
          )
        )
    } satisfies PdfDocument
  })
