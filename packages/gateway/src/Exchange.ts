/**
 * One routed exchange, whatever the API dialect: hand the request to the router, time the
 * gateway's own share, record metrics, and answer in the dialect's shape.
 *
 * Streams keep the router's commit gate visible on the wire: the response status and headers
 * are written only once the router has committed to a backend (its first token), so a
 * failure before that is still an ordinary HTTP error the client's library understands.
 * After that a failure is the dialect's explicit error frame and the body ends without its
 * clean terminator. The response body pulls events straight from the router (`Router.pull`, no
 * Stream in between), so a client that disconnects interrupts the pull and closes the answer,
 * and with it the upstream request.
 */
import { Router } from "@local-router/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { Scope } from "effect/Scope"
import type { ServerResponse } from "node:http"
import * as Answered from "./Answered.ts"
import * as ApiError from "./ApiError.ts"
import type { Metrics } from "./Metrics.ts"
import * as RequestLog from "./RequestLog.ts"

export interface Context {
  readonly router: Router.Router
  readonly metrics: Metrics
  /** Recent requests for the status page (never their text). */
  readonly log: RequestLog.RequestLog
  /** `performance.now()` when the request arrived. */
  readonly started: number
  /** Metrics label for the endpoint. */
  readonly endpoint: string
  /** Renders an error in the dialect's shape. */
  readonly error: (error: ApiError.ApiError, headers?: Record<string, string>) => HttpServerResponse.HttpServerResponse
  /** Known model names for an unknown-model error (read only when needed). */
  readonly known: Effect.Effect<ReadonlyArray<string>>
  /** The `model` as the caller wrote it. */
  readonly model: string
  /** The node response, which a stream is written to directly. */
  readonly response: ServerResponse
  /** Headers every response to this request carries (CORS). */
  readonly headers: Readonly<Record<string, string>>
}

/** Writes a dialect's stream from router events. One instance per response. */
export interface StreamEncoder {
  /** Frames for a batch of events after the commit ("" when there is nothing to send). */
  readonly events: (events: Chunk.Chunk<Router.Event>) => string
  /** The explicit error frame that ends a stream which failed after the commit. */
  readonly failed: (error: ApiError.ApiError) => string
}

/** Waits until a full response socket drains, or closes. */
export const drain = (res: ServerResponse): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    // Both listeners go whichever fires: a long answer to a slow client waits here many times.
    const off = () => {
      res.off("drain", go)
      res.off("close", go)
    }
    const go = () => {
      off()
      resume(Effect.void)
    }
    res.once("drain", go)
    res.once("close", go)
    return Effect.sync(off)
  })

/** A rendered body's size (error bodies are whole bytes; anything else counts 0). */
const bodyBytes = (response: HttpServerResponse.HttpServerResponse): number =>
  response.body._tag === "Uint8Array" ? response.body.contentLength : 0

const routeFailure = (context: Context, error: Router.RouteError, routerMs: number) =>
  Effect.map(context.known, (known) => {
    const apiError = ApiError.fromRouteError(error, context.model, known)
    context.metrics.trace(error.trace)
    const gatewayMs = performance.now() - context.started - routerMs
    const response = context.error(apiError, Answered.timing(gatewayMs, routerMs))
    context.metrics.request(context.endpoint, response.status, (performance.now() - context.started) / 1000, gatewayMs / 1000)
    context.log.record(RequestLog.entry({ endpoint: context.endpoint, started: context.started, committed: undefined, status: response.status, outcome: "failed", bytes: bodyBytes(response), trace: error.trace }))
    return response
  })

/** What an answer read whole says about who made it. */
interface Made {
  readonly backend: string
  readonly model: string
  readonly trace: Router.Answer["trace"]
}

/**
 * Answer whole from any routed effect (a chat answer, embeddings); `render` turns it into the
 * dialect's JSON body, or says why the answer cannot be written in the dialect (an error in its
 * shape then, with the same headers). The headers name the backend and model that made it.
 */
export const whole = <A extends Made>(
  context: Context,
  routed: Effect.Effect<A, Router.RouteError>,
  render: (answer: A) => string | ApiError.ApiError
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.suspend(() => {
    const routeStarted = performance.now()
    return Effect.matchEffect(routed, {
      onFailure: (error) => routeFailure(context, error, performance.now() - routeStarted),
      onSuccess: (answer) =>
        Effect.sync(() => {
          const routed = performance.now()
          const body = render(answer)
          const end = performance.now()
          const gatewayMs = routeStarted - context.started + (end - routed)
          const headers = Answered.headers(
            { backend: answer.backend, model: answer.model, attempts: answer.trace.attempts.length },
            gatewayMs,
            routed - routeStarted
          )
          const response = typeof body === "string"
            ? HttpServerResponse.text(body, { contentType: "application/json; charset=utf-8", headers })
            : context.error(body, headers)
          context.metrics.trace(answer.trace)
          context.metrics.request(context.endpoint, response.status, (end - context.started) / 1000, gatewayMs / 1000)
          context.log.record(RequestLog.entry({
            endpoint: context.endpoint,
            started: context.started,
            committed: undefined,
            status: response.status,
            outcome: typeof body === "string" ? "answered" : "failed",
            bytes: bodyBytes(response),
            trace: answer.trace
          }))
          return response
        })
    })
  })

/** Answer a chat request whole; `render` turns the answer into the dialect's JSON body (or why it cannot). */
export const run = (
  context: Context,
  request: Router.Request,
  render: (answer: Router.Answer) => string | ApiError.ApiError
): Effect.Effect<HttpServerResponse.HttpServerResponse> => whole(context, context.router.run(request), render)

/**
 * Answer as a stream in `contentType`; `encoder` is made once the backend is known.
 *
 * The frames are written straight to the node response as the router's events arrive (the
 * platform then finds the response ended and leaves it): running them through an Effect Stream
 * body cost more than a millisecond before the first token reached the client. A client that
 * goes away interrupts this fiber (the platform does that), and with it the router's pull and
 * the upstream request; a slow client is waited for ('drain') rather than buffered without end.
 */
export const stream = (
  context: Context,
  request: Router.Request,
  contentType: string,
  encoder: (routed: Router.Event & { readonly _tag: "Routed" }) => StreamEncoder
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope> =>
  Effect.gen(function*() {
    const routeStarted = performance.now()
    const answer = context.router.pull(request)
    yield* Effect.addFinalizer(() => Effect.sync(answer.close))
    const first = yield* Effect.result(answer.pull)
    const committed = performance.now()
    if (first._tag === "Failure") return yield* routeFailure(context, first.failure, committed - routeStarted)
    if (first.success === undefined) {
      return context.error(new ApiError.ApiError({ reason: "Internal", message: "the router ended the stream without an answer" }))
    }
    const head = Chunk.fromArrayUnsafe(first.success)
    const routed = Chunk.headUnsafe(head)
    if (routed._tag !== "Routed") {
      return context.error(new ApiError.ApiError({ reason: "Internal", message: "the router's stream did not start with its commit" }))
    }
    const frames = encoder(routed)
    // Bytes of frames written, for the request log; a Done is logged once its frames are out.
    let sent = 0
    let done: Router.Event & { readonly _tag: "Done" } | undefined
    const watch = (events: Chunk.Chunk<Router.Event>) => {
      const last = Chunk.lastUnsafe(events)
      if (last._tag === "Done") {
        context.metrics.trace(last.trace)
        done = last
      }
    }
    watch(head)
    const gatewayMs = routeStarted - context.started + (performance.now() - committed)
    context.metrics.firstToken(routed.backend, (committed - context.started) / 1000)
    context.metrics.request(context.endpoint, 200, (committed - context.started) / 1000, gatewayMs / 1000)
    const res = context.response
    res.writeHead(200, {
      ...context.headers,
      ...Answered.headers({ backend: routed.backend, model: routed.model, attempts: routed.attempt }, gatewayMs, committed - routeStarted),
      "content-type": contentType,
      "cache-control": "no-cache",
      "x-accel-buffering": "no"
    })
    const drained = drain(res)
    /** Write frames; wait while the client's socket is full. */
    const write = (text: string): Effect.Effect<void> => {
      sent += Buffer.byteLength(text)
      return text === "" || res.write(text) || res.destroyed ? Effect.void : drained
    }
    yield* write(frames.events(head))
    while (true) {
      const next = yield* Effect.result(answer.pull)
      if (next._tag === "Success" && next.success !== undefined) {
        const events = Chunk.fromArrayUnsafe(next.success)
        watch(events)
        yield* write(frames.events(events))
        continue
      }
      if (next._tag === "Failure") {
        const error = next.failure
        context.metrics.trace(error.trace)
        const known = yield* context.known
        const frame = frames.failed(ApiError.fromRouteError(error, context.model, known))
        // Logged before the end goes out: whoever reads the log on seeing the end finds the line.
        context.log.record(RequestLog.entry({ endpoint: context.endpoint, started: context.started, committed, status: 200, outcome: "cut", bytes: sent + Buffer.byteLength(frame), trace: error.trace }))
        res.end(frame)
      } else {
        if (done) context.log.record(RequestLog.entry({ endpoint: context.endpoint, started: context.started, committed, status: 200, outcome: "answered", bytes: sent, trace: done.trace }))
        res.end()
      }
      // Written and ended: the platform sees the response ended and sends nothing more.
      return HttpServerResponse.empty()
    }
  })
