/**
 * `local-router status [--json] [--watch]`: each supervised server's state, pid, uptime, restarts,
 * models present/loaded/missing and last error, from the running supervisor's status API, or by probing
 * the servers directly when no supervisor answers. `--watch` follows the gateway's events stream
 * (the status page's own): servers, each category's route and the latest requests, redrawn on
 * every change, reconnecting when serve restarts.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { jsonOption } from "../CliConfig.ts"
import { root } from "../Root.ts"
import * as RunningServe from "../RunningServe.ts"
import type { RequestLog } from "@local-router/gateway"
import type { ServerView } from "../supervisor/StatusApi.ts"
import { hostOption, portOption } from "./Serve.ts"

const watchOption = Flag.Boolean("watch").pipe(
  Flag.withDescription("Follow serve's status as it changes (servers, routes, recent requests); Ctrl-C stops"),
  Flag.withDefault(false)
)

const duration = (ms: number | undefined) => {
  if (ms === undefined) return "-"
  const s = Math.floor(ms / 1000)
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
}

/** `2 present (loaded: phi3.5:3.8b), missing: llava:7b (cannot pull)`; loaded only as the server reports it. */
export const models = (s: Pick<ServerView, "models" | "canPull">): string => {
  if (!s.models) return "-"
  const loaded = s.models.loaded ?? []
  const missing = s.models.missing.length ? `, missing: ${s.models.missing.join(", ")}${s.canPull === false ? " (cannot pull)" : ""}` : ""
  return `${s.models.present.length} present${loaded.length ? ` (loaded: ${loaded.join(", ")})` : ""}${missing}`
}

const table = (servers: ReadonlyArray<ServerView>) => {
  const rows = [["SERVER", "STATE", "PID", "UPTIME", "RESTARTS", "MODELS"], ...servers.map((s) => [
    s.name,
    s.phase,
    s.pid === undefined ? "-" : String(s.pid),
    duration(s.uptimeMs),
    String(s.restarts),
    models(s)
  ])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd())
  for (const s of servers) {
    if (s.phase !== "ready" && s.phase !== "adopted") lines.push(`${s.name}: ${s.reason}`)
    else if (s.lastError) lines.push(`${s.name}: last error: ${s.lastError}`)
  }
  return lines.join("\n")
}

interface Watched {
  readonly supervisor?: { readonly servers?: ReadonlyArray<ServerView>; readonly configError?: string | null } | null
  readonly router?: {
    readonly routes?: ReadonlyArray<{
      readonly category: string
      readonly answer?: { readonly backend: string; readonly model: string }
      readonly candidates: ReadonlyArray<{ readonly backend: string; readonly skip?: string }>
    }>
  }
  readonly requests?: {
    readonly recent: ReadonlyArray<Pick<RequestLog.Entry, "at" | "category" | "backend" | "model" | "attempts" | "ttftMs" | "totalMs" | "outcome">>
  }
}

/** One screen of the watched status. */
export const screen = (status: Watched, url: string): string => {
  const lines = [`local-router at ${url} (${new Date().toLocaleTimeString()})`, "", table(status.supervisor?.servers ?? []), "", "Routes now:"]
  for (const route of status.router?.routes ?? []) {
    const skips = route.candidates.filter((c) => c.skip && c.skip !== "no model for this category").map((c) => `${c.backend}: ${c.skip}`)
    lines.push(`  ${route.category.padEnd(14)} ${route.answer ? `-> ${route.answer.backend} (${route.answer.model})` : "no server can answer now"}${skips.length ? `   [${skips.join("; ")}]` : ""}`)
  }
  const recent = status.requests?.recent.slice(0, 8) ?? []
  lines.push("", recent.length ? "Recent requests:" : "No requests yet.")
  for (const r of recent) {
    lines.push(
      `  ${new Date(r.at).toLocaleTimeString()}  ${(r.category ?? "pinned").padEnd(12)} ${(r.backend ? `${r.backend} (${r.model})` : "-").padEnd(28)} ` +
        `${r.attempts} tr${r.attempts === 1 ? "y " : "ies"}  first ${r.ttftMs === null ? "-" : `${r.ttftMs}ms`}  total ${r.totalMs}ms  ${r.outcome}`
    )
  }
  if (status.supervisor?.configError) lines.push("", `routing.yaml edit rejected:\n${status.supervisor.configError}`)
  return lines.join("\n")
}

/** Follow /status/events until the stream ends; each event's JSON to `show`. */
const follow = (url: string, headers: Record<string, string>, show: (status: Watched) => void) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`${url}/status/events`, { signal, headers })
      if (response.status === 401) throw new Error("serve needs its token: set LOCAL_ROUTER_TOKEN")
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`)
      // Loaded when watching starts: parsing the command line loads no core (Cli.test.ts).
      const { Sse } = await import("@local-router/core")
      const decoder = Sse.decoder({ backend: "local-router" })
      for await (const bytes of response.body) {
        const events = decoder.feed(bytes)
        if (Result.isFailure(events)) throw new Error(events.failure.message)
        for (const event of events.success) show(JSON.parse(event.data) as Watched)
      }
    },
    catch: (error) => failureOf(url, error)
  })

/** Why following failed, in words: fetch says only "fetch failed" and keeps the reason in its cause. */
const failureOf = (url: string, error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause
  if (cause?.code === "ECONNREFUSED") return `no serve answers at ${url} (connection refused)`
  // e.g. fetch's "bad port" for a port browsers refuse, such as 1 or 6000.
  if (cause?.code || cause?.message) return `cannot reach serve at ${url} (${cause.code ?? cause.message})`
  return error instanceof Error ? error.message : String(error)
}

const watch = (url: string, headers: Record<string, string>, json: boolean) => {
  const tty = process.stdout.isTTY === true
  const show = (status: Watched) => {
    if (json) return void process.stdout.write(`${JSON.stringify(status)}\n`)
    process.stdout.write(`${tty ? "\x1b[2J\x1b[H" : "\n"}${screen(status, url)}\n`)
  }
  // Each failure is said once, and again only when it changes: a serve that stays away for an
  // hour is one line, not 3600.
  let said: string | undefined
  const sayOnce = (message: string) =>
    message === said ? Effect.void : Effect.andThen(Effect.sync(() => void (said = message)), Console.error(message))
  return Effect.forever(
    follow(url, headers, show).pipe(
      Effect.matchEffect({
        onFailure: (message) => sayOnce(`status: ${message}; trying again every second (Ctrl-C stops)`),
        onSuccess: () => sayOnce("status: serve went away; waiting for it to come back (Ctrl-C stops)")
      }),
      Effect.andThen(Effect.sleep(Duration.seconds(1)))
    )
  )
}

export const status = Command.make("status", { json: jsonOption, host: hostOption, port: portOption, watch: watchOption }, ({ host, json, port, watch: watching }) =>
  Effect.gen(function*() {
    const parent = yield* root
    const { headers, loaded, url } = yield* RunningServe.address(parent.config, host, port)
    if (watching) return yield* watch(url, headers, json)
    const live = yield* RunningServe.status(url, headers)
    const from = Option.isSome(live) ? `the supervisor at ${url}` : `direct probes (no supervisor answers at ${url})`
    const servers = Option.isSome(live)
      ? live.value.servers
      : yield* Effect.flatMap(Effect.promise(() => import("../supervisor/Direct.ts")), (Direct) => Direct.probeAll(loaded))
    if (json) return yield* Console.log(JSON.stringify({ from, servers }, null, 2))
    yield* Console.log(`Servers, from ${from}:\n\n${table(servers)}`)
    if (Option.isSome(live) && live.value.configError) yield* Console.log(`\nrouting.yaml edit rejected:\n${live.value.configError}`)
    if (Option.isSome(live) && live.value.requestLog) yield* Console.log(`\nrequest log: ${live.value.requestLog} (local-router logs --follow)`)
  }).pipe(Effect.scoped)).pipe(Command.withDescription("Show each supervised server's state, pid, uptime, restarts, models and last error"))
