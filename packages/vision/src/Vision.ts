/**
 * The vision service: images and PDF pages in, routed answers out. It owns turning files into
 * what a vision backend can take (sniffed, oriented, scaled to each backend's limits, PDF
 * pages rendered with their text layer) and leaves choosing the backend to core's Router.
 *
 * Failures are `VisionError` (the file) or core's `RouteError` (no backend answered).
 */
import type { Backend, RouteError, Router, RoutingConfig, Trace } from "@local-router/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Input from "./Input.ts"
import * as Limits from "./Limits.ts"
import * as PageRange from "./PageRange.ts"
import type { PageResult } from "./PageResult.ts"
import * as PdfDocument from "./PdfDocument.ts"
import { PdfEvent } from "./PdfEvent.ts"
import * as Picture from "./Picture.ts"
import * as RenderPool from "./RenderPool.ts"
import { VisionError } from "./VisionError.ts"

export interface Settings {
  /** Caps on hostile input; see Limits.defaults. */
  readonly limits?: Partial<Limits.Limits> | undefined
  /** Limits for backends whose routing.yaml entry declares no `images:` (default maxSide 2048). */
  readonly fallbackImageLimits?: Picture.Fit | undefined
  /** Render processes kept warm between documents (default 2; each ends after 10 s idle). */
  readonly renderWorkers?: number | undefined
  /** Share another service's warm workers instead of starting this service's own. */
  readonly pool?: RenderPool.RenderPool | undefined
}

export interface ImageOptions {
  readonly prompt?: string | undefined
  /** Caption length; backends with a caption endpoint (Moondream) use it directly. */
  readonly length?: "short" | "normal" | "long" | undefined
  readonly category?: string | undefined
  readonly options?: Backend.Options | undefined
}

export interface ImageAnswer {
  readonly answer: string
  readonly backend: string
  readonly model: string
  readonly trace: Trace.Trace
  /** The image as loaded (oriented), before scaling to the answering backend's limits. */
  readonly image: { readonly width: number; readonly height: number; readonly mime: Picture.Mime }
}

/** Send pages with a real text layer to a text category instead of rendering them. */
export interface TextFirst {
  /** The text category (default "default"). */
  readonly category?: string | undefined
  /** Letters and digits a page needs for its text layer to count as real (default 100). */
  readonly minChars?: number | undefined
}

export interface PageOptions {
  /** 1-based (default 1). Ignored when the input is already an image of the page. */
  readonly page?: number | undefined
  readonly prompt?: string | undefined
  readonly category?: string | undefined
  readonly dpi?: number | undefined
  readonly password?: string | undefined
  readonly textFirst?: boolean | TextFirst | undefined
  readonly options?: Backend.Options | undefined
}

export interface PdfOptions extends Omit<PageOptions, "page"> {
  /** e.g. "1-3,7" or "5-"; all pages when absent. */
  readonly pages?: string | undefined
  /** Pages rendered and asked at once (default 2). */
  readonly concurrency?: number | undefined
}

export type Failure = VisionError | RouteError.RouteError

export interface Service {
  readonly describeImage: (input: Input.Input, options?: ImageOptions) => Effect.Effect<ImageAnswer, Failure>
  readonly queryImage: (input: Input.Input, question: string, options?: Omit<ImageOptions, "prompt" | "length">) => Effect.Effect<ImageAnswer, Failure>
  readonly processPdfPage: (input: Input.Input, options?: PageOptions) => Effect.Effect<PageResult, Failure>
  readonly processPdf: (input: Input.Input, options?: PdfOptions) => Stream.Stream<PdfEvent, VisionError>
}

export class Vision extends Context.Service<Vision, Service>()("@local-router/vision/Vision") {}

export const DEFAULT_CATEGORY = "vision"
export const DEFAULT_PDF_CATEGORY = "vision_pdf"
export const DEFAULT_TEXT_CATEGORY = "default"
export const DEFAULT_CONCURRENCY = 2
export const DEFAULT_MIN_TEXT_CHARS = 100
/** More text than this is cut before it goes into a prompt, so a dense page cannot blow the context. */
export const MAX_PROMPT_TEXT_CHARS = 8_000

const captionPrompt = {
  short: "Describe this image in one short sentence.",
  normal: "Describe this image.",
  long: "Describe this image in detail."
} as const
const pagePrompt = "This is a page of a document. Summarize what it says and describe any tables, charts or figures on it."

export const DEFAULT_RENDER_WORKERS = 2

/** The service; its render workers live as long as the scope. */
export const make = (router: Router.Router, settings: Settings = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const limits = Limits.resolve(settings.limits)
    const pool = settings.pool ?? (yield* RenderPool.make(limits, settings.renderWorkers ?? DEFAULT_RENDER_WORKERS))
    const fallback = settings.fallbackImageLimits ?? { maxSide: 2048 }

    /** Route one picture; each attempt gets it scaled to that backend's limits (once per limit set). */
    const ask = (picture: Picture.Picture, request: Omit<Router.Request, "messages" | "prepare">, prompt: string) => {
      const fitted = new Map<string, ReadonlyArray<Backend.Message>>()
      const prepare = (backend: RoutingConfig.BackendConfig) =>
        Effect.suspend(() => {
          const wanted = Object.keys(backend.images).length > 0 ? backend.images : fallback
          const key = JSON.stringify(wanted)
          const hit = fitted.get(key)
          if (hit) return Effect.succeed(hit)
          return Picture.fit(picture, wanted).pipe(
            // The picture decoded once already; if scaling still fails, the backend gets it unscaled.
            Effect.catch((error) =>
              Effect.as(Effect.logWarning(`vision: sending the image to ${backend.name} unscaled: ${error.message}`), picture)
            ),
            Effect.map((p) => {
              const messages = [{ role: "user" as const, content: prompt, images: [{ data: p.data, mime: p.mime }] }]
              fitted.set(key, messages)
              return messages
            })
          )
        })
      return router.run({ ...request, messages: [{ role: "user", content: prompt, images: [picture] }], prepare })
    }

    const loadPicture = (input: Input.Input) =>
      Effect.flatMap(Input.read(input, limits.maxFileBytes), ({ bytes, source }) => Picture.fromBytes(bytes, source, limits))

    const imageAnswer = (picture: Picture.Picture, answer: Router.Answer): ImageAnswer => ({
      answer: answer.text,
      backend: answer.backend,
      model: answer.model,
      trace: answer.trace,
      image: { width: picture.width, height: picture.height, mime: picture.mime }
    })

    const describeImage: Service["describeImage"] = (input, options = {}) =>
      Effect.gen(function*() {
        const picture = yield* loadPicture(input)
        const length = options.length ?? "normal"
        const answer = yield* ask(picture, {
          category: options.category ?? DEFAULT_CATEGORY,
          task: { _tag: "Caption", length },
          options: options.options
        }, options.prompt ?? captionPrompt[length])
        return imageAnswer(picture, answer)
      })

    const queryImage: Service["queryImage"] = (input, question, options = {}) =>
      Effect.gen(function*() {
        const picture = yield* loadPicture(input)
        const answer = yield* ask(picture, {
          category: options.category ?? DEFAULT_CATEGORY,
          task: { _tag: "Chat" },
          options: options.options
        }, question)
        return imageAnswer(picture, answer)
      })

    /** One page of an open PDF: text-first when asked and the text layer is real, else render. */
    const page = (
      doc: PdfDocument.PdfDocument,
      page: number,
      options: PageOptions,
      progress: (event: PdfEvent) => Effect.Effect<void>
    ): Effect.Effect<PageResult, Failure> =>
      Effect.gen(function*() {
        const textFirst = options.textFirst === true ? {} : options.textFirst || undefined
        if (textFirst) {
          const text = yield* doc.text(page)
          if (hasTextLayer(text, textFirst.minChars ?? DEFAULT_MIN_TEXT_CHARS)) {
            const answer = yield* router.run({
              category: textFirst.category ?? DEFAULT_TEXT_CATEGORY,
              prompt: `${options.prompt ?? pagePrompt}\n\nThe text of page ${page}:\n${clip(text)}`,
              options: options.options
            })
            return { page, path: "text", text, answer: answer.text, backend: answer.backend, model: answer.model, trace: answer.trace }
          }
        }
        const rendered = yield* doc.render(page, options.dpi ?? Limits.DEFAULT_DPI)
        const { dpi, height, renderMs, scaledDown, width } = rendered
        yield* progress(PdfEvent.PageRendered({ page, width, height, dpi, renderMs }))
        const prompt = options.prompt ?? pagePrompt
        const answer = yield* ask(
          { data: rendered.png, mime: "image/png", width, height },
          { category: options.category ?? DEFAULT_PDF_CATEGORY, task: { _tag: "Chat" }, options: options.options },
          rendered.text ? `${prompt}\n\nThe page's own text layer, which may be incomplete:\n${clip(rendered.text)}` : prompt
        )
        return {
          page,
          path: "vision",
          text: rendered.text,
          answer: answer.text,
          backend: answer.backend,
          model: answer.model,
          trace: answer.trace,
          render: { width, height, dpi, scaledDown, renderMs }
        }
      })

    const openPdf = (bytes: Uint8Array, source: string, options: PageOptions, concurrency: number) =>
      PdfDocument.open(bytes, source, { limits, password: options.password, concurrency, pool })

    const processPdfPage: Service["processPdfPage"] = (input, options = {}) =>
      Effect.scoped(Effect.gen(function*() {
        const { bytes, source } = yield* Input.read(input, limits.maxFileBytes)
        if (!PdfDocument.isPdf(bytes)) {
          // The original API: a page someone else already rendered to an image.
          const picture = yield* Picture.fromBytes(bytes, source, limits)
          const answer = yield* ask(picture, {
            category: options.category ?? DEFAULT_PDF_CATEGORY,
            task: { _tag: "Chat" },
            options: options.options
          }, options.prompt ?? pagePrompt)
          return { page: 1, path: "vision", text: "", answer: answer.text, backend: answer.backend, model: answer.model, trace: answer.trace }
        }
        const doc = yield* openPdf(bytes, source, options, 1)
        return yield* page(doc, options.page ?? 1, options, () => Effect.void)
      }))

    const processPdf: Service["processPdf"] = (input, options = {}) =>
      Stream.unwrap(Effect.gen(function*() {
        const started = performance.now()
        const { bytes, source } = yield* Input.read(input, limits.maxFileBytes)
        const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY)
        const doc = yield* openPdf(bytes, source, options, concurrency)
        const pages = yield* Effect.fromResult(PageRange.parse(options.pages, doc.pageCount)).pipe(
          Effect.mapError((message) => new VisionError({ reason: "BadPageRange", source, message: `${source}: ${message}` }))
        )
        const events = yield* Queue.unbounded<PdfEvent>()
        const emit = (event: PdfEvent) => Queue.offer(events, event)
        yield* emit(PdfEvent.Opened({ source, pageCount: doc.pageCount, pages }))
        let failed = 0
        const of = pages.length
        yield* Stream.fromIterable(pages).pipe(
          Stream.zipWithIndex,
          Stream.mapEffect(([n, i]) =>
            emit(PdfEvent.PageStarted({ page: n, index: i + 1, of })).pipe(
              Effect.andThen(Effect.result(page(doc, n, options, emit))),
              Effect.map(Result.match({
                onFailure: (error) => {
                  failed++
                  return PdfEvent.PageFailed({ page: n, index: i + 1, of, error })
                },
                onSuccess: (result) => PdfEvent.PageDone({ page: n, index: i + 1, of, result })
              }))
            ), { concurrency }),
          Stream.runForEach(emit),
          Effect.andThen(Effect.suspend(() =>
            emit(PdfEvent.Finished({ pages: of, succeeded: of - failed, failed, durationMs: performance.now() - started }))
          )),
          Effect.forkScoped
        )
        return Stream.fromQueue(events).pipe(Stream.takeUntil((event) => event._tag === "Finished"))
      }))

    return { describeImage, queryImage, processPdfPage, processPdf }
  })

export const layer = (router: Router.Router, settings?: Settings): Layer.Layer<Vision> =>
  Layer.effect(Vision, make(router, settings))

/** A real text layer: enough letters and digits, and mostly those (not a broken font's symbols). */
export const hasTextLayer = (text: string, minChars: number = DEFAULT_MIN_TEXT_CHARS): boolean => {
  const visible = text.replace(/\s+/g, "")
  const letters = visible.match(/[\p{L}\p{N}]/gu)?.length ?? 0
  return letters >= minChars && letters >= visible.length * 0.5
}

const clip = (text: string) =>
  text.length <= MAX_PROMPT_TEXT_CHARS ? text : `${text.slice(0, MAX_PROMPT_TEXT_CHARS)}\n[... ${text.length - MAX_PROMPT_TEXT_CHARS} more characters cut]`

// Accessors for Effect callers that provide the layer.
export const describeImage = (input: Input.Input, options?: ImageOptions) =>
  Vision.use((v) => v.describeImage(input, options))
export const queryImage = (input: Input.Input, question: string, options?: Omit<ImageOptions, "prompt" | "length">) =>
  Vision.use((v) => v.queryImage(input, question, options))
export const processPdfPage = (input: Input.Input, options?: PageOptions) =>
  Vision.use((v) => v.processPdfPage(input, options))
export const processPdf = (input: Input.Input, options?: PdfOptions): Stream.Stream<PdfEvent, VisionError, Vision> =>
  Stream.unwrap(Vision.useSync((v) => v.processPdf(input, options)))

