/**
 * The supervisor's view for `GET /status`: every server's state, pid, uptime, restarts, models
 * and last error. `local-router serve` hands it to the gateway as its status provider, so it
 * appears under `supervisor` in the gateway's /status on the same address.
 */
import type { Actions } from "@local-router/gateway"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Server from "./Server.ts"
import type * as Supervisor from "./Supervisor.ts"

export interface ServerView extends Server.Status {
  readonly uptimeMs: number | undefined
}

export interface View {
  readonly supervisor: {
    readonly pid: number
    readonly uptimeMs: number
    readonly config: string
    readonly configVersion: number
    readonly configError: string | null
    /** Where serve logs each request (`local-router logs`); null when it does not. */
    readonly requestLog?: string | null
  }
  readonly servers: ReadonlyArray<ServerView>
}

/** The JSON of `GET /status`: also what `local-router status --json` prints. */
export const view = (supervisor: Supervisor.Supervisor, serve: { readonly requestLog?: string | undefined } = {}): Effect.Effect<View> =>
  Effect.map(supervisor.snapshot, (s) => {
    const now = Date.now()
    return {
      supervisor: {
        pid: s.pid,
        uptimeMs: now - s.startedAt,
        config: s.file,
        configVersion: s.version,
        configError: s.configError ?? null,
        requestLog: serve.requestLog ?? null
      },
      servers: s.servers.map((server) => ({
        ...server,
        uptimeMs: server.startedAt !== undefined && server.pid !== undefined ? now - server.startedAt : undefined
      }))
    }
  })

/** Why a server without a pull API or a `pull.command` is not asked to pull. */
export const cannotPull = (status: Pick<Server.Status, "name" | "type">): string =>
  `${status.name} cannot pull models; a ${status.type} server has no pull API: put the model on it by hand, or give its supervise block a pull.command`

/**
 * The status page's actions on the supervisor's servers. A pull runs in `scope` (serve's), not in
 * the request that asked for it: the page follows its progress in the status, and leaving the
 * page does not stop it.
 */
export const actions = (supervisor: Supervisor.Supervisor, scope: Scope.Scope): Actions.Actions => {
  const find = (name: string) =>
    Effect.flatMap(supervisor.server(name), (server) =>
      server
        ? Effect.succeed(server)
        : Effect.fail<Actions.ActionRefused>({ reason: "NotFound", message: `no supervised server is called ${JSON.stringify(name)}` }))
  return {
    restart: (name) =>
      Effect.flatMap(find(name), (server) =>
        Effect.mapError(server.restart, (refused): Actions.ActionRefused => ({ reason: "Refused", message: refused.message }))),
    pull: (name, model) =>
      Effect.gen(function*() {
        const server = yield* find(name)
        const status = yield* server.status
        if (!status.canPull) {
          return yield* Effect.fail<Actions.ActionRefused>({ reason: "Refused", message: cannotPull(status) })
        }
        if (status.pull) {
          return yield* Effect.fail<Actions.ActionRefused>({ reason: "Refused", message: `${name} is already pulling ${status.pull.model}` })
        }
        yield* Effect.forkIn(
          Stream.runDrain(server.pull(model)).pipe(
            Effect.tapError((error) => Effect.logWarning(`${name}: pull of ${model} failed: ${error.message}`)),
            Effect.ignore
          ),
          scope
        )
        return `pulling ${model} onto ${name}`
      })
  }
}
