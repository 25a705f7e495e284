/** What the `local-router` command's exit status means, so scripts can branch on it. */
export const ExitCode = {
  ok: 0,
  /** routing.yaml is invalid. */
  invalidConfig: 1,
  /** No routing.yaml, or bad command-line usage. */
  notFound: 2,
  /** No backend could answer (all failed or none could be tried). */
  noAnswer: 3,
  /** The request itself was refused: unknown category or backend, bad input. */
  rejected: 4,
  /** The answer failed after it had started streaming. */
  streamFailed: 5,
  /** launchctl / systemctl refused to install, load or remove the service. */
  serviceFailed: 6
} as const

import type { RouteError } from "@local-router/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

export const forRouteError = (reason: RouteError.Reason): number =>
  reason === "AllFailed" || reason === "NoCandidates"
    ? ExitCode.noAnswer
    : reason === "StreamFailed"
    ? ExitCode.streamFailed
    : ExitCode.rejected

/** The exit code for the failures a user can act on; others stay failures (and print a cause). */
const exitCodeOf = (error: unknown): number | undefined => {
  const tagged = error as { _tag?: string; reason?: string }
  switch (tagged._tag) {
    case "ConfigError":
      return tagged.reason === "Invalid" ? ExitCode.invalidConfig : ExitCode.notFound
    case "RouteError":
      return forRouteError(tagged.reason as RouteError.Reason)
    case "VisionError":
      return ExitCode.rejected
    case "ServiceError":
      return ExitCode.serviceFailed
    case "GatewayError":
      return ExitCode.notFound
    default:
      return undefined
  }
}

/** A command's failure a user can act on becomes its message on stderr and its exit code. */
export const reported = <A, E, R>(command: Effect.Effect<A, E, R>): Effect.Effect<A | void, E, R> =>
  Effect.catch(command, (error) => {
    const code = exitCodeOf(error)
    if (code === undefined) return Effect.fail(error)
    const message = (error as { message?: string }).message ?? String(error)
    return Effect.andThen(
      Console.error(code === ExitCode.invalidConfig || code === ExitCode.notFound ? message : `local-router: ${message}`),
      Effect.sync(() => {
        process.exitCode = code
      })
    )
  })
