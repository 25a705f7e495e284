/** Whether something accepts TCP connections at host:port: tells a foreign program from a free port. */
import * as Effect from "effect/Effect"
import * as net from "node:net"
import { type Backend } from "@local-router/core"

export const isOpen = (host: string, port: number, timeoutMs = 500): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const socket = net.connect({ host, port })
    const done = (open: boolean) => {
      socket.destroy()
      resume(Effect.succeed(open))
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    // `on`, not `once`: a reset after the first error must not become an uncaught exception.
    socket.on("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

/** The probe of a server whose backend type cannot be loaded here: an open port counts as ready. */
export const tcpProbe = (host: string, port: number): Effect.Effect<Backend.Probe> =>
  Effect.map(isOpen(host, port), (open): Backend.Probe =>
    open
      ? { _tag: "Ready", models: [], loaded: [] }
      : { _tag: "Unreachable", detail: `nothing listens on ${host}:${port}` })
