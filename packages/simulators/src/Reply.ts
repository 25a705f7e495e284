/**
 * The write side of one exchange, in two transports: Node's HTTP/1.1 response (Ollama,
 * Station, the clouds) and a raw HTTP/1.0 writer for mlx_lm.server, which answers with a
 * close-delimited body (no Content-Length, no chunking) as Python's http.server does.
 * Streaming code and fault injection only see this interface, so a cut or a hang looks the
 * same to every simulator.
 */
import type { ServerResponse } from "node:http"
import type { Socket } from "node:net"

export interface Reply {
  /** True once the client went away or we cut the connection. */
  readonly closed: boolean
  /** True once the status line has been written. */
  readonly started: boolean
  head(status: number, headers: Record<string, string | number>): void
  write(chunk: string): void
  end(chunk?: string): void
  /** Drop the connection without any terminal marker (a cut stream, or no response at all). */
  destroy(): void
  /** Resolves when the connection closes, for "hang forever" faults that must not leak. */
  readonly gone: Promise<void>
}

export const fromResponse = (res: ServerResponse): Reply => {
  let closed = false
  const gone = new Promise<void>((resolve) => {
    res.on("close", () => {
      closed = true
      resolve()
    })
  })
  return {
    get closed() {
      return closed || res.destroyed
    },
    get started() {
      return res.headersSent
    },
    head(status, headers) {
      res.writeHead(status, headers)
      // Tokens must reach the client one by one, not when Node decides to coalesce them.
      res.flushHeaders()
    },
    write(chunk) {
      if (!closed) res.write(chunk)
    },
    end(chunk) {
      if (!closed) res.end(chunk)
    },
    destroy() {
      closed = true
      // Let what was already written reach the client first: a cut stream keeps its tokens.
      const socket = res.socket
      setImmediate(() => {
        if (socket === null || socket.writableLength === 0) res.destroy()
        else socket.once("drain", () => res.destroy())
      })
    },
    gone
  }
}

const reasons: Record<number, string> = {
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  404: "Not Found",
  411: "Length Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable"
}

/**
 * HTTP/1.0 straight onto the socket. Node's ServerResponse always speaks HTTP/1.1 with
 * chunking, which would hide the quirk clients of mlx_lm.server must cope with: the end of
 * a streamed body is the end of the connection.
 */
export const raw = (socket: Socket, serverHeader: string): Reply => {
  let closed = false
  let started = false
  const gone = new Promise<void>((resolve) => {
    socket.once("close", () => {
      closed = true
      resolve()
    })
  })
  return {
    get closed() {
      return closed || socket.destroyed
    },
    get started() {
      return started
    },
    head(status, headers) {
      started = true
      const lines = [`HTTP/1.0 ${status} ${reasons[status] ?? "Unknown"}`, `Server: ${serverHeader}`, `Date: ${new Date().toUTCString()}`]
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
      socket.write(`${lines.join("\r\n")}\r\n\r\n`)
    },
    write(chunk) {
      if (!closed) socket.write(chunk)
    },
    end(chunk) {
      if (closed) return
      closed = true
      if (chunk === undefined) socket.end()
      else socket.end(chunk)
    },
    destroy() {
      closed = true
      setImmediate(() => {
        if (socket.writableLength === 0) socket.destroy()
        else socket.once("drain", () => socket.destroy())
      })
    },
    gone
  }
}
