/**
 * One HTTP call to a model server, the way every backend makes it, and the one way a streamed
 * answer becomes events (`events`).
 *
 * The transport is node:http (node:https for remote servers) with a keep-alive agent. A
 * `Reply` hands the bytes that arrived to its reader in one piece, with no promise or stream
 * stage per chunk: on a loopback connection a whole short answer usually arrives, and is read,
 * at once. (fetch and a WHATWG stream per chunk were each, on a local server, the largest cost
 * of a routed request.)
 *
 * Invariants:
 * - `send` succeeds only with a 2xx response, once its headers are in; a non-2xx status fails
 *   with the reason it means (its error body quoted). Every failure is mapped here, from
 *   node's own errors, to a BackendError with a reason the Router can act on.
 * - Interrupting `send` destroys the request. A body stream that ends at its protocol's end
 *   marker keeps the connection for the next request; one abandoned mid-answer (a deadline,
 *   a caller gone) cuts the connection at once, so the server stops generating.
 * - Deadlines are not kept here: the Router keeps them on the Clock and closes the stream.
 *   A connection with no traffic for 300 s fails with `Timeout` all the same.
 * - Redirects are followed (20 at most) as long as they keep the protocol; a 303, or a
 *   301/302 after a POST, becomes a GET without a body.
 * - Error messages say what the server said (its error text, truncated), never a secret:
 *   header values given as `Redacted` are only unwrapped on the wire and scrubbed from every
 *   message.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as http from "node:http"
import { BackendError, type Reason } from "../BackendError.ts"
import * as Events from "../Events.ts"
import * as NodeHttp from "./NodeHttp.ts"

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

/** A connection with no traffic this long fails with Timeout (what fetch did before). */
const idleMs = 300_000

/** Bytes buffered before the socket is paused until the reader catches up. */
const highWaterBytes = 1024 * 1024

/**
 * How long a released body whose end has not arrived may still finish (and keep its
 * connection for the next request) before it is cut. A reader stops at the protocol's end
 * marker (`[DONE]`, `done: true`), usually a moment before the HTTP body's own end.
 */
const graceMs = 2

const maxRedirects = 20

let httpAgent: http.Agent | undefined
let httpsAgent: http.Agent | undefined

/**
 * A response whose headers are in. Its body is read from the moment it exists into a queue
 * that `take` empties; the socket is paused while the queue is over a megabyte.
 */
export class Reply {
  readonly ok: boolean
  readonly status: number
  readonly statusText: string
  #res: http.IncomingMessage
  #queue: Array<Buffer> = []
  #queued = 0
  #state: "open" | "ended" | "failed" | "released" = "open"
  #failure: BackendError | undefined
  #waiter: (() => void) | undefined
  #origin: string | undefined

  constructor(res: http.IncomingMessage, empty: boolean, broke: (error: Error) => BackendError, origin?: string) {
    this.#res = res
    this.#origin = origin
    this.status = res.statusCode ?? 0
    this.ok = this.status >= 200 && this.status < 300
    this.statusText = res.statusMessage ?? ""
    res.on("data", (chunk: Buffer) => {
      if (this.#state !== "open") return
      this.#queue.push(chunk)
      this.#queued += chunk.length
      if (this.#queued > highWaterBytes) res.pause()
      this.#wake()
    })
    res.on("end", () => {
      if (this.#state === "open") this.#state = "ended"
      this.#wake()
    })
    res.on("error", (error) => this.fail(broke(error)))
    // A socket closed before the body's end emits no error on the response (only "aborted").
    res.on("close", () => {
      if (!res.complete) this.fail(broke(Object.assign(new Error("the connection closed before the body ended"), { code: "ECONNRESET" })))
    })
    const status = this.status
    if (empty || status === 204 || status === 205 || status === 304) res.resume()
  }

  /** One response header (lower-case name), or undefined. */
  header(name: string): string | undefined {
    const value = this.#res.headers[name]
    return Array.isArray(value) ? value.join(", ") : value
  }

  /**
   * The bytes that arrived since the last call, in one piece; `null` when none are waiting
   * yet (see `wait`), `undefined` at the end. Throws the BackendError of a body that broke.
   */
  take(): Buffer | null | undefined {
    const queue = this.#queue
    if (queue.length > 0) {
      const bytes = queue.length === 1 ? queue[0]! : Buffer.concat(queue, this.#queued)
      this.#queue = []
      if (this.#queued > highWaterBytes) this.#res.resume()
      this.#queued = 0
      return bytes
    }
    if (this.#state === "failed") throw this.#failure
    return this.#state === "open" ? null : undefined
  }

  /** Call `then` once there is something for `take` (at once if there is); returns a function that forgets it. */
  wait(then: () => void): () => void {
    if (this.#queue.length > 0 || this.#state !== "open") {
      then()
      return () => {}
    }
    this.#waiter = then
    return () => {
      if (this.#waiter === then) this.#waiter = undefined
    }
  }

  /**
   * The reader is done with the body. A body whose end is already in keeps its connection
   * for the next request; one still streaming is cut, after a moment's grace for an end
   * that is on its way.
   */
  release(): void {
    if (this.#state !== "open") return
    this.#state = "released"
    this.#queue = []
    this.#waiter = undefined
    const res = this.#res
    res.resume()
    // Until the body's end is in and Node has handed its connection back to the agent, the
    // connection is not free: a request to the same server meanwhile waits for it rather than
    // opening another (`afterReleases`). A body still streaming gets a moment's grace for an
    // end that is on its way, and is cut after it.
    const origin = this.#origin
    if (origin !== undefined) releasing(origin)
    let over = false
    const settle = () => {
      if (over) return
      over = true
      clearTimeout(timer)
      // Node frees the socket just after the response's end (on the next tick).
      if (origin !== undefined) setImmediate(() => released(origin))
    }
    const timer = res.complete ? undefined : setTimeout(() => {
      res.destroy()
      settle()
    }, graceMs)
    if (res.readableEnded) settle()
    else {
      res.once("end", settle)
      res.once("close", settle)
    }
  }

  /** The reader gave up mid-answer: cut the connection now (nothing to do once the body is done with). */
  cut(): void {
    if (this.#state !== "open") return
    this.#state = "released"
    this.#queue = []
    this.#waiter = undefined
    this.#res.destroy()
  }

  /** @internal the connection failed (or went idle) while the body was being read. */
  fail(error: BackendError): void {
    if (this.#state !== "open") return
    this.#state = "failed"
    this.#failure = error
    this.#wake()
  }

  #wake(): void {
    const waiter = this.#waiter
    if (waiter === undefined) return
    this.#waiter = undefined
    waiter()
  }
}

interface Wire {
  readonly method: string
  readonly headers: Record<string, string>
  readonly body?: string
}

/** Method, headers (secrets unwrapped) and body as they go on the wire. */
const wireOf = (call: Call): Wire => {
  const method = call.method ?? (call.body === undefined ? "GET" : "POST")
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(call.headers ?? {})) {
    headers[name] = Redacted.isRedacted(value) ? Redacted.value(value) : value
  }
  if (call.body === undefined) return { method, headers }
  headers["content-type"] ??= "application/json"
  return { method, headers, body: JSON.stringify(call.body) }
}

/**
 * Send the call; `answered` gets the reply once its headers are in (any status), `failed` the
 * BackendError of what went wrong before that. Returns a function that abandons the call.
 */
const start = (call: Call, url: URL, answered: (reply: Reply) => void, failed: (error: BackendError) => void): () => void => {
  let current: http.ClientRequest | undefined
  let reply: Reply | undefined
  let settled = false
  const settle = (then: () => void) => {
    if (settled) return
    settled = true
    then()
  }
  const send = (target: URL, sending: Wire, hops: number) =>
    afterReleases(target.origin, () => {
      if (!settled) sendNow(target, sending, hops)
    })
  const sendNow = (target: URL, sending: Wire, hops: number) => {
    const secure = target.protocol === "https:"
    const headers = sending.body === undefined ? sending.headers : { ...sending.headers, "content-length": String(Buffer.byteLength(sending.body)) }
    const agent = secure ? (httpsAgent ??= new (NodeHttp.https().Agent)({ keepAlive: true })) : (httpAgent ??= new NodeHttp.Agent({ keepAlive: true }))
    const options = { method: sending.method, headers, agent, timeout: idleMs }
    const onResponse = (res: http.IncomingMessage) => {
      const status = res.statusCode ?? 0
      const location = res.headers.location
      if (status >= 300 && status < 400 && location !== undefined) {
        res.resume()
        const next = URL.canParse(location, target.href) ? new URL(location, target) : undefined
        if (next?.protocol !== target.protocol || hops >= maxRedirects) {
          const why = next === undefined || hops >= maxRedirects ? "too many or unreadable redirects" : `redirected to ${next.origin}: put that URL in routing.yaml`
          return settle(() => failed(connectFailure(call, new Error(why))))
        }
        const keep = status === 307 || status === 308 || (sending.method !== "POST" && status !== 303)
        return send(next, keep ? sending : { method: sending.method === "HEAD" ? "HEAD" : "GET", headers: withoutContentType(sending.headers) }, hops + 1)
      }
      if (status < 200 || status > 599) {
        res.destroy()
        return settle(() => failed(connectFailure(call, new Error(`the server answered with HTTP status ${status}`))))
      }
      if (settled) return void res.destroy()
      reply = new Reply(res, sending.method === "HEAD", (error) => bodyFailure(call, error), target.origin)
      const answer = reply
      settle(() => answered(answer))
    }
    const req = secure ? NodeHttp.https().request(target, options, onResponse) : NodeHttp.request(target, options, onResponse)
    current = req
    req.on("timeout", () => {
      const error = new IdleTimeout()
      if (reply) reply.fail(bodyFailure(call, error))
      else settle(() => failed(connectFailure(call, error)))
      req.destroy()
    })
    req.on("error", (error) => {
      if (current !== req) return
      if (reply) reply.fail(bodyFailure(call, error))
      else settle(() => failed(connectFailure(call, error)))
    })
    req.end(sending.body)
  }
  send(url, wireOf(call), 0)
  return () => {
    if (reply) reply.cut()
    else {
      settled = true
      current?.destroy()
    }
  }
}

/** Per server (origin): bodies released before their end arrived, and the requests waiting for them. */
const pendingReleases = new Map<string, { count: number; readonly waiters: Array<() => void> }>()

const releasing = (origin: string): void => {
  const pending = pendingReleases.get(origin)
  if (pending) pending.count++
  else pendingReleases.set(origin, { count: 1, waiters: [] })
}

const released = (origin: string): void => {
  const pending = pendingReleases.get(origin)
  if (!pending || --pending.count > 0) return
  pendingReleases.delete(origin)
  for (const waiter of pending.waiters) waiter()
}

/**
 * Run `then` once no body released from `origin` is still on its way to its end (a few
 * milliseconds at most: `graceMs`), so that a request right after a finished answer reuses its
 * connection, however soon the caller sends it.
 */
const afterReleases = (origin: string, then: () => void): void => {
  const pending = pendingReleases.get(origin)
  if (pending) pending.waiters.push(then)
  else then()
}

/** No traffic on the connection for `idleMs`. */
class IdleTimeout extends Error {
  constructor() {
    super(`no data for ${idleMs / 1000} s`)
  }
}

const withoutContentType = (headers: Record<string, string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== "content-type") out[name] = value
  return out
}

/**
 * Send the call; `done` gets the reply once its headers are in and its status is 2xx, or the
 * BackendError of what went wrong. Returns a function that abandons the call.
 */
const request = (call: Call, now: () => number, done: (result: Reply | BackendError) => void): () => void => {
  const url = URL.canParse(call.url) ? new URL(call.url) : undefined
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    done(failure(call, "Unreachable", `${call.backend}: no answer from ${originOf(call.url)} (not an http: or https: URL)`))
    return () => {}
  }
  return start(call, url, (reply) => {
    if (reply.ok) return done(reply)
    // An error body we cannot read still leaves the status to report.
    readAll(reply, (text) => done(statusFailure(call, reply, text ?? "", now())))
  }, done)
}

/** Send the call; succeed with the reply once its headers are in and its status is 2xx. */
export const send = (call: Call): Effect.Effect<Reply, BackendError> =>
  Effect.clockWith((clock) =>
    Effect.callback<Reply, BackendError>((resume) => {
      let settled = false
      const cancel = request(call, () => clock.currentTimeMillisUnsafe(), (result) => {
        settled = true
        resume(result instanceof BackendError ? Effect.fail(result) : Effect.succeed(result))
      })
      return Effect.sync(() => {
        if (!settled) cancel()
      })
    }))

/** The whole body, or undefined when it broke. */
const readAll = (reply: Reply, then: (text: string | undefined) => void): void => {
  const parts: Array<Buffer> = []
  const read = (): void => {
    try {
      for (let bytes = reply.take(); bytes !== undefined; bytes = reply.take()) {
        if (bytes === null) return void reply.wait(read)
        parts.push(bytes)
      }
    } catch {
      // The body broke: the caller still reports the status, without its text.
      return then(undefined)
    }
    then(Buffer.concat(parts).toString("utf8"))
  }
  read()
}

/** What a reader made of one chunk of a body (`events`). */
export interface Read<A> {
  readonly events: ReadonlyArray<A>
  /** The answer is complete: nothing more is read, and the connection is kept for the next request. */
  readonly done?: boolean
  /** The answer failed, after `events` (the tokens before a failure are part of what the caller sees). */
  readonly failure?: BackendError
}

/** How a protocol reads a reply: the events its headers mean, and a reader of its body. */
export interface Reader<A> {
  readonly events: ReadonlyArray<A>
  /** One chunk of the body, or `undefined` when it ended. */
  readonly read: (bytes: Buffer | undefined) => Read<A>
}

/** What a backend adds to the one way of reading a streamed answer (`events`). */
export interface Options {
  /** A backend's own reading of a failure before the reply, `before`'s too (a status it knows more about). */
  readonly refine?: (error: BackendError) => BackendError
  /** Checked before anything is sent; its failure is the answer's. */
  readonly before?: Effect.Effect<void, BackendError>
  /**
   * A failure before the reply may be worth one more try: the call to send then (after what
   * must happen first: a pull, a move to another port), or undefined to fail.
   */
  readonly retry?: (error: BackendError) => Effect.Effect<Call, BackendError> | undefined
}

/**
 * The one way a streamed answer becomes events: send the call, and once a 2xx reply's headers
 * are in, `reader` turns it into the events it means and reads its body, each chunk as it
 * arrives, in one pass (framing and decoding together; no stream stage per step).
 *
 * Nothing is sent until the first pull. Closing before the reader said `done` (a deadline, a
 * caller gone) cuts the connection at once and ends a waiting pull, whatever it waits for: the
 * headers, the body, or a backend's own `before` or `retry` (those run in a fiber of their own
 * that closing interrupts).
 */
export const events = <A>(
  call: Call,
  reader: (reply: Reply) => Reader<A> | BackendError,
  options: Options = {}
): Events.Events<A, BackendError> => {
  const refine = options.refine ?? ((error: BackendError) => error)
  let closed = false
  /** Ends what the pull waits for now. */
  let stop: (() => void) | undefined
  let body: Events.Events<A, BackendError> | undefined
  const sendOnce = (target: Call): Effect.Effect<Reply | undefined, BackendError> =>
    Effect.clockWith((clock) =>
      Effect.callback<Reply | undefined, BackendError>((resume) => {
        if (closed) return resume(Effect.succeed(undefined))
        let settled = false
        const cancel = request(target, () => clock.currentTimeMillisUnsafe(), (result) => {
          settled = true
          stop = undefined
          resume(result instanceof BackendError ? Effect.fail(refine(result)) : Effect.succeed(result))
        })
        if (!settled) {
          stop = () => {
            settled = true
            cancel()
            resume(Effect.succeed(undefined))
          }
        }
        return Effect.sync(() => {
          stop = undefined
          if (!settled) cancel()
        })
      }))
  /** A backend's own step, in a fiber that closing interrupts; undefined when closed. */
  const step = <X>(effect: Effect.Effect<X, BackendError>): Effect.Effect<X | undefined, BackendError> =>
    Effect.flatMap(Effect.forkDetach(effect), (fiber) =>
      Effect.callback<X | undefined, BackendError>((resume) => {
        if (closed) {
          fiber.interruptUnsafe()
          return resume(Effect.succeed(undefined))
        }
        stop = () => {
          fiber.interruptUnsafe()
          resume(Effect.succeed(undefined))
        }
        fiber.addObserver((exit) => {
          stop = undefined
          resume(exit)
        })
        return Effect.sync(() => {
          stop = undefined
          fiber.interruptUnsafe()
        })
      }))
  const open = (target: Call, retried: boolean): Effect.Effect<Reply | undefined, BackendError> =>
    Effect.catch(sendOnce(target), (error) => {
      const again = retried ? undefined : options.retry?.(error)
      return again === undefined ? Effect.fail(error) : Effect.flatMap(step(again), (next) => (next === undefined ? Effect.succeed(undefined) : open(next, true)))
    })
  const sending = options.before === undefined
    ? open(call, false)
    : Effect.flatMap(step(Effect.mapError(options.before, refine)), () => open(call, false))
  const opening: Effect.Effect<ReadonlyArray<A> | undefined, BackendError> = Effect.flatMap(sending, (reply) => {
    if (reply === undefined || closed) {
      reply?.cut()
      return Effect.succeed(undefined)
    }
    const opened = reader(reply)
    if (opened instanceof BackendError) {
      reply.cut()
      return Effect.fail(opened)
    }
    body = bodyOf(reply, opened)
    return body.pull
  })
  return {
    _tag: "Events",
    pull: Effect.suspend(() => (closed ? Effect.succeed(undefined) : body === undefined ? opening : body.pull)),
    close: () => {
      if (closed) return
      closed = true
      stop?.()
      body?.close()
    }
  }
}

/**
 * A reply's body through its reader. Each pull gives every event the bytes that have arrived
 * make (the headers' events with the first of them), waiting only when there are none: on a
 * loopback connection a short answer is usually one pull. Events before a failure come first;
 * the failure is the next pull's. Read to its end (or the reader's `done`), the body keeps its
 * connection; closed before that, it is cut.
 */
const bodyOf = <A>(reply: Reply, reader: Reader<A>): Events.Events<A, BackendError> => {
  let head: ReadonlyArray<A> | undefined = reader.events
  let pending: BackendError | undefined
  let done = false
  let closed = false
  let stop: (() => void) | undefined
  const wait = Effect.callback<void>((resume) => {
    const forget = reply.wait(() => {
      stop = undefined
      resume(Effect.void)
    })
    stop = () => {
      forget()
      resume(Effect.void)
    }
    return Effect.sync(() => {
      stop = undefined
      forget()
    })
  })
  const pull: Effect.Effect<ReadonlyArray<A> | undefined, BackendError> = Effect.suspend(() => {
    let out: Array<A> = []
    if (head !== undefined) {
      out = [...head]
      head = undefined
    }
    const some = () => Effect.succeed(out)
    while (true) {
      if (pending) return out.length > 0 ? some() : Effect.fail(pending)
      if (done || closed) return Effect.succeed(out.length > 0 ? out : undefined)
      let bytes: Buffer | null | undefined
      try {
        bytes = reply.take()
      } catch (error) {
        pending = error as BackendError
        continue
      }
      if (bytes === null) return out.length > 0 ? some() : Effect.andThen(wait, pull)
      const chunk = reader.read(bytes)
      pending = chunk.failure
      done = chunk.done === true || bytes === undefined
      // Complete: release the body now, which keeps the connection for the next request.
      if (done && !pending) reply.release()
      if (chunk.events.length > 0) out = out.length > 0 ? out.concat(chunk.events) : [...chunk.events]
    }
  })
  return {
    _tag: "Events",
    pull,
    close: () => {
      if (closed) return
      closed = true
      reply.cut()
      stop?.()
    }
  }
}

/**
 * The response body as bytes. A connection that breaks mid-body is a `StreamCut` (the answer
 * started and did not finish); closing the stream early cuts the connection.
 */
export const body = (_call: Call, reply: Reply): Stream.Stream<Uint8Array, BackendError> =>
  Events.toStream(() => bodyOf(reply, { events: [], read: (bytes) => ({ events: bytes === undefined ? [] : [bytes] }) }))

/** The whole response body as text. */
export const text = (call: Call, reply: Reply): Effect.Effect<string, BackendError> =>
  Effect.map(Stream.runCollect(body(call, reply)), (parts) => Buffer.concat(parts).toString("utf8"))

/** Send the call and read its whole body as JSON. */
export const json = (call: Call): Effect.Effect<unknown, BackendError> =>
  Effect.flatMap(send(call), (reply) =>
    Effect.flatMap(text(call, reply), (text) =>
      Effect.try({
        try: (): unknown => JSON.parse(text),
        catch: () => failure(call, "Upstream", `${call.backend} answered with something that is not JSON: ${truncate(text)}`, reply.status)
      })))

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

const statusFailure = (call: Call, reply: Reply, text: string, now: number): BackendError => {
  const status = reply.status
  const said = errorText(text)
  const parsed = parseJson(text)
  let reason = reasonOfStatus(status, call.model !== undefined)
  // A billing stop, not a busy server: waiting will not help (protocols.md §4.1).
  if (status === 429 && /insufficient_quota/.test(text)) reason = "Auth"
  // Queue limits said in words (Ollama's 503 "server busy", Moondream's "Queue is full").
  if (/queue (is )?full|server busy/i.test(said)) reason = "Overloaded"
  // A 404 for the route itself (`Not Found` with no JSON) cannot be about a model we did not name.
  if (status === 404 && call.model === undefined && parsed === undefined) reason = "Upstream"
  const retry = reason === "Overloaded" ? retryAfterMs({ get: (name) => reply.header(name) ?? null }, now) : undefined
  const what = reason === "ModelMissing" ? ` (model "${call.model}")` : ""
  return failure(call, reason, `${call.backend} answered HTTP ${status}${what}${said ? `: ${said}` : ""}`, status, retry)
}

/** Before the headers: nothing answered (refused, reset, unresolvable), or it went idle. */
const connectFailure = (call: Call, error: Error): BackendError =>
  failure(call, error instanceof IdleTimeout ? "Timeout" : "Unreachable", `${call.backend}: no answer from ${originOf(call.url)} (${said(error)})`)

/** After the headers: the answer started and did not finish. */
const bodyFailure = (call: Call, error: Error): BackendError =>
  failure(call, error instanceof IdleTimeout ? "Timeout" : "StreamCut", `${call.backend}: the connection broke mid-answer (${said(error)})`)

/** node's error code (ECONNREFUSED, ECONNRESET, …) when it has one, else its message. */
const said = (error: Error): string => {
  const code = (error as { code?: unknown }).code
  return typeof code === "string" ? code : error.message
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
