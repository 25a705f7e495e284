/** What the router did for one request: every candidate, tried or skipped, and why. */
import * as Schema from "effect/Schema"

export const Outcome = Schema.Literals(["answered", "failed", "skipped"])

export const Attempt = Schema.Struct({
  backend: Schema.String,
  model: Schema.optional(Schema.String),
  outcome: Outcome,
  /** A BackendError reason for a failure, or why the candidate was skipped. */
  reason: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  /** Anything else worth knowing about this candidate (e.g. its server could not say what the model supports, so routing.yaml's declarations were used). */
  detail: Schema.optional(Schema.String),
  /** True when the failure came after tokens had reached the caller. */
  committed: Schema.optional(Schema.Boolean),
  durationMs: Schema.Number
})
export type Attempt = typeof Attempt.Type

export const Trace = Schema.Struct({
  category: Schema.optional(Schema.String),
  pinned: Schema.optional(Schema.Boolean),
  backend: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  /** Embeddings: the vector space the vectors belong to (the model's name, or the \`space:\` declared in routing.yaml). */
  space: Schema.optional(Schema.String),
  attempts: Schema.Array(Attempt),
  configVersion: Schema.Number,
  durationMs: Schema.Number
})
export type Trace = typeof Trace.Type

/** One line per attempt, e.g. `mlx (qwen) failed Unreachable 3ms: connection refused`. */
export const describe = (trace: Trace): string =>
  trace.attempts
    .map((a) =>
      `${a.backend}${a.model ? ` (${a.model})` : ""} ${a.outcome}${a.reason ? ` ${a.reason}` : ""}` +
      `${a.outcome === "skipped" ? "" : ` ${Math.round(a.durationMs)}ms`}${a.message ? `: ${a.message}` : ""}${a.detail ? ` (${a.detail})` : ""}`
    )
    .join("\n")
