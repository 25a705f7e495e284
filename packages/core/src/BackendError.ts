/**
 * The closed set of ways a backend can fail. The router decides from the reason alone
 * whether to fall back, count the failure against the backend's circuit, or stop.
 */
import * as Schema from "effect/Schema"

export const Reason = Schema.Literal(
  "Unreachable", // nothing listening, connection refused or reset before any answer
  "Timeout", // a deadline passed: connect, first token, idle between tokens or total
  "ModelMissing", // the server does not have the model (pull it, or try elsewhere)
  "Overloaded", // the server says "not now" (429, 503 busy, 529, queue full)
  "BadRequest", // the caller's own request is wrong; another backend would reject it too
  "Auth", // missing or rejected credentials
  "Upstream", // the server answered with an error or an answer we cannot read
  "StreamCut" // the stream ended without its terminal marker
)
export type Reason = typeof Reason.Type

export class BackendError extends Schema.TaggedError<BackendError>()("BackendError", {
  reason: Reason,
  backend: Schema.String,
  message: Schema.String,
  model: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  retryAfterMs: Schema.optional(Schema.Number)
}) {}

/** Reasons that say "this backend cannot answer now; another may". */
export const fallsBack = (reason: Reason): boolean => reason !== "BadRequest"

/**
 * Reasons that count against a backend's circuit. A missing model is about one model, not
 * the backend, and a bad request is the caller's fault.
 */
export const countsAgainstCircuit = (reason: Reason): boolean =>
  reason !== "BadRequest" && reason !== "ModelMissing"
