/**
 * Native vision endpoints over the app's vision service (packages/vision), which the app
 * hands in; the gateway itself does not load image or PDF machinery.
 *
 *   POST /v1/vision/describe   an image as the raw body (Content-Type image/*), a multipart
 *                              form (`curl -F image=@photo.jpg -F prompt=...`), or JSON
 *                              {"image": "<data URL or base64>", "prompt", "length", "category"};
 *                              prompt/length/category also as query parameters for raw uploads
 *                              -> {"answer","backend","model","image":{width,height,mime},"attempts"}
 *   POST /v1/vision/pdf        a PDF as the raw body (application/pdf), a multipart form
 *                              (`-F pdf=@report.pdf`), or JSON {"pdf": ...};
 *                              pages ("1-3,7"), prompt, category, dpi as query or JSON fields
 *                              -> NDJSON: {"type":"opened"}, one {"type":"page"} or
 *                                 {"type":"page_error"} per page in order, {"type":"finished"}
 *
 * Uploads are always handed over as bytes, never as a path: a caller must not be able to
 * make the gateway read a file on this machine.
 */
import type { Trace } from "@local-router/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { Scope } from "effect/Scope"
import * as MP from "effect/http/MultipartParser"
import type { IncomingMessage } from "node:http"
import * as Answered from "../Answered.ts"
import * as ApiError from "../ApiError.ts"
import type * as Handler from "../Handler.ts"
import * as ImageInput from "../ImageInput.ts"
import * as RequestBody from "../RequestBody.ts"
import * as RequestLog from "../RequestLog.ts"

/** A failure of the vision service: a VisionError (the file) or a RouteError (no backend). */
export interface Failure {
  readonly _tag: string
  readonly reason: string
  readonly message: string
  readonly page?: number | undefined
  readonly trace?: Trace.Trace | undefined
}

export interface ImageAnswer {
  readonly answer: string
  readonly backend: string
  readonly model: string
  readonly trace: Trace.Trace
  readonly image: { readonly width: number; readonly height: number; readonly mime: string }
}

export interface PageResult {
  readonly page: number
  readonly path: string
  readonly text: string
  readonly answer: string
  readonly backend: string
  readonly model: string
  readonly trace: Trace.Trace
}

export type PdfEvent =
  | { readonly _tag: "Opened"; readonly pageCount: number; readonly pages: ReadonlyArray<number> }
  | { readonly _tag: "PageStarted" | "PageRendered" }
  | { readonly _tag: "PageDone"; readonly page: number; readonly index: number; readonly of: number; readonly result: PageResult }
  | { readonly _tag: "PageFailed"; readonly page: number; readonly index: number; readonly of: number; readonly error: Failure }
  | { readonly _tag: "Finished"; readonly pages: number; readonly succeeded: number; readonly failed: number; readonly durationMs: number }

/** What the gateway needs of packages/vision's `Vision.Service` (which fits as is). */
export interface VisionService {
  readonly describeImage: (
    input: Uint8Array,
    options?: { readonly prompt?: string | undefined; readonly length?: "short" | "normal" | "long" | undefined; readonly category?: string | undefined }
  ) => Effect.Effect<ImageAnswer, Failure>
  readonly processPdf: (
    input: Uint8Array,
    options?: {
      readonly pages?: string | undefined
      readonly prompt?: string | undefined
      readonly category?: string | undefined
      readonly dpi?: number | undefined
      readonly password?: string | undefined
    }
  ) => Stream.Stream<PdfEvent, Failure>
}

/** How a vision failure reaches the caller. */
export const fromFailure = (failure: Failure): ApiError.ApiError => {
  const trace = failure.trace ? { trace: failure.trace } : {}
  if (failure._tag === "RouteError") {
    const reason = failure.reason === "UnknownCategory" || failure.reason === "UnknownBackend"
      ? "UnknownModel"
      : failure.reason === "NoCandidates"
      ? "Unavailable"
      : failure.reason === "AllFailed" || failure.reason === "StreamFailed"
      ? "AllFailed"
      : failure.reason === "BadRequest"
      ? "Rejected"
      : "InvalidRequest"
    return new ApiError.ApiError({ reason, message: failure.message, ...trace })
  }
  switch (failure.reason) {
    case "TooLarge":
    case "ImageTooLarge":
      return new ApiError.ApiError({ reason: "TooLarge", message: failure.message })
    case "RenderTimeout":
    case "RenderFailed":
      return new ApiError.ApiError({ reason: "Unprocessable", message: failure.message })
    default:
      return new ApiError.ApiError({ reason: "InvalidRequest", message: failure.message })
  }
}

export interface Upload {
  readonly bytes: Uint8Array
  readonly fields: Readonly<Record<string, unknown>>
}

/**
 * The upload and its fields: a JSON body carries the file under `key` (data URL or base64)
 * with the fields beside it; any other body is the file itself, with fields in the query.
 */
export const upload = (
  contentType: string | undefined,
  body: Buffer,
  query: URLSearchParams,
  key: "image" | "pdf"
): Result.Result<Upload, ApiError.ApiError> => {
  if (contentType?.startsWith("application/json")) {
    let value: unknown
    try {
      value = JSON.parse(body.toString("utf8"))
    } catch (cause) {
      return Result.fail(new ApiError.ApiError({ reason: "BadJson", message: `the request body is not valid JSON: ${(cause as Error).message}` }))
    }
    const fields = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>
    const file = fields[key]
    if (typeof file !== "string") return Result.fail(ApiError.invalid(`${key} must be a data URL or base64 string`))
    if (key === "image") {
      const image = ImageInput.fromBase64(file)
      return Result.isFailure(image) ? Result.fail(ApiError.invalid(`${key}: ${image.failure}`)) : Result.succeed({ bytes: image.success.data, fields })
    }
    const comma = file.startsWith("data:") ? file.indexOf(",") : -1
    return Result.succeed({ bytes: Buffer.from(file.slice(comma + 1), "base64"), fields })
  }
  if (body.length === 0) return Result.fail(ApiError.invalid(`send the ${key} as the request body, or JSON {"${key}": "<data URL>"}`))
  return Result.succeed({ bytes: body, fields: Object.fromEntries(query) })
}

/**
 * A multipart form upload, read whole under the size limit and then parsed (Effect's own
 * multipart parser, effect/http/MultipartParser): the first file part is the upload, text fields are its
 * options. A body that ends before its closing boundary, or never had one, is a 400, never a
 * parser left waiting for more.
 */
export const multipart = (
  request: IncomingMessage,
  key: "image" | "pdf",
  maxBytes: number
): Effect.Effect<Upload, ApiError.ApiError> =>
  Effect.flatMap(RequestBody.bytes(request, maxBytes), (body) => Effect.fromResult(form(request.headers["content-type"] ?? "", body, key)))

export const form = (contentType: string, body: Uint8Array, key: "image" | "pdf"): Result.Result<Upload, ApiError.ApiError> => {
  const fields: Record<string, string> = {}
  let file: Array<Uint8Array> | undefined
  let outcome: "done" | MP.MultipartError | undefined
  const parser = MP.make({
    headers: { "content-type": contentType },
    onField: (info, value) => {
      fields[info.name] = MP.decodeField(info, value)
    },
    onFile: () => {
      if (file !== undefined) return () => {}
      const chunks: Array<Uint8Array> = []
      file = chunks
      return (chunk) => {
        if (chunk !== null) chunks.push(chunk)
      }
    },
    onError: (error) => {
      outcome ??= error
    },
    onDone: () => {
      outcome ??= "done"
    }
  })
  parser.write(body)
  parser.end()
  if (outcome !== "done") {
    // The parser reports neither an error nor the end for a body cut inside a part's headers.
    return Result.fail(ApiError.invalid(`the multipart form could not be read (${outcome?._tag ?? "EndNotReached"}): is it cut short?`))
  }
  return file === undefined
    ? Result.fail(ApiError.invalid(`the form has no file part: send the ${key} as a file (-F ${key}=@file)`))
    : Result.succeed({ bytes: Buffer.concat(file), fields })
}

const text = (fields: Upload["fields"], key: string): string | undefined => {
  const value = fields[key]
  return typeof value === "string" && value !== "" ? value : undefined
}

const lengthOf = (value: string | undefined) =>
  value === "short" || value === "normal" || value === "long" ? value : undefined

export const describe = (
  service: VisionService,
  input: Upload,
  started: number,
  log?: RequestLog.RequestLog
): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError> =>
  Effect.suspend(() => {
    const asked = performance.now()
    return service.describeImage(input.bytes, {
      prompt: text(input.fields, "prompt"),
      length: lengthOf(text(input.fields, "length")),
      category: text(input.fields, "category")
    }).pipe(
      Effect.tapError((failure) =>
        Effect.sync(() => {
          if (!log || !failure.trace) return
          const error = fromFailure(failure)
          log.record(RequestLog.entry({ endpoint: "vision_image", started, committed: undefined, status: ApiError.status(error.reason), outcome: "failed", bytes: 0, trace: failure.trace }))
        })
      ),
      Effect.mapError(fromFailure),
      Effect.map((answer) => {
        const routerMs = performance.now() - asked
        const body = JSON.stringify({
          answer: answer.answer,
          backend: answer.backend,
          model: answer.model,
          image: answer.image,
          attempts: answer.trace.attempts
        })
        log?.record(RequestLog.entry({ endpoint: "vision_image", started, committed: undefined, status: 200, outcome: "answered", bytes: Buffer.byteLength(body), trace: answer.trace }))
        return HttpServerResponse.text(
          body,
          {
            contentType: "application/json; charset=utf-8",
            headers: Answered.headers(
              { backend: answer.backend, model: answer.model, attempts: answer.trace.attempts.length },
              performance.now() - started - routerMs,
              routerMs
            )
          }
        )
      })
    )
  })

/**
 * A page's answer in the request log: each page is a routed request of its own (its category,
 * backend, model and attempts); its time is the router's for that page.
 */
const logPage = (log: RequestLog.RequestLog | undefined, event: PdfEvent, bytes: number) => {
  if (!log) return
  const page = event._tag === "PageDone" ? { trace: event.result.trace, status: 200, outcome: "answered" as const }
    : event._tag === "PageFailed" && event.error.trace
    ? { trace: event.error.trace, status: ApiError.status(fromFailure(event.error).reason), outcome: "failed" as const }
    : undefined
  if (!page) return
  log.record(RequestLog.entry({ endpoint: "vision_pdf", started: performance.now() - page.trace.durationMs, committed: undefined, status: page.status, outcome: page.outcome, bytes, trace: page.trace }))
}

const line = (event: PdfEvent): string => {
  switch (event._tag) {
    case "Opened":
      return `${JSON.stringify({ type: "opened", pageCount: event.pageCount, pages: event.pages })}\n`
    case "PageDone": {
      const { result } = event
      return `${JSON.stringify({
        type: "page",
        page: event.page,
        index: event.index,
        of: event.of,
        answer: result.answer,
        text: result.text,
        path: result.path,
        backend: result.backend,
        model: result.model,
        attempts: result.trace.attempts
      })}\n`
    }
    case "PageFailed": {
      const error = fromFailure(event.error)
      return `${JSON.stringify({ type: "page_error", page: event.page, index: event.index, of: event.of, reason: error.reason, message: error.message })}\n`
    }
    case "Finished":
      return `${JSON.stringify({ type: "finished", pages: event.pages, succeeded: event.succeeded, failed: event.failed, durationMs: event.durationMs })}\n`
    default:
      return ""
  }
}

/**
 * The PDF's pages as NDJSON. The response starts once the PDF has opened, so a file that
 * cannot be read is an ordinary HTTP error; after that each page reports its own outcome.
 */
export const pdf = (
  service: VisionService,
  input: Upload,
  started: number,
  log?: RequestLog.RequestLog
): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError.ApiError, Scope> =>
  Effect.gen(function*() {
    const dpi = Number(input.fields.dpi)
    const pull = yield* Stream.toPull(service.processPdf(input.bytes, {
      pages: text(input.fields, "pages"),
      prompt: text(input.fields, "prompt"),
      category: text(input.fields, "category"),
      password: text(input.fields, "password"),
      dpi: Number.isFinite(dpi) && dpi > 0 ? dpi : undefined
    }))
    const first = yield* pull.pipe(
      Effect.mapError((error) =>
        Cause.isDone(error) ? new ApiError.ApiError({ reason: "Internal", message: "the PDF produced no events" }) : fromFailure(error)
      )
    )
    let ended = false
    // Each pull gives the lines of the events that arrived; the stream ends when the PDF's does (Done).
    const rest = Stream.fromIterableEffectRepeat(Effect.suspend((): Effect.Effect<ReadonlyArray<Uint8Array>, Cause.Done> => {
      if (ended) return Cause.done()
      return Effect.matchEffect(pull, {
        onFailure: (failure) => {
          if (Cause.isDone(failure)) return Cause.done()
          ended = true
          const error = fromFailure(failure)
          return Effect.succeed([Buffer.from(`${JSON.stringify({ type: "error", reason: error.reason, message: error.message })}\n`)])
        },
        onSuccess: (events) => {
          let out = ""
          for (const event of events) {
            const text = line(event)
            logPage(log, event, Buffer.byteLength(text))
            out += text
          }
          return Effect.succeed(out === "" ? [] : [Buffer.from(out)])
        }
      })
    }))
    let head = ""
    for (const event of first) {
      const text = line(event)
      logPage(log, event, Buffer.byteLength(text))
      head += text
    }
    return HttpServerResponse.stream(Stream.concat(Stream.make<[Uint8Array]>(Buffer.from(head)), rest), {
      contentType: "application/x-ndjson",
      headers: { ...Answered.timing(performance.now() - started), "cache-control": "no-cache" }
    })
  })

/**
 * The route for `kind` (`image`: describe, `pdf`): the upload as a multipart form, or as the raw
 * body or JSON, handed to the app's vision service; 404 when the app plugs in none.
 */
export const handle = (kind: "image" | "pdf"): Handler.Handler => {
  const endpoint = `vision_${kind}`
  const answer = kind === "image" ? describe : pdf
  return (ctx, request, started) => {
    const vision = ctx.vision
    if (!vision) {
      return Effect.fail(new ApiError.ApiError({ reason: "NotFound", message: "the vision endpoints are not enabled in this local-router" }))
    }
    const type = request.headers["content-type"]
    const form = type?.startsWith("multipart/form-data") ? multipart(request.source, kind, ctx.maxBodyBytes) : undefined
    if (form) return Effect.flatMap(form, (input) => answer(vision, input, started, ctx.log))
    return Effect.flatMap(RequestBody.bytes(request.source, ctx.maxBodyBytes), (body) => {
      const q = request.url.indexOf("?")
      const input = upload(request.headers["content-type"], body, new URLSearchParams(q < 0 ? "" : request.url.slice(q + 1)), kind)
      if (Result.isFailure(input)) return Effect.fail(input.failure)
      return answer(vision, input.success, started, ctx.log)
    }).pipe(
      Effect.tapError((error) => Effect.sync(() => ctx.metrics.request(endpoint, ApiError.status(error.reason), (performance.now() - started) / 1000, 0))),
      Effect.tap((response) => Effect.sync(() => ctx.metrics.request(endpoint, response.status, (performance.now() - started) / 1000, 0)))
    )
  }
}
