/**
 * `local-router status` when no supervisor runs: each supervised server is probed directly,
 * the way the supervisor would, and reported as running (someone else's), stopped or
 * not installed.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Binary from "./Binary.ts"
import type * as Plans from "./Plans.ts"
import * as Policy from "./Policy.ts"
import * as Port from "./Port.ts"
import * as Server from "./Server.ts"
import type { ServerView } from "./StatusApi.ts"

export const probeAll = (loaded: Plans.Loaded): Effect.Effect<ReadonlyArray<ServerView>> =>
  Effect.forEach(loaded.servers, probeOne, { concurrency: "unbounded" })

const probeOne = (server: Plans.Server) =>
  Effect.gen(function*() {
    const { plan } = server
    const { backend } = server
    const probe = Result.isSuccess(backend) ? yield* backend.success.probe : yield* Port.tcpProbe(plan.host, plan.port)
    const found = Binary.find(plan.command, { ...process.env, ...(plan.env.PATH ? { PATH: plan.env.PATH } : {}) })
    const alive = Policy.health(probe) === "alive"
    const phase: Policy.Phase = alive ? "adopted" : found._tag === "Missing" ? "not-installed" : "stopped"
    const reason = alive
      ? `answers at ${plan.host}:${plan.port}; no supervisor is running`
      : found._tag === "Missing"
      ? `${plan.command} not found${plan.installHint ? `; install it with: ${plan.installHint}` : ""}`
      : `not running (${probe._tag === "Ready" ? "" : probe.detail}); no supervisor is running`
    return {
      name: plan.name,
      type: plan.type,
      phase,
      reason,
      since: Date.now(),
      address: `${plan.host}:${plan.port}`,
      command: [plan.command, ...plan.args].join(" "),
      pid: undefined,
      startedAt: undefined,
      restarts: 0,
      models: Server.modelsOf(plan.models, probe, server.normalizeModel),
      lastError: undefined,
      lastLines: [],
      pull: undefined,
      canPull: Server.canPull(plan, Result.getOrUndefined(backend)),
      probe: Result.isSuccess(backend) ? "backend" : "tcp",
      log: "",
      uptimeMs: undefined
    } satisfies ServerView
  })
