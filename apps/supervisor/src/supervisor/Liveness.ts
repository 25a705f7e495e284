/**
 * The cheap check between a running server's full probes: one `GET /` over a kept-alive
 * connection. A backend's own probe makes several requests through the router's HTTP stack and
 * costs tens of milliseconds of CPU; on an idle machine, every 5 s per server, that alone kept
 * `serve` from being idle. This costs about a millisecond.
 *
 * Any HTTP answer below 500 within the deadline means "still answers" (Ollama says "Ollama is
 * running", mlx_lm.server a 404: both are alive). Anything else — refused, reset, timed out, a
 * 5xx — is no verdict: the caller runs the backend's full probe, whose result and wording count.
 */
import { NodeHttp } from "@local-router/core"
import * as Effect from "effect/Effect"

// One connection per server, kept between checks; free sockets are unref'd by the agent.
const agent = new NodeHttp.Agent({ keepAlive: true, maxSockets: 1 })

export const answers = (host: string, port: number, timeoutMs: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    let settled = false
    const done = (alive: boolean) => {
      if (settled) return
      settled = true
      resume(Effect.succeed(alive))
    }
    const request = NodeHttp.get({ host, port, path: "/", agent }, (response) => {
      response.on("error", () => done(false))
      response.once("end", () => done((response.statusCode ?? 500) < 500))
      response.resume()
    })
    request.setTimeout(timeoutMs, () => {
      request.destroy()
      done(false)
    })
    request.on("error", () => done(false))
    return Effect.sync(() => request.destroy())
  })
