/**
 * The supervisor's HTTP status API, on the address `local-router serve` listens on:
 *
 *   GET  /health                  200 {"ok":true}
 *   GET  /status                  every server's state, pid, uptime, restarts, models, last error
 *   POST /servers/:name/retry     leave failed / not-installed now
 *
 * It is an HttpRouter so the gateway can be served beside it on the same address:
 * `HttpRouter.concat(gatewayRouter, StatusApi.router(supervisor))`, or the gateway keeps its
 * own `/status` and passes `StatusApi.view(supervisor)` as its supervisor status provider.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as http from "node:http"
import type * as Server from "./Server.ts"
import type * as Supervisor from "./Supervisor.ts"

export interface ServerView extends Server.Status {
  readonly uptimeMs: number | undefined
}

export interface View {
  readonly supervisor: { readonly pid: number; readonly uptimeMs: number; readonly config: string; readonly configError: string | null }
  readonly servers: ReadonlyArray<ServerView>
}

/** The JSON of `GET /status`: also what `local-router status --json` prints. */
export const view = (supervisor: Supervisor.Supervisor): Effect.Effect<View> =>
  Effect.map(supervisor.snapshot, (s) => {
    const now = Date.now()
    return {
      supervisor: { pid: s.pid, uptimeMs: now - s.startedAt, config: s.file, configError: s.configError ?? null },
      servers: s.servers.map((server) => ({
        ...server,
        uptimeMs: server.startedAt !== undefined && server.pid !== undefined ? now - server.startedAt : undefined
      }))
    }
  })

export const router = (supervisor: Supervisor.Supervisor) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/health", Effect.succeed(HttpServerResponse.unsafeJson({ ok: true }))),
    HttpRouter.get("/status", Effect.map(view(supervisor), (v) => HttpServerResponse.unsafeJson(v))),
    HttpRouter.post(
      "/servers/:name/retry",
      Effect.gen(function*() {
        const { name } = yield* HttpRouter.params
        const server = name ? yield* supervisor.server(name) : undefined
        if (!server) return HttpServerResponse.unsafeJson({ error: `no supervised server named ${name}` }, { status: 404 })
        yield* server.retry
        return HttpServerResponse.unsafeJson({ ok: true })
      })
    )
  )

/** Serve the status API on host:port for as long as the scope lives. */
export const serve = (supervisor: Supervisor.Supervisor, host: string, port: number) =>
  Layer.launch(
    HttpServer.serve(router(supervisor)).pipe(
      Layer.provide(NodeHttpServer.layer(() => http.createServer(), { host, port }))
    )
  )
