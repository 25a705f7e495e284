/** Why the router could not answer, always with the trace of what it tried. */
import * as Schema from "effect/Schema"
import { Trace } from "./Trace.ts"

export const Reason = Schema.Literals([
  "UnknownCategory", // the category is not in routing.yaml (the message lists the known ones)
  "UnknownBackend", // a pinned backend is not in routing.yaml
  "InvalidRequest", // the request itself is malformed (no prompt, no input to embed, an invalid JSON Schema, a chat request to an embed category or the reverse)
  "NoCandidates", // every backend was skipped (no model, circuit open, failed to load, disabled)
  "Unsupported", // every backend was skipped for lacking what the request needs (tools, JSON schema, reasoning, images, embeddings): a 4xx; the message lists why each was skipped
  "AllFailed", // every backend tried failed with a reason that allows fallback
  "BadRequest", // a backend rejected the caller's own request; no other backend would accept it
  "StreamFailed" // the answer failed after tokens had reached the caller
])
export type Reason = typeof Reason.Type

export class RouteError extends Schema.TaggedError<RouteError>()("RouteError", {
  reason: Reason,
  message: Schema.String,
  trace: Trace,
  /** Known categories (UnknownCategory) or backends (UnknownBackend). */
  known: Schema.optional(Schema.Array(Schema.String))
}) {}
