/**
 * `local-router status [--json]`: each supervised server's state, pid, uptime, restarts, models
 * present/missing and last error, from the running supervisor's status API, or by probing the
 * servers directly when no supervisor answers.
 */
import { Command } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { configOption, jsonOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"
import type { ServerView, View } from "../supervisor/StatusApi.ts"
import { hostOption, portOption } from "./Serve.ts"

const ask = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const body = (await response.json()) as Partial<View> & { readonly supervisor?: Partial<View> }
    // The supervisor's own API, or the gateway's /status carrying the supervisor's view.
    const servers = body.servers ?? body.supervisor?.servers
    if (!Array.isArray(servers)) throw new Error("no servers in the answer")
    return { servers: servers as ReadonlyArray<ServerView>, configError: body.supervisor?.configError ?? null }
  }).pipe(Effect.option)

const duration = (ms: number | undefined) => {
  if (ms === undefined) return "-"
  const s = Math.floor(ms / 1000)
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
}

const table = (servers: ReadonlyArray<ServerView>) => {
  const rows = [["SERVER", "STATE", "PID", "UPTIME", "RESTARTS", "MODELS"], ...servers.map((s) => [
    s.name,
    s.phase,
    s.pid === undefined ? "-" : String(s.pid),
    duration(s.uptimeMs),
    String(s.restarts),
    s.models ? `${s.models.present.length} present${s.models.missing.length ? `, missing: ${s.models.missing.join(", ")}` : ""}` : "-"
  ])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd())
  for (const s of servers) {
    if (s.phase !== "ready" && s.phase !== "adopted") lines.push(`${s.name}: ${s.reason}`)
    else if (s.lastError) lines.push(`${s.name}: last error: ${s.lastError}`)
  }
  return lines.join("\n")
}

export const status = Command.make("status", { config: configOption, json: jsonOption, host: hostOption, port: portOption }, ({ config, host, json, port }) =>
  Effect.gen(function*() {
    const parent = yield* root
    const { loaderOptions, locate } = yield* routingFile
    const file = yield* locate(config, parent.config)
    const Plans = yield* Effect.promise(() => import("../supervisor/Plans.ts"))
    const loaded = yield* Plans.load(file, loaderOptions)
    const h = Option.getOrElse(host, () => loaded.config.server.host)
    const p = Option.getOrElse(port, () => loaded.config.server.port)
    const live = yield* ask(`http://${h}:${p}/status`)
    const from = Option.isSome(live) ? `the supervisor at http://${h}:${p}` : "direct probes (no supervisor answers at " + `http://${h}:${p})`
    const servers = Option.isSome(live)
      ? live.value.servers
      : yield* Effect.flatMap(Effect.promise(() => import("../supervisor/Direct.ts")), (Direct) => Direct.probeAll(loaded))
    if (json) return yield* Console.log(JSON.stringify({ from, servers }, null, 2))
    yield* Console.log(`Servers, from ${from}:\n\n${table(servers)}`)
    if (Option.isSome(live) && live.value.configError) yield* Console.log(`\nrouting.yaml edit rejected:\n${live.value.configError}`)
  }).pipe(Effect.scoped)).pipe(Command.withDescription("Show each supervised server's state, pid, uptime, restarts, models and last error"))
