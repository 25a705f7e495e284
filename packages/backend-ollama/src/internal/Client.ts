/**
 * ollama-js on core's wire. ollama-js builds the requests and reads the NDJSON semantics
 * (`done`, `success`, an `{"error"}` line, no `done` at EOF), but the HTTP underneath is
 * core's: its `fetch` is HttpCall (connection errors and statuses mapped to reasons once for
 * every backend, Retry-After kept) and every NDJSON body passes core's Ndjson reader first,
 * because ollama-js skips a line that is not JSON with a console warning — a token lost in
 * silence. A bad line fails the body with Upstream instead.
 *
 * Cancellation: ollama-js takes no AbortSignal on non-streaming calls and aborts streams
 * only through its own iterator (protocols.md §1.15), so every call gets a fresh client whose
 * `fetch` carries our signal; interrupting the Effect aborts the HTTP request and the server
 * sees the connection close (and stops generating).
 */
import { BackendError, HttpCall, Ndjson } from "@local-router/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Ollama } from "ollama"
import * as Failure from "./Failure.ts"

export interface Target {
  /** Base URL, e.g. http://127.0.0.1:11434, without a trailing slash. */
  readonly host: string
  readonly headers: Readonly<Record<string, string | Redacted.Redacted<string>>>
}

const headersOf = (init: RequestInit | undefined): Record<string, string> =>
  init?.headers === undefined ? {} : Object.fromEntries(new Headers(init.headers).entries())

/** Completes when `signal` aborts. */
const aborted = (signal: AbortSignal): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (signal.aborted) return resume(Effect.void)
    const onAbort = () => resume(Effect.void)
    signal.addEventListener("abort", onAbort, { once: true })
    return Effect.sync(() => signal.removeEventListener("abort", onAbort))
  })

/**
 * The NDJSON body re-framed after core's reader has checked every line. The body is read by
 * HttpCall outside the fetch's own signal, so our abort has to stop it here (which cancels
 * the response and closes the connection).
 */
const checked = (call: HttpCall.Call, response: HttpCall.Reply, signal: AbortSignal): Response => {
  const lines = HttpCall.body(call, response).pipe(
    Stream.interruptWhen(aborted(signal)),
    Ndjson.decode({ backend: call.backend, model: call.model }),
    Stream.map((value) => `${JSON.stringify(value)}\n`),
    Stream.encodeText
  )
  return new Response(Stream.toReadableStream(lines), { status: response.status, statusText: response.statusText, headers: response.headers })
}

const wireFetch = (target: Target, where: Failure.Where, signal: AbortSignal): typeof fetch => (input, init) => {
  const text = typeof init?.body === "string" ? init.body : undefined
  const call: HttpCall.Call = {
    backend: where.backend,
    model: where.model,
    method: init?.method === "DELETE" ? "DELETE" : init?.method === "POST" ? "POST" : "GET",
    url: input instanceof Request ? input.url : String(input),
    // ollama-js's own headers (User-Agent, Accept) first; ours (credentials) win.
    headers: { ...headersOf(init), ...target.headers },
    ...(text === undefined ? {} : { body: JSON.parse(text) as unknown })
  }
  const both = init?.signal ? AbortSignal.any([init.signal, signal]) : signal
  const sent = HttpCall.send(call).pipe(
    Effect.map((response) =>
      (HttpCall.header(response, "content-type") ?? "").includes("ndjson")
        ? checked(call, response, both)
        : new Response(Stream.toReadableStream(HttpCall.body(call, response)), { status: response.status, statusText: response.statusText, headers: response.headers })
    )
  )
  // runPromise would wrap the BackendError in a FiberFailure; ollama-js must rethrow it as is.
  return Effect.runPromiseExit(sent, { signal: both }).then((exit) =>
    Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
  )
}

const client = (target: Target, where: Failure.Where, signal: AbortSignal): Ollama =>
  new Ollama({ host: target.host, fetch: wireFetch(target, where, signal) })

/**
 * The names in one of Ollama's model lists (`/api/tags`: installed, `/api/ps`: resident), read
 * with core's HttpCall alone. Going through ollama-js would touch the WHATWG `Headers` and
 * `Response` classes, whose first use loads Node's bundled undici: about 10 MB that a `serve`
 * probing its servers every minute would then hold for good.
 */
export const modelNames = (
  target: Target,
  where: Failure.Where,
  path: "/api/tags" | "/api/ps"
): Effect.Effect<ReadonlyArray<string>, BackendError.BackendError> =>
  HttpCall.json({ backend: where.backend, url: `${target.host}${path}`, headers: target.headers }).pipe(
    Effect.mapError(Failure.classify(where, "open")),
    Effect.flatMap((body) => {
      const models = (body as { models?: unknown } | null)?.models
      const names = Array.isArray(models) ? models.map((m) => (m as { name?: unknown } | null)?.name) : undefined
      return names?.every((name): name is string => typeof name === "string")
        ? Effect.succeed(names)
        : Effect.fail(
          new BackendError.BackendError({
            reason: "Upstream",
            backend: where.backend,
            message: `${where.backend}: ${path} answered without a list of named models`
          })
        )
    })
  )

/**
 * Opens a streaming ollama-js call. Succeeds when the response headers have arrived (the
 * server accepted the request), with the parsed NDJSON objects as a Stream. Closing the
 * scope aborts the request, whether it is still waiting for headers or mid-body.
 */
export const open = <A extends object>(
  target: Target,
  where: Failure.Where,
  run: (ollama: Ollama) => Promise<AsyncIterable<A>>
): Effect.Effect<Stream.Stream<A, BackendError.BackendError>, BackendError.BackendError, Scope.Scope> =>
  Effect.gen(function*() {
    const controller = new AbortController()
    // Registered before the request starts, so it also covers an interruption while waiting
    // for headers (a cold model load can hold them for minutes).
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const iterable = yield* Effect.tryPromise({
      try: () => run(client(target, where, controller.signal)),
      catch: Failure.classify(where, "open")
    })
    const iterator = iterable[Symbol.asyncIterator]()
    const read = Failure.classify(where, "read")
    return Stream.repeatEffectOption(
      Effect.tryPromise({ try: () => iterator.next(), catch: (e) => Option.some(read(e)) }).pipe(
        Effect.flatMap((step) => (step.done === true ? Effect.fail(Option.none()) : Effect.succeed(step.value)))
      )
    )
  })
