/** What the `local-router` command's exit status means, so scripts can branch on it. */
export const ExitCode = {
  ok: 0,
  /** routing.yaml is invalid. */
  invalidConfig: 1,
  /** No routing.yaml, bad command-line usage, or a Node too old to run local-router (checked in bin.ts). */
  notFound: 2,
  /** No backend could answer (all failed or none could be tried); for `pdf`, any page failed. */
  noAnswer: 3,
  /** The request itself was refused: unknown category or backend, bad input. */
  rejected: 4,
  /** The answer failed after it had started streaming. */
  streamFailed: 5,
  /** launchctl / systemctl refused to install, load or remove the service. */
  serviceFailed: 6,
  /** `pull`: a backend could not pull a model (the others were still pulled). */
  pullFailed: 7
} as const

import type { RouteError } from "@local-router/core"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

export const forRouteError = (reason: RouteError.Reason): number =>
  reason === "AllFailed" || reason === "NoCandidates"
    ? ExitCode.noAnswer
    : reason === "StreamFailed"
    ? ExitCode.streamFailed
    : ExitCode.rejected

/**
 * A command's own failure with its exit code: a partial failure (`pdf` with a page that failed,
 * `pull` with a backend that could not pull) or a refusal the parser cannot see (an unknown
 * backend name). `details` go into the `--json` error object.
 */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly code: number
  readonly reason: string
  readonly message: string
  readonly details?: Readonly<Record<string, unknown>>
}> {}

/** A failure as a user sees it: its exit code, a word a script can branch on, and what happened. */
export interface Reported {
  readonly code: number
  readonly reason: string
  readonly message: string
  /** More for `--json`: a routing.yaml's problems, the trace of what a request tried. */
  readonly details: Readonly<Record<string, unknown>>
}

/** The failures a user can act on; others stay failures (and print a cause). */
export const reportOf = (error: unknown): Reported | undefined => {
  const tagged = error as { _tag?: string; reason?: string; message?: string }
  const message = tagged.message ?? String(error)
  const reason = tagged.reason ?? "Failed"
  switch (tagged._tag) {
    case "CommandFailed": {
      const failed = error as CommandFailed
      return { code: failed.code, reason, message, details: failed.details ?? {} }
    }
    case "ConfigError": {
      const config = error as { file: string; issues: ReadonlyArray<{ file: string; line: number; column: number; path: string; message: string }> }
      return {
        code: reason === "Invalid" ? ExitCode.invalidConfig : ExitCode.notFound,
        reason,
        message,
        details: {
          file: config.file,
          problems: config.issues.map((i) => ({ file: i.file, line: i.line, column: i.column, path: i.path, message: i.message }))
        }
      }
    }
    case "RouteError": {
      const route = error as RouteError.RouteError
      return { code: forRouteError(route.reason), reason, message, details: { trace: route.trace, ...(route.known ? { known: route.known } : {}) } }
    }
    case "VisionError":
      return { code: ExitCode.rejected, reason, message, details: {} }
    case "ServiceError":
      return { code: ExitCode.serviceFailed, reason, message, details: {} }
    case "GatewayError":
      return { code: ExitCode.notFound, reason, message, details: {} }
    default:
      return undefined
  }
}

/**
 * The one shape of every `--json` error, whatever the command: `{"error":{"code","reason","message",...}}`,
 * on one line, so it also ends a stream of JSON lines (`ask --stream --json`, `pdf --json`).
 */
export const jsonError = (report: Reported): string =>
  JSON.stringify({ error: { code: report.code, reason: report.reason, message: report.message, ...report.details } })

/**
 * A command's failure a user can act on becomes its exit code and its message: on stderr, or
 * with `--json` as the JSON error object on stdout (and nothing on stderr, so `2>&1` still parses).
 */
export const reported = (json: boolean) => <A, E, R>(command: Effect.Effect<A, E, R>): Effect.Effect<A | void, E, R> =>
  Effect.catch(command, (error) => {
    const report = reportOf(error)
    if (report === undefined) return Effect.fail(error)
    const said = json
      ? Console.log(jsonError(report))
      : Console.error(
        (report.code === ExitCode.invalidConfig || (report.code === ExitCode.notFound && report.reason !== "Usage")
          ? report.message
          : `local-router: ${report.message}`) +
          (typeof report.details.usage === "string" ? `\nusage: ${report.details.usage}` : "")
      )
    return Effect.andThen(
      said,
      Effect.sync(() => {
        process.exitCode = report.code
      })
    )
  })
