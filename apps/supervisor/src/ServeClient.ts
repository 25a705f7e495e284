/**
 * A question put to a running `local-router serve` through its OpenAI-compatible endpoint
 * (`POST /v1/chat/completions`), read back as the Router's own answer and events, so that `ask`
 * prints the same whichever way it went and the request lands in serve's request log (the
 * status page's list) with its trace.
 *
 * The gateway sends the router's trace as `local_router.trace` (on the completion, and on a
 * stream's finish chunk) and a router failure's own reason and message as
 * `error.local_router.route`: a failure here is the same RouteError the router in this process
 * would have given, so exit codes and messages do not depend on the way taken.
 */
import { type Backend, Router, RouteError, Sse, type Trace } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"

export interface Request {
  readonly prompt: string
  readonly category: string
  readonly system: string | undefined
}

interface Chunk {
  readonly choices?: ReadonlyArray<{
    readonly delta?: { readonly content?: string | null }
    readonly message?: { readonly content?: string | null }
    readonly finish_reason?: string | null
  }>
  readonly usage?: { readonly prompt_tokens?: number; readonly completion_tokens?: number } | null
  readonly local_router?: { readonly trace?: Trace.Trace }
  readonly error?: {
    readonly message?: string
    readonly local_router?: { readonly route?: { readonly reason: RouteError.Reason; readonly message: string }; readonly attempts?: ReadonlyArray<Trace.Attempt> }
  }
}

const emptyTrace = (category: string, attempts: ReadonlyArray<Trace.Attempt> = []): Trace.Trace => ({ category, attempts, configVersion: 0, durationMs: 0 })

/** What went wrong, as the router would have said it; a failure of serve itself in its own words. */
const failure = (url: string, category: string, status: number, body: Chunk | undefined): RouteError.RouteError => {
  const route = body?.error?.local_router?.route
  const trace = emptyTrace(category, body?.error?.local_router?.attempts)
  if (route) return new RouteError.RouteError({ reason: route.reason, message: route.message, trace })
  const said = body?.error?.message ?? `HTTP ${status}`
  return status === 401
    ? new RouteError.RouteError({ reason: "InvalidRequest", message: `serve at ${url} needs its token: set LOCAL_ROUTER_TOKEN (or the variable server.token names)`, trace })
    : new RouteError.RouteError({ reason: status >= 500 ? "AllFailed" : "InvalidRequest", message: `serve at ${url} answered ${status}: ${said}`, trace })
}

const unreachable = (url: string, category: string, error: unknown) =>
  new RouteError.RouteError({
    reason: "AllFailed",
    message: `serve at ${url} stopped answering: ${error instanceof Error ? error.message : String(error)}`,
    trace: emptyTrace(category)
  })

const usageOf = (usage: Chunk["usage"]): Backend.Usage => ({
  ...(usage?.prompt_tokens === undefined ? {} : { inputTokens: usage.prompt_tokens }),
  ...(usage?.completion_tokens === undefined ? {} : { outputTokens: usage.completion_tokens })
})

const finishOf = (reason: string | null | undefined): Backend.FinishReason => (reason === "length" ? "length" : "stop")

const post = (url: string, headers: Record<string, string>, request: Request, stream: boolean, signal?: AbortSignal) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({
      model: request.category,
      messages: [...(request.system === undefined ? [] : [{ role: "system", content: request.system }]), { role: "user", content: request.prompt }],
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {})
    }),
    ...(signal ? { signal } : {})
  })

const errorBody = (response: Response): Promise<Chunk | undefined> => response.json().then((b) => b as Chunk, () => undefined)

/** The whole answer, as `Router.run` gives it. */
export const run = (url: string, headers: Record<string, string>, request: Request): Effect.Effect<Router.Answer, RouteError.RouteError> =>
  Effect.flatten(Effect.tryPromise({
    try: async (signal) => {
      const response = await post(url, headers, request, false, signal)
      if (!response.ok) return Effect.fail(failure(url, request.category, response.status, await errorBody(response)))
      const body = (await response.json()) as Chunk
      const trace = body.local_router?.trace ?? emptyTrace(request.category)
      return Effect.succeed<Router.Answer>({
        text: body.choices?.[0]?.message?.content ?? "",
        // `ask` sends neither tools nor a reasoning request: its answers carry neither.
        reasoning: "",
        toolCalls: [],
        backend: response.headers.get("x-local-router-backend") ?? trace.backend ?? "",
        model: response.headers.get("x-local-router-model") ?? trace.model ?? "",
        finishReason: finishOf(body.choices?.[0]?.finish_reason),
        usage: usageOf(body.usage),
        trace
      })
    },
    catch: (error) => unreachable(url, request.category, error)
  }))

/** The answer's events, as `Router.stream` gives them: Routed, TextDelta..., then Done with the trace. */
export const stream = (url: string, headers: Record<string, string>, request: Request): Stream.Stream<Router.Event, RouteError.RouteError> =>
  Stream.unwrap(Effect.gen(function*() {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const response = yield* Effect.tryPromise({
      try: () => post(url, headers, request, true, controller.signal),
      catch: (error) => unreachable(url, request.category, error)
    })
    if (!response.ok || !response.body) {
      return yield* Effect.flatMap(Effect.promise(() => errorBody(response)), (body) => Effect.fail(failure(url, request.category, response.status, body)))
    }
    const routed = Router.Event.Routed({
      backend: response.headers.get("x-local-router-backend") ?? "",
      model: response.headers.get("x-local-router-model") ?? "",
      attempt: Number(response.headers.get("x-local-router-attempts") ?? 1)
    })
    const body = response.body
    const events = async function*(): AsyncGenerator<Router.Event> {
      const decoder = Sse.decoder({ backend: "local-router serve" })
      let finishReason: Backend.FinishReason = "stop"
      let usage: Backend.Usage = {}
      let trace: Trace.Trace | undefined
      for await (const bytes of body) {
        const frames = decoder.feed(bytes)
        if (Result.isFailure(frames)) throw frames.failure
        for (const frame of frames.success) {
          if (frame.data === "[DONE]") {
            yield Router.Event.Done({ finishReason, usage, trace: trace ?? emptyTrace(request.category) })
            return
          }
          const chunk = JSON.parse(frame.data) as Chunk
          if (chunk.error) throw failure(url, request.category, 502, chunk)
          const choice = chunk.choices?.[0]
          if (choice?.delta?.content) yield Router.Event.TextDelta({ text: choice.delta.content })
          if (choice?.finish_reason) finishReason = finishOf(choice.finish_reason)
          if (chunk.local_router?.trace) trace = chunk.local_router.trace
          if (chunk.usage) usage = usageOf(chunk.usage)
        }
      }
      throw new RouteError.RouteError({
        reason: "StreamFailed",
        message: `serve at ${url} ended the answer before it was complete`,
        trace: trace ?? emptyTrace(request.category)
      })
    }
    return Stream.concat(
      Stream.make(routed),
      // Past the headers serve has committed to a backend: anything else that breaks the answer now
      // (a dropped connection, a frame that is not JSON) is a failure after the start.
      Stream.fromAsyncIterable(events(), (error) =>
        error instanceof RouteError.RouteError ? error : new RouteError.RouteError({
          reason: "StreamFailed",
          message: `serve at ${url} broke off the answer: ${error instanceof Error ? error.message : String(error)}`,
          trace: emptyTrace(request.category)
        }))
    )
  }))
