/**
 * HTTP for plain `http:` URLs (local model servers) over node:http with a keep-alive agent.
 * The answer is a `Reply`: the part of fetch's `Response` that callers use (status, headers,
 * text, json), with the body read straight off the socket.
 *
 * Why not fetch: on a local server, fetch (undici) and then a WHATWG stream over node:http
 * were each the largest cost of a routed request, more than the router and the gateway
 * together. A `Reply` hands the bytes that have arrived to the caller in one piece, with no
 * promise or stream stage per chunk: on a loopback connection a whole short answer usually
 * arrives, and is read, at once.
 *
 * What fetch did that is kept here:
 * - redirects to `http:` URLs are followed (one to `https:` is an error that names it);
 * - a connection with no traffic for 300 s fails with undici's timeout codes, so HttpCall
 *   maps it to `Timeout` as it did (the Router's own deadlines are usually far shorter);
 * - interrupting the request destroys the connection; releasing a body still streaming does too.
 * What it did not do: ask for a compressed answer (local servers stream uncompressed).
 */
import * as Effect from "effect/Effect"
import type * as http from "node:http"
import * as NodeHttp from "../NodeHttp.ts"
import { type Stop, Stopped } from "./Stop.ts"

const agent = new NodeHttp.Agent({ keepAlive: true })

/** undici's defaults for headers and body, which fetch applied before. */
const idleMs = 300_000

/** Bytes buffered before the socket is paused until the reader catches up. */
const highWaterBytes = 1024 * 1024

/**
 * How long a released body whose end has not arrived may still finish (and keep its
 * connection for the next request) before it is cut. A reader stops at the protocol's end
 * marker (`[DONE]`, `done: true`), usually a moment before the HTTP body's own end.
 */
const graceMs = 2

export interface Init {
  readonly method: string
  readonly headers: Record<string, string>
  readonly body?: string
}

/** Redirects followed before giving up, as fetch does. */
const maxRedirects = 20

export interface Sent {
  /** Give up on the request: destroy it (before the headers) or cut the reply (after). */
  readonly cancel: () => void
}

/**
 * Send the request; `answered` gets the reply once its headers are in, `failed` what went
 * wrong before that. Redirects to `http:` URLs are followed as fetch follows them (a 303, or a
 * 301/302 after a POST, becomes a GET without a body).
 */
export const start = (url: URL, init: Init, answered: (reply: Reply) => void, failed: (error: unknown) => void): Sent => {
  let current: http.ClientRequest | undefined
  let reply: Reply | undefined
  let settled = false
  const settle = () => {
    const first = !settled
    settled = true
    return first
  }
  const send = (target: URL, sending: Init, hops: number) => {
    const headers = sending.body === undefined ? sending.headers : { ...sending.headers, "content-length": String(Buffer.byteLength(sending.body)) }
    const req = NodeHttp.request(target, { method: sending.method, headers, agent, timeout: idleMs }, (res) => {
      const status = res.statusCode ?? 0
      const location = res.headers.location
      if (status >= 300 && status < 400 && location !== undefined) {
        res.resume()
        const next = URL.canParse(location, target.href) ? new URL(location, target) : undefined
        if (next?.protocol !== "http:" || hops >= maxRedirects) {
          if (settle()) failed(new Error(next?.protocol === "https:" ? `redirected to ${next.origin}: put that URL in routing.yaml` : "too many or unreadable redirects"))
          return
        }
        const keep = status === 307 || status === 308 || (sending.method !== "POST" && status !== 303)
        send(next, keep ? sending : { method: sending.method === "HEAD" ? "HEAD" : "GET", headers: withoutBody(sending.headers) }, hops + 1)
        return
      }
      if (status < 200 || status > 599) {
        // A status fetch would not accept either.
        res.destroy()
        if (settle()) failed(new RangeError(`the server answered with HTTP status ${status}`))
        return
      }
      if (!settle()) {
        res.destroy()
        return
      }
      reply = new Reply(res, sending.method === "HEAD")
      answered(reply)
    })
    current = req
    req.on("timeout", () => {
      const error = Object.assign(new Error(`no data for ${idleMs / 1000} s`), { code: reply ? "UND_ERR_BODY_TIMEOUT" : "UND_ERR_HEADERS_TIMEOUT" })
      reply?.fail(error)
      req.destroy(error)
    })
    req.on("error", (error) => {
      if (current !== req) return
      if (settle()) failed(error)
      else reply?.fail(error)
    })
    req.end(sending.body)
  }
  send(url, init, 0)
  return {
    cancel: () => {
      if (reply) reply.cut()
      else {
        settled = true
        current?.destroy()
      }
    }
  }
}

const withoutBody = (headers: Record<string, string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== "content-type") out[name] = value
  return out
}

/** `start` as an Effect: succeed once the response headers are in. A fired `stop` ends the wait. */
export const request = (url: URL, init: Init, stop?: Stop): Effect.Effect<Reply, unknown> =>
  Effect.async<Reply, unknown>((resume) => {
    let done = false
    const sent = start(url, init, (reply) => {
      done = true
      forget?.()
      resume(Effect.succeed(reply))
    }, (error) => {
      done = true
      forget?.()
      resume(Effect.fail(error))
    })
    const forget = stop?.on(() => {
      if (done) return
      done = true
      sent.cancel()
      resume(Effect.fail(new Stopped()))
    })
    return Effect.sync(() => {
      if (!done) sent.cancel()
    })
  })

/**
 * A response whose headers are in. Its body is read from the moment it exists into a queue
 * that `take` empties; the socket is paused while the queue is over a megabyte.
 */
export class Reply {
  readonly ok: boolean
  readonly status: number
  readonly statusText: string
  #res: http.IncomingMessage
  #headers: Headers | undefined
  #queue: Array<Buffer> = []
  #queued = 0
  #state: "open" | "ended" | "failed" | "released" = "open"
  #failure: unknown
  #waiter: (() => void) | undefined

  constructor(res: http.IncomingMessage, empty: boolean) {
    this.#res = res
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
    res.on("error", (error) => this.fail(error))
    const status = this.status
    if (empty || status === 204 || status === 205 || status === 304) res.resume()
  }

  get headers(): Headers {
    if (this.#headers === undefined) {
      const raw = this.#res.rawHeaders
      const headers = new Headers()
      for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!)
      this.#headers = headers
    }
    return this.#headers
  }

  /** One response header (lower-case name), without building `headers`. */
  header(name: string): string | undefined {
    const value = this.#res.headers[name]
    return Array.isArray(value) ? value.join(", ") : value
  }

  /**
   * The bytes that arrived since the last call, in one piece; `null` when none are waiting
   * yet (see `wait`), `undefined` at the end. Throws the failure of a body that broke.
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
    if (this.#queue.length > 0 || this.#state === "ended" || this.#state === "failed") {
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
    if (res.complete) return
    const timer = setTimeout(() => res.destroy(), graceMs)
    res.once("end", () => clearTimeout(timer))
  }

  /** Cut the connection now, whatever is still to come. */
  cut(): void {
    if (this.#state === "open") this.#state = "released"
    this.#queue = []
    this.#waiter = undefined
    this.#res.destroy()
  }

  /** @internal the connection failed (or timed out) while the body was being read. */
  fail(error: unknown): void {
    if (this.#state !== "open") return
    this.#state = "failed"
    this.#failure = error
    this.#wake()
  }

  text(): Promise<string> {
    return new Promise((resolve, reject) => {
      const parts: Array<Buffer> = []
      const read = (): void => {
        try {
          for (let bytes = this.take(); bytes !== undefined; bytes = this.take()) {
            if (bytes === null) {
              this.wait(read)
              return
            }
            parts.push(bytes)
          }
          resolve(Buffer.concat(parts).toString("utf8"))
        } catch (error) {
          reject(error)
        }
      }
      read()
    })
  }

  json(): Promise<unknown> {
    return this.text().then((text) => JSON.parse(text) as unknown)
  }

  #wake(): void {
    const waiter = this.#waiter
    if (waiter === undefined) return
    this.#waiter = undefined
    waiter()
  }
}
