/**
 * The supervisor's view for `GET /status`: every server's state, pid, uptime, restarts, models
 * and last error. `local-router serve` hands it to the gateway as its status provider, so it
 * appears under `supervisor` in the gateway's /status on the same address.
 */
import * as Effect from "effect/Effect"
import type * as Server from "./Server.ts"
import type * as Supervisor from "./Supervisor.ts"

export interface ServerView extends Server.Status {
  readonly uptimeMs: number | undefined
}

export interface View {
  readonly supervisor: { readonly pid: number; readonly uptimeMs: number; readonly config: string; readonly configVersion: number; readonly configError: string | null }
  readonly servers: ReadonlyArray<ServerView>
}

/** The JSON of `GET /status`: also what `local-router status --json` prints. */
export const view = (supervisor: Supervisor.Supervisor): Effect.Effect<View> =>
  Effect.map(supervisor.snapshot, (s) => {
    const now = Date.now()
    return {
      supervisor: { pid: s.pid, uptimeMs: now - s.startedAt, config: s.file, configVersion: s.version, configError: s.configError ?? null },
      servers: s.servers.map((server) => ({
        ...server,
        uptimeMs: server.startedAt !== undefined && server.pid !== undefined ? now - server.startedAt : undefined
      }))
    }
  })
