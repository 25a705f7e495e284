/**
 * The supervisor's decisions, as pure functions of what happened: which state may follow which,
 * how long to back off, when a run of failures is a crash loop, what a probe result means.
 * Server.ts carries them out; the tests check them as tables.
 */
import type { Backend } from "@local-router/core"
import type { Restart } from "./Supervise.ts"

export type Phase =
  | "stopped"
  | "not-installed"
  | "starting"
  | "ready"
  | "unhealthy"
  | "backing-off"
  | "failed"
  | "adopted"

/** Every allowed transition. Anything else is a bug in Server.ts and is refused. */
export const transitions: Readonly<Record<Phase, ReadonlyArray<Phase>>> = {
  // At start: our child, someone else's server, no binary, or the port held by a foreign program.
  stopped: ["starting", "adopted", "not-installed", "failed"],
  // The binary appeared (checked again after a while, or on a config edit).
  "not-installed": ["starting", "adopted", "failed", "stopped"],
  // Ready in time; or it exited / missed the deadline (backing-off, or failed in a crash loop).
  starting: ["ready", "backing-off", "failed", "stopped"],
  // Probes fail; the child exited; shutdown or a config edit.
  ready: ["unhealthy", "backing-off", "failed", "stopped"],
  // Probes recover; N failures restart it (through backing-off); exit; shutdown.
  unhealthy: ["ready", "backing-off", "failed", "stopped"],
  "backing-off": ["starting", "adopted", "not-installed", "failed", "stopped"],
  // A crash loop is left only by a config edit or an explicit restart; a taken port is
  // checked again after a while (and may turn out to be our kind of server to adopt).
  failed: ["starting", "adopted", "not-installed", "stopped"],
  // The adopted server went away: start our own (or find we cannot).
  adopted: ["starting", "not-installed", "failed", "stopped"]
}

export const canMove = (from: Phase, to: Phase): boolean => transitions[from].includes(to)

/**
 * Whether a move is news: a server that stays `not-installed` (or `failed` on a taken port) is
 * checked again every 30 s with the same outcome, and saying so each time buries every other line
 * of a service's log. The same phase for the same reason is logged once; a change of either is
 * logged again.
 */
export const isNews = (from: { readonly phase: Phase; readonly reason: string }, to: Phase, reason: string): boolean =>
  from.phase !== to || from.reason !== reason

/** Failure times still inside the crash-loop window. */
export const recent = (restart: Restart, failures: ReadonlyArray<number>, now: number): ReadonlyArray<number> =>
  failures.filter((at) => now - at < restart.window)

/** Delay before the next start: backoffMin doubling per recent failure, capped at backoffMax. */
export const backoff = (restart: Restart, recentFailures: number): number =>
  Math.min(restart.backoffMax, restart.backoffMin * 2 ** Math.max(0, recentFailures - 1))

export type AfterFailure =
  | { readonly _tag: "Retry"; readonly delay: number; readonly failures: ReadonlyArray<number> }
  | { readonly _tag: "GiveUp"; readonly reason: string; readonly failures: ReadonlyArray<number> }

/**
 * A run ended badly at `now` (exited, missed its start deadline, or was restarted for failing
 * probes). Retry after a backoff, or give up when `limit` failures fell within `window`.
 */
export const afterFailure = (restart: Restart, failures: ReadonlyArray<number>, now: number): AfterFailure => {
  const kept = [...recent(restart, failures, now), now]
  if (kept.length >= restart.limit) {
    return {
      _tag: "GiveUp",
      reason: `crash loop: ${kept.length} failures within ${Math.round(restart.window / 1000)}s`,
      failures: kept
    }
  }
  return { _tag: "Retry", delay: backoff(restart, kept.length), failures: kept }
}

export type Health = "alive" | "dead"

/** Busy (loading a model) is alive; Starting on a server that was ready means it stopped answering. */
export const health = (probe: Backend.Probe): Health =>
  probe._tag === "Ready" || probe._tag === "Busy" ? "alive" : "dead"

export type HealthVerdict =
  | { readonly _tag: "Healthy" }
  | { readonly _tag: "Unhealthy"; readonly failures: number }
  | { readonly _tag: "Restart"; readonly failures: number }

/** After a probe of a running server: `failures` counts consecutive dead probes before this one. */
export const afterProbe = (threshold: number, failures: number, probe: Backend.Probe): HealthVerdict => {
  if (health(probe) === "alive") return { _tag: "Healthy" }
  const n = failures + 1
  return n >= threshold ? { _tag: "Restart", failures: n } : { _tag: "Unhealthy", failures: n }
}

/**
 * Which check a running server gets next: the cheap one (Liveness.ts) while it keeps passing,
 * the backend's full probe once `health.full` ms have passed since the last one, and after any
 * failed probe (then the full probe's verdict and wording count, not the cheap check's).
 * A failed cheap check is followed by a full probe at once (Server.ts).
 */
export const nextCheck = (
  health: { readonly full: number },
  failures: number,
  sinceFull: number
): "quick" | "full" => (failures > 0 || sinceFull >= health.full ? "full" : "quick")

export type Readiness = "ready" | "loading" | "waiting"

/** During a start: Ready is ready, Busy is alive but loading (no start deadline), else keep waiting. */
export const readiness = (probe: Backend.Probe): Readiness =>
  probe._tag === "Ready" ? "ready" : probe._tag === "Busy" ? "loading" : "waiting"
