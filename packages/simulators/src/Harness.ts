/**
 * Hosts one simulator in this process: binds the port, prints the ready line, serves the
 * `/__sim/*` control routes, records requests, and applies the faults that happen before a
 * simulator sees a request (crash, dropped connection, hang before headers, error status).
 * Everything protocol-specific lives in the simulator's Definition.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { setTimeout as sleep } from "node:timers/promises"
import { FaultBook, type Plan } from "./FaultBook.ts"
import * as Faults from "./Faults.ts"
import * as Pacer from "./Pacer.ts"
import * as Reply from "./Reply.ts"
import { findImages, publicHeaders, RequestLog } from "./RequestLog.ts"

export type StatusFault = Extract<Faults.Fault, { kind: "status" }>

export interface Exchange {
  readonly req: IncomingMessage
  readonly method: string
  readonly url: URL
  readonly path: string
  readonly body: Buffer
  /** The parsed body; undefined when it was empty or not JSON. */
  readonly json: unknown
  /** JSON.parse's complaint when the body was not empty and not JSON. */
  readonly jsonError: string | undefined
  /** `model` (or Ollama's legacy `name`) from the body, used to scope faults. */
  readonly model: string | undefined
  readonly plan: Plan
  readonly reply: Reply.Reply
}

export interface Definition {
  readonly sim: string
  /** Answer as HTTP/1.0 with close-delimited bodies, sending this `Server` header. */
  readonly http10Server?: string
  handle(ex: Exchange): Promise<void>
  /** Writes a `status` fault in this server's own error shape. */
  fail(ex: Exchange, fault: StatusFault): void
  /** Extra state shown at `GET /__sim/state`, for debugging tests. */
  state?(): unknown
}

export interface Options {
  readonly host: string
  readonly port: number
  readonly faults: ReadonlyArray<Faults.Fault>
  readonly dieWithStdin: boolean
  readonly ignoreSigterm: boolean
  /** Binds the server and returns the port taken; defaults to one listen() on host:port. */
  readonly bind?: (server: Server, host: string, port: number) => Promise<number>
}

export const listenOnce = (server: Server, host: string, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e)
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resolve((server.address() as AddressInfo).port)
    })
  })

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const parts: Array<Buffer> = []
    req.on("data", (c: Buffer) => parts.push(c))
    req.on("end", () => resolve(Buffer.concat(parts)))
    req.on("error", reject)
  })

const sendJson = (res: ServerResponse, status: number, value: unknown): void => {
  const text = JSON.stringify(value)
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) })
  res.end(text)
}

export const serve = async (def: Definition, options: Options): Promise<{ server: Server; port: number }> => {
  const book = new FaultBook(options.faults)
  const log = new RequestLog()
  let served = 0
  // crashAfter counts from when the fault set was installed (start-up or POST /__sim/faults).
  let sinceFaults = 0

  const crash = (): never => {
    process.stderr.write(`sim-${def.sim}: crashing after ${book.global("crashAfter")?.requests} requests (fault crashAfter)\n`)
    process.exit(1)
  }

  const control = async (req: IncomingMessage, res: ServerResponse, path: string, body: Buffer): Promise<void> => {
    if (path === "/__sim/faults") {
      if (req.method === "GET") return sendJson(res, 200, { faults: book.list() })
      if (req.method === "DELETE") {
        book.replace([])
        sinceFaults = 0
        return sendJson(res, 200, { faults: [] })
      }
      if (req.method === "POST" || req.method === "PUT") {
        try {
          book.replace(Faults.decodeSet(JSON.parse(body.toString("utf8") || "[]")))
          sinceFaults = 0
          return sendJson(res, 200, { faults: book.list() })
        } catch (e) {
          return sendJson(res, 400, { error: e instanceof Error ? e.message : String(e) })
        }
      }
    }
    if (path === "/__sim/requests") {
      if (req.method === "GET") return sendJson(res, 200, { requests: log.list() })
      if (req.method === "DELETE") {
        log.clear()
        return sendJson(res, 200, { requests: [] })
      }
    }
    if (path === "/__sim/state" && req.method === "GET") return sendJson(res, 200, { sim: def.sim, served, state: def.state?.() ?? null })
    sendJson(res, 404, { error: `no control route ${req.method} ${path}` })
  }

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://sim")
    const path = url.pathname
    const body = await readBody(req)
    if (path.startsWith("/__sim/")) return control(req, res, path, body)

    served += 1
    sinceFaults += 1
    const crashAfter = book.global("crashAfter")?.requests
    if (crashAfter !== undefined && sinceFaults > crashAfter) crash()
    if (crashAfter !== undefined && sinceFaults === crashAfter) res.on("close", crash)

    let json: unknown
    let jsonError: string | undefined
    if (body.length > 0) {
      try {
        json = JSON.parse(body.toString("utf8"))
      } catch (e) {
        jsonError = e instanceof Error ? e.message : String(e)
      }
    }
    const named = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {}
    const model = typeof named["model"] === "string" ? named["model"] : typeof named["name"] === "string" ? named["name"] : undefined
    const query = Object.fromEntries(url.searchParams)
    log.add({
      method: req.method ?? "GET",
      path,
      query,
      headers: publicHeaders(req.headers),
      body: json ?? null,
      ...(json === undefined && body.length > 0 ? { rawBody: body.toString("utf8").slice(0, 2048) } : {}),
      images: json === undefined ? [] : findImages(json)
    })
    const plan = book.plan(path, model)
    const reply = def.http10Server !== undefined ? Reply.raw(req.socket, def.http10Server) : Reply.fromResponse(res)
    const ex: Exchange = { req, method: req.method ?? "GET", url, path, body, json, jsonError, model, plan, reply }

    if (plan.dropConnection) return reply.destroy()
    if (!(await Pacer.holdHeaders(reply, plan.hangBeforeHeadersMs))) return
    if (plan.status !== undefined) return def.fail(ex, plan.status)
    await def.handle(ex)
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((e: unknown) => {
      process.stderr.write(`sim-${def.sim}: handler failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: `simulator bug: ${String(e)}` })
      else res.destroy()
    })
  })
  // Streams may idle for a long time under hang faults; the simulator must not time them out itself.
  server.requestTimeout = 0
  server.headersTimeout = 0
  // Like a real server, let clients reuse a connection (undici will not reuse one whose
  // announced keep-alive is at or under its 1 s safety margin).
  server.keepAliveTimeout = 5000

  const slow = book.global("slowStart")
  if (slow !== undefined) await sleep(slow.ms)
  const port = await (options.bind ?? listenOnce)(server, options.host, options.port)

  const stop = (signal: NodeJS.Signals) => {
    if (signal === "SIGTERM" && options.ignoreSigterm) {
      process.stderr.write(`sim-${def.sim}: ignoring SIGTERM (--ignore-sigterm)\n`)
      return
    }
    server.close()
    server.closeAllConnections()
    process.exit(0)
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  if (options.dieWithStdin) {
    process.stdin.on("end", () => process.exit(0))
    process.stdin.on("close", () => process.exit(0))
    process.stdin.resume()
  }

  const host = options.host.includes(":") ? `[${options.host}]` : options.host
  process.stdout.write(`${JSON.stringify({ sim: def.sim, host: options.host, port, url: `http://${host}:${port}`, pid: process.pid })}\n`)
  return { server, port }
}
