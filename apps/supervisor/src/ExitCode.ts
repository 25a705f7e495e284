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

export const forRouteError = (reason: RouteError.Reason): number =>
  reason === "AllFailed" || reason === "NoCandidates"
    ? ExitCode.noAnswer
    : reason === "StreamFailed"
    ? ExitCode.streamFailed
    : ExitCode.rejected
