/**
 * ollama-js with cancellation. ollama-js takes no AbortSignal on its non-streaming calls and
 * aborts streams only through its own iterator (protocols.md §1.15), so every call here gets
 * a fresh client whose `fetch` carries our signal: interrupting the Effect aborts the HTTP
 * request, and the server sees the connection close (and stops generating).
 */
import type { BackendError } from "@local-router/core"
import { Effect, Option, type Scope, Stream } from "effect"
import { Ollama } from "ollama"
import * as Failure from "./Failure.ts"

export interface Target {
  /** Base URL, e.g. http://127.0.0.1:11434, without a trailing slash. */
  readonly host: string
  readonly headers: Readonly<Record<string, string>>
}

const client = (target: Target, signal: AbortSignal): Ollama =>
  new Ollama({
    host: target.host,
    headers: { ...target.headers },
    fetch: (input, init) =>
      fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal })
  })

/** One non-streaming ollama-js call; interruption aborts it. */
export const call = <A>(
  target: Target,
  where: Failure.Where,
  run: (ollama: Ollama) => Promise<A>
): Effect.Effect<A, BackendError.BackendError> =>
  Effect.tryPromise({ try: (signal) => run(client(target, signal)), catch: Failure.classify(where, "open") })

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
      try: () => run(client(target, controller.signal)),
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
