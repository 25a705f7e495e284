/**
 * One HTTP call to a model server, the way every backend makes it: fetch, wait for the
 * response headers, and turn every way that can go wrong into a BackendError with a reason
 * the Router can act on.
 *
 * Invariants:
 * - `send` succeeds only with a 2xx response, once its headers are in; the body is the
 *   caller's to read (`body` turns it into bytes).
 * - Interrupting `send` aborts the request; closing the `body` stream cancels the response,
 *   which closes the connection. Deadlines are not kept here: the Router keeps them from the
 *   events a backend emits.
 * - Error messages say what the server said (its error text, truncated), never a secret:
 *   header values given as `Redacted` are only unwrapped on the wire and scrubbed from every
 *   message.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { BackendError, type Reason } from "./BackendError.ts"
import * as PlainHttp from "./internal/PlainHttp.ts"
import * as Source from "./internal/Source.ts"
import * as Stop from "./internal/Stop.ts"

export interface Call {
  /** The backend's name from routing.yaml, for errors. */
  readonly backend: string
  /** The model the call is about; a 404 then means the model is missing. */
  readonly model?: string | undefined
  readonly method?: "GET" | "POST" | "DELETE"
  readonly url: string
  /** Secrets (API keys, Authorization) go in as Redacted. */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>>
  /** Sent as JSON (with Content-Length: mlx_lm rejects or drops chunked uploads). */
  readonly body?: unknown
}

/** How much of a server's error text an error message quotes. */
export const maxErrorText = 500

/**
 * A response whose headers are in: fetch's `Response`, or (for `http:` URLs) core's own,
 * which reads the body straight off the socket. Read its body with `body` or `pullBody`.
 */
export interface Reply {
  readonly ok: boolean
  readonly status: number
  readonly statusText: string
  readonly headers: Headers
  readonly text: () => Promise<string>
  readonly json: () => Promise<unknown>
}

/** The reply of an Exchange or a `source`: headers by `header`, the body by plain calls (`take`, `wait`, `release`, `cut`). */
export type LocalReply = PlainHttp.Reply

/** One response header (lower-case name), or undefined. */
export const header = (reply: Reply, name: string): string | undefined =>
  reply instanceof PlainHttp.Reply ? reply.header(name) : reply.headers.get(name) ?? undefined

/** Send the call; succeed with the response once its headers are in and its status is 2xx. */
export const send = (call: Call): Effect.Effect<Reply, BackendError> =>
  Effect.suspend(() => {
    const { method, headers, body } = wire(call)
    const url = URL.canParse(call.url) ? new URL(call.url) : undefined
    const sent: Effect.Effect<Reply, unknown> = Effect.withFiberRuntime((fiber) => {
      const stop = fiber.getFiberRef(Stop.current)
      if (url?.protocol === "http:") return PlainHttp.request(url, { method, headers, ...(body === undefined ? {} : { body }) }, stop)
      return Effect.tryPromise((signal) => {
        if (stop === undefined) return fetch(call.url, { method, headers, signal, ...(body === undefined ? {} : { body }) })
        const both = new AbortController()
        const forget = stop.on(() => both.abort(new Stop.Stopped()))
        signal.addEventListener("abort", () => both.abort(signal.reason), { once: true })
        return fetch(call.url, { method, headers, signal: both.signal, ...(body === undefined ? {} : { body }) }).finally(forget)
      })
    })
    return Effect.matchEffect(sent, {
      onFailure: (error) => Effect.fail(connectFailure(call, error instanceof Cause.UnknownException ? error.error : error)),
      onSuccess: (response) => (response.ok ? Effect.succeed(response) : failed(call, response))
    })
  })

/** Method, headers (secrets unwrapped) and body as they go on the wire. */
const wire = (call: Call): PlainHttp.Init => {
  const method = call.method ?? (call.body === undefined ? "GET" : "POST")
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(call.headers ?? {})) {
    headers[name] = Redacted.isRedacted(value) ? Redacted.value(value) : value
  }
  if (call.body !== undefined) headers["content-type"] ??= "application/json"
  return call.body === undefined ? { method, headers } : { method, headers, body: JSON.stringify(call.body) }
}

/**
 * A call to an `http:` URL, read by plain calls instead of an Effect (see internal/Source):
 * `poll` answers the reply once its headers are in and its status is 2xx, `null` while
 * waiting, or the BackendError `send` would fail with.
 */
export interface Exchange {
  readonly poll: () => PlainHttp.Reply | BackendError | null
  /** Call `then` once `poll` has an answer (at once if it has); returns a function that forgets it. */
  readonly wait: (then: () => void) => () => void
  /** Abandon the call: destroy the request, or cut the reply's connection. */
  readonly cancel: () => void
}

/** Send the call (its URL must be `http:`) and read the answer as an Exchange. */
export const exchange = (call: Call): Exchange => {
  let answer: PlainHttp.Reply | BackendError | null = null
  let waiter: (() => void) | undefined
  const settle = (value: PlainHttp.Reply | BackendError) => {
    answer = value
    const then = waiter
    waiter = undefined
    then?.()
  }
  const sent = PlainHttp.start(new URL(call.url), wire(call), (reply) => {
    if (reply.ok) return settle(reply)
    // An error body we cannot read still leaves the status to report.
    const report = (text: string) => settle(statusFailure(call, reply.status, text, reply, Date.now()))
    reply.text().then(report, () => report(""))
  }, (error) => settle(connectFailure(call, error)))
  return {
    poll: () => answer,
    wait: (then) => {
      if (answer !== null) {
        then()
        return () => {}
      }
      waiter = then
      return () => {
        if (waiter === then) waiter = undefined
      }
    },
    cancel: sent.cancel
  }
}

/** What a reader made of one chunk of a body (`source`). */
export interface Read<A> {
  readonly events: ReadonlyArray<A>
  /** The answer is complete: nothing more is read, and the connection is kept for the next request. */
  readonly done?: boolean
  /** The answer failed, after `events` (the tokens before a failure are part of what the caller sees). */
  readonly failure?: BackendError
}

/** What a reader does with a reply: the events its headers mean, and how to read its body. */
export interface Opened<A> {
  readonly events: ReadonlyArray<A>
  /** One chunk of the body, or `undefined` when it ended. */
  readonly read: (bytes: Buffer | undefined) => Read<A>
}

/**
 * A call to an `http:` URL as a core Source (see Source.ts): `opened` turns the reply (headers
 * in, 2xx) into the events it means and a reader of its body. A failure before the reply is
 * passed through `refine` (a backend's own reading of a status).
 */
export const source = <A>(
  call: Call,
  opened: (reply: LocalReply) => Opened<A>,
  refine: (error: BackendError) => BackendError = (error) => error
): Source.Source<A, BackendError> => {
  const sent = exchange(call)
  let reply: PlainHttp.Reply | undefined
  let read: Opened<A>["read"] = () => ({ events: [] })
  let done = false
  let pending: BackendError | undefined
  let terminal: Source.End | Source.Failed<BackendError> | undefined
  const finish = (end: Source.End | Source.Failed<BackendError>) => {
    terminal = end
    reply?.release()
    return end
  }
  return {
    poll: () => {
      if (terminal) return terminal
      if (!reply) {
        const answer = sent.poll()
        if (answer === null) return null
        if (answer instanceof BackendError) return finish(Source.failed(refine(answer)))
        reply = answer
        const start = opened(answer)
        read = start.read
        if (start.events.length > 0) return start.events
      }
      if (pending) return finish(Source.failed(pending))
      if (done) return finish(Source.end)
      while (true) {
        let bytes: Buffer | null | undefined
        try {
          bytes = reply.take()
        } catch (error) {
          return finish(Source.failed(bodyFailure(call, error)))
        }
        if (bytes === null) return null
        const chunk = read(bytes)
        pending = chunk.failure
        done = chunk.done === true || bytes === undefined
        // Complete: release the body now, which keeps the connection for the next request.
        if (done) reply.release()
        if (chunk.events.length > 0) return chunk.events
        if (pending) return finish(Source.failed(pending))
        if (done) return finish(Source.end)
      }
    },
    wait: (then) => (reply ? reply.wait(then) : sent.wait(then)),
    close: () => {
      terminal ??= Source.end
      if (reply) reply.release()
      else sent.cancel()
    },
    cut: () => {
      terminal ??= Source.end
      sent.cancel()
    }
  }
}

const failed = (call: Call, response: Reply): Effect.Effect<never, BackendError> =>
  // An error body we cannot read still leaves the status to report.
  Effect.tryPromise({ try: () => response.text(), catch: () => "" }).pipe(
    Effect.merge,
    Effect.flatMap((text) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(statusFailure(call, response.status, text, response, now)))
    )
  )

/** Send the call and read its whole body as JSON. */
export const json = (call: Call): Effect.Effect<unknown, BackendError> =>
  Effect.flatMap(send(call), (response) =>
    Effect.tryPromise({
      try: () => response.text(),
      catch: (error) => bodyFailure(call, error)
    }).pipe(
      Effect.flatMap((text) =>
        Effect.try({
          try: (): unknown => JSON.parse(text),
          catch: () =>
            failure(call, "Upstream", `${call.backend} answered with something that is not JSON: ${truncate(text)}`, response.status)
        })
      )
    ))

/**
 * The response body as bytes. A connection that breaks mid-body is a `StreamCut` (the answer
 * started and did not finish); closing the stream early cancels the response.
 */
export const body = (call: Call, response: Reply): Stream.Stream<Uint8Array, BackendError> =>
  Stream.unwrapScoped(Effect.map(pullBody(call, response), Stream.repeatEffectOption))

/**
 * The response body as a pull: each run gives the bytes that arrived since the last (waiting
 * for some when none have), or fails with None at the end (the same reading as `body`, for a
 * reader that decodes each chunk itself in one pass). Closing the scope releases the body.
 */
export const pullBody = (call: Call, response: Reply): Effect.Effect<Effect.Effect<Uint8Array, Option.Option<BackendError>>, never, Scope.Scope> => {
  if (response instanceof PlainHttp.Reply) {
    const reply = response
    const waitFor = Effect.withFiberRuntime<void, Option.Option<BackendError>>((fiber) => {
      const stop = fiber.getFiberRef(Stop.current)
      return Effect.async((resume) => {
        let forgetStop: (() => void) | undefined
        const forgetWait = reply.wait(() => {
          forgetStop?.()
          resume(Effect.void)
        })
        forgetStop = stop?.on(() => {
          reply.cut()
          resume(Effect.fail(Option.some(bodyFailure(call, new Stop.Stopped()))))
        })
        return Effect.sync(() => {
          forgetWait()
          forgetStop?.()
        })
      })
    })
    const pull: Effect.Effect<Uint8Array, Option.Option<BackendError>> = Effect.suspend(() => {
      let bytes: Buffer | null | undefined
      try {
        bytes = reply.take()
      } catch (error) {
        return Effect.fail(Option.some(bodyFailure(call, error)))
      }
      if (bytes) return Effect.succeed(bytes)
      if (bytes === undefined) return Effect.fail(Option.none())
      return Effect.zipRight(waitFor, pull)
    })
    // A deadline that passes between two reads cuts the connection at once, too.
    return Effect.withFiberRuntime((fiber) => {
      const forget = fiber.getFiberRef(Stop.current)?.on(() => reply.cut())
      return Effect.as(
        Effect.addFinalizer(() =>
          Effect.sync(() => {
            forget?.()
            reply.release()
          })
        ),
        pull
      )
    })
  }
  const readable = (response as Response).body
  if (readable === null) return Effect.succeed(Effect.fail(Option.none()))
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => readable.getReader()),
      (reader) => Effect.promise(() => release(reader))
    ),
    (reader) =>
      Effect.withFiberRuntime<Uint8Array, Option.Option<BackendError>>((fiber) => {
        const stop = fiber.getFiberRef(Stop.current)
        return Effect.async((resume) => {
          const forget = stop?.on(() => {
            reader.cancel().catch(() => {})
            resume(Effect.fail(Option.some(bodyFailure(call, new Stop.Stopped()))))
          })
          reader.read().then(
            (next) => {
              forget?.()
              resume(next.done ? Effect.fail(Option.none()) : Effect.succeed(next.value))
            },
            (error: unknown) => {
              forget?.()
              resume(Effect.fail(Option.some(bodyFailure(call, error))))
            }
          )
        })
      })
  )
}

/** The whole response body as text (read as `pullBody` reads it, so a deadline can stop it). */
export const text = (call: Call, response: Reply): Effect.Effect<string, BackendError> =>
  Effect.scoped(Effect.flatMap(pullBody(call, response), (pull) => {
    const parts: Array<Uint8Array> = []
    const loop: Effect.Effect<string, BackendError> = Effect.matchEffect(pull, {
      onFailure: Option.match({
        onNone: () => Effect.succeed(Buffer.concat(parts).toString("utf8")),
        onSome: Effect.fail
      }),
      onSuccess: (bytes) => {
        parts.push(bytes)
        return loop
      }
    })
    return loop
  }))

/**
 * A consumer usually stops at the protocol's own end marker (`[DONE]`, `done: true`) a moment
 * before the HTTP body ends. Cancelling then would destroy the socket and cost every request
 * a new connection; so a body whose end is already in flight is read to its end (keeping the
 * connection alive for the next request), and only a body still streaming is cancelled, at
 * once, so a caller who went away stops the server within milliseconds.
 */
const release = async (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> => {
  try {
    for (let i = 0; i < 4; i++) {
      const next = await Promise.race([reader.read(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2))])
      if (next === undefined) break
      if (next.done) return
    }
    await reader.cancel()
  } catch {
    // A body that already failed rejects again with the same failure, which the stream has
    // reported; cancelling it has nothing more to say.
  }
}

// ---------------------------------------------------------------------------------------------
// Failure mapping. Exported so backends that get errors inside a 200 body (OpenRouter,
// Moondream) classify them the same way.

/** The reason an HTTP status means, when the body does not say more. */
export const reasonOfStatus = (status: number, hasModel: boolean): Reason => {
  if (status === 401 || status === 403 || status === 402) return "Auth"
  if (status === 429 || status === 503 || status === 529) return "Overloaded"
  if (status === 400 || status === 411 || status === 413 || status === 422) return "BadRequest"
  if (status === 404) return hasModel ? "ModelMissing" : "Upstream"
  if (status === 408) return "Timeout"
  return "Upstream"
}

/**
 * The error text in a server's error body: OpenAI `{error:{message,code}}`, Ollama/mlx
 * `{error:"…"}`, Anthropic `{type:"error",error:{type,message}}`, FastAPI `{detail}`, or the
 * raw text when it is not JSON.
 */
export const errorText = (text: string): string => {
  const parsed = parseJson(text)
  if (parsed === undefined) return truncate(text.trim())
  const said = describeError(parsed)
  return truncate(said ?? text.trim())
}

/** What an error value (the `error` member of a body, or the body itself) says, if anything. */
export const describeError = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (!isRecord(value)) return undefined
  const inner = value["error"]
  if (typeof inner === "string") return inner
  if (isRecord(inner)) {
    const message = typeof inner["message"] === "string" ? inner["message"] : undefined
    const code = typeof inner["code"] === "string" ? inner["code"] : typeof inner["type"] === "string" ? inner["type"] : undefined
    if (message !== undefined) return code === undefined ? message : `${message} (${code})`
    if (code !== undefined) return code
  }
  const detail = value["detail"]
  if (typeof detail === "string") return detail
  if (detail !== undefined) return JSON.stringify(detail)
  if (typeof value["message"] === "string") return value["message"]
  return undefined
}

/**
 * Milliseconds the server asks us to wait: `retry-after-ms` (OpenAI, Anthropic), else
 * `retry-after` in seconds or as an HTTP date.
 */
export const retryAfterMs = (headers: Pick<Headers, "get">, now: number): number | undefined => {
  const ms = headers.get("retry-after-ms")
  if (ms !== null && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.round(Number(ms))
  const after = headers.get("retry-after")
  if (after === null || after.trim() === "") return undefined
  const seconds = Number(after)
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined
  const date = Date.parse(after)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Remove every secret the call carries from a message. */
export const scrub = (call: Call, message: string): string => {
  let out = message
  for (const value of Object.values(call.headers ?? {})) {
    if (!Redacted.isRedacted(value)) continue
    const raw = Redacted.value(value)
    // The bare key as well as "Bearer <key>": servers echo either.
    for (const secret of [raw, raw.replace(/^\s*(Bearer|Basic)\s+/i, "")]) {
      if (secret.length >= 4) out = out.split(secret).join("[redacted]")
    }
  }
  return out
}

const statusFailure = (call: Call, status: number, text: string, reply: Reply, now: number): BackendError => {
  const said = errorText(text)
  const parsed = parseJson(text)
  let reason = reasonOfStatus(status, call.model !== undefined)
  // A billing stop, not a busy server: waiting will not help (protocols.md §4.1).
  if (status === 429 && /insufficient_quota/.test(text)) reason = "Auth"
  // Queue limits said in words (Ollama's 503 "server busy", Moondream's "Queue is full").
  if (/queue (is )?full|server busy/i.test(said)) reason = "Overloaded"
  // A 404 for the route itself (`Not Found` with no JSON) cannot be about a model we did not name.
  if (status === 404 && call.model === undefined && parsed === undefined) reason = "Upstream"
  // Read through `header`: a local reply's `headers` would build a WHATWG Headers (see PlainHttp).
  const retry = reason === "Overloaded" ? retryAfterMs({ get: (name) => header(reply, name) ?? null }, now) : undefined
  const what = reason === "ModelMissing" ? ` (model "${call.model}")` : ""
  return failure(
    call,
    reason,
    `${call.backend} answered HTTP ${status}${what}${said ? `: ${said}` : ""}`,
    status,
    retry
  )
}

const connectFailure = (call: Call, error: unknown): BackendError => {
  const code = errorCode(error)
  const where = originOf(call.url)
  const reason: Reason = code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT" ? "Timeout" : "Unreachable"
  return failure(call, reason, `${call.backend}: no answer from ${where} (${code ?? describe(error)})`)
}

const bodyFailure = (call: Call, error: unknown): BackendError => {
  const code = errorCode(error)
  const reason: Reason = code === "UND_ERR_BODY_TIMEOUT" ? "Timeout" : "StreamCut"
  return failure(call, reason, `${call.backend}: the connection broke mid-answer (${code ?? describe(error)})`)
}

const failure = (call: Call, reason: Reason, message: string, status?: number, retryAfter?: number) =>
  new BackendError({
    reason,
    backend: call.backend,
    message: scrub(call, message),
    ...(call.model === undefined ? {} : { model: call.model }),
    ...(status === undefined ? {} : { status }),
    ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter })
  })

/** fetch wraps the socket error: TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }). */
const errorCode = (error: unknown): string | undefined => {
  for (let e: unknown = error, depth = 0; isRecord(e) && depth < 4; e = e["cause"], depth++) {
    if (typeof e["code"] === "string") return e["code"]
  }
  return undefined
}

const describe = (error: unknown): string => {
  const cause = isRecord(error) && error["cause"] instanceof Error ? error["cause"].message : undefined
  return cause ?? (error instanceof Error ? error.message : String(error))
}

const originOf = (url: string): string => {
  try {
    return new URL(url).origin
  } catch {
    // Not a URL at all: say so rather than echo it (it might carry a key in its query).
    return "an invalid URL"
  }
}

const truncate = (text: string): string => (text.length > maxErrorText ? `${text.slice(0, maxErrorText)}…` : text)

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    // Not JSON is an answer too: callers use the raw text.
    return undefined
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null
