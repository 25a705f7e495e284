/**
 * The closed set of ways a backend can fail. `Fallback.decide` says from the reason (and the
 * server's Retry-After) whether the router falls back, counts the failure against the
 * backend's circuit, or stops.
 */
import * as Schema from "effect/Schema"

export const Reason = Schema.Literals([
  "Unreachable", // nothing listening, connection refused or reset before any answer
  "Timeout", // a deadline passed: connect, first token, idle between tokens or total
  "ModelMissing", // the server does not have the model (pull it, or try elsewhere)
  "Overloaded", // the server says "not now" (429, 503 busy, 529, queue full)
  "BadRequest", // the caller's own request is wrong; another backend would reject it too
  "Auth", // missing or rejected credentials
  "Upstream", // the server answered with an error or an answer we cannot read
  "StreamCut", // the stream ended without its terminal marker
  "InvalidOutput" // the answer does not have the shape asked for (JSON that does not match the request's JSON Schema)
])
export type Reason = typeof Reason.Type

export class BackendError extends Schema.TaggedError<BackendError>()("BackendError", {
  reason: Reason,
  backend: Schema.String,
  message: Schema.String,
  model: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  /** How long the server asked not to be called again (its Retry-After); the circuit stays open that long. */
  retryAfterMs: Schema.optional(Schema.Number)
}) {}
