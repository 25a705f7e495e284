/**
 * `fetch` for plain `http:` URLs (local model servers), over node:http with a keep-alive
 * agent, answering the same WHATWG `Response` so callers cannot tell the difference.
 *
 * Why not fetch itself: on a local server fetch (undici) was the largest cost of a routed
 * request, about 1 ms of CPU and 1.5 ms of wall time per call against 0.2 ms for node:http
 * on the same connection, more than the router and the gateway together.
 *
 * What fetch did that is kept here:
 * - a redirect is handed to fetch, which follows it as before;
 * - a connection with no traffic for 300 s fails with undici's timeout codes, so HttpCall
 *   maps it to `Timeout` as it did (the Router's own deadlines are usually far shorter);
 * - the signal aborts the request and destroys the connection; cancelling the body does too.
 * What it did not do: ask for a compressed answer (local servers stream uncompressed).
 */
import * as http from "node:http"
import { Readable } from "node:stream"

const agent = new http.Agent({ keepAlive: true })

/** undici's defaults for headers and body, which fetch applied before. */
const idleMs = 300_000

export interface Init {
  readonly method: string
  readonly headers: Record<string, string>
  readonly body?: string
  readonly signal: AbortSignal
}

export const request = (url: URL, init: Init): Promise<Response> =>
  new Promise((resolve, reject) => {
    const headers = init.body === undefined ? init.headers : { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) }
    let answered = false
    const req = http.request(url, { method: init.method, headers, agent, signal: init.signal, timeout: idleMs }, (res) => {
      answered = true
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        res.resume()
        resolve(fetch(url, { method: init.method, headers: init.headers, signal: init.signal, ...(init.body === undefined ? {} : { body: init.body }) }))
        return
      }
      const names = res.rawHeaders
      const received = new Headers()
      for (let i = 0; i + 1 < names.length; i += 2) received.append(names[i]!, names[i + 1]!)
      const empty = status === 204 || status === 205 || status === 304 || init.method === "HEAD"
      if (empty) res.resume()
      try {
        resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? "", headers: received }))
      } catch (error) {
        // A status fetch would not accept either (outside 200-599).
        res.destroy()
        reject(error)
      }
    })
    req.on("timeout", () => req.destroy(Object.assign(new Error(`no data for ${idleMs / 1000} s`), { code: answered ? "UND_ERR_BODY_TIMEOUT" : "UND_ERR_HEADERS_TIMEOUT" })))
    req.on("error", reject)
    req.end(init.body)
  })
