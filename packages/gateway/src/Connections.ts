/**
 * How many connections one client may hold open at once. Node caps the total
 * (`server.maxConnections`) and times out slow headers and bodies, but one client opening
 * connections without end could still take every slot; past its share a new connection is
 * answered `503` with a JSON error and closed, so the client learns why.
 */
import type * as http from "node:http"
import type * as net from "node:net"

const refusal = (limit: number): string => {
  const body = JSON.stringify({
    error: { message: `too many open connections from this client (limit ${limit}); close some and retry`, type: "server_error" }
  })
  return `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `retry-after: 1\r\nconnection: close\r\n\r\n${body}`
}

/**
 * Count each client's connections on `server`. The answer tells whether a request arrived on a
 * refused connection (Node may still parse one that was already sent): such a request must not
 * be served.
 */
export const limitPerClient = (server: http.Server, limit: number): ((socket: net.Socket) => boolean) => {
  const open = new Map<string, number>()
  const refused = new WeakSet<net.Socket>()
  const answer = refusal(limit)
  server.on("connection", (socket: net.Socket) => {
    const client = socket.remoteAddress ?? "unknown"
    const count = (open.get(client) ?? 0) + 1
    if (count > limit) {
      refused.add(socket)
      socket.on("error", () => socket.destroy())
      socket.end(answer)
      // A client that never reads its refusal must not keep even this socket.
      socket.setTimeout(2_000, () => socket.destroy())
      return
    }
    open.set(client, count)
    socket.once("close", () => {
      const left = (open.get(client) ?? 1) - 1
      if (left === 0) open.delete(client)
      else open.set(client, left)
    })
  })
  return (socket) => refused.has(socket)
}
