/**
 * Why the gateway answers a request with an error, as a closed set of reasons. Each API
 * dialect (OpenAI, Ollama, native) renders it in its own shape; the reason alone decides the
 * HTTP status. Messages are written for the caller: they never carry a stack trace or a
 * secret (backend messages are already scrubbed by core).
 */
import * as Schema from "effect/Schema"
import { RouteError, Trace } from "@local-router/core"

export const Reason = Schema.Literals([
  "NotFound", // no such route
  "MethodNotAllowed", // the route exists with another method
  "Unauthorized", // missing or wrong bearer token
  "Forbidden", // a browser origin not allowed, or a foreign Host header on a loopback bind (DNS rebinding)
  "TooLarge", // the body is over maxBodyBytes
  "UnsupportedMediaType", // a body whose Content-Type the route does not take (a form post to a JSON route)
  "BadJson", // the body is not JSON
  "InvalidRequest", // JSON, but not a request this API accepts
  "Unprocessable", // a well-formed upload that could not be processed (a page failed to render)
  "UnknownModel", // `model` names no category and no backend/model
  "Unsupported", // no candidate of the model can do what the request needs (tools, a JSON schema, reasoning, embeddings): the message says why each was skipped
  "Rejected", // a backend rejected the caller's own request; no other would accept it
  "Unavailable", // no backend could be tried (all skipped: circuits open, models missing...)
  "AllFailed", // every backend tried failed
  "StreamFailed", // the answer failed after it had started
  "Internal" // a defect in local-router itself
])
export type Reason = typeof Reason.Type

export class ApiError extends Schema.TaggedError<ApiError>()("ApiError", {
  reason: Reason,
  message: Schema.String,
  /** Categories then pinned names, for UnknownModel. */
  known: Schema.optional(Schema.Array(Schema.String)),
  /** What the router tried, when the router was involved. */
  trace: Schema.optional(Trace.Trace),
  /** The router's own reason and message, when the router refused or failed: what `ask` through serve reports. */
  route: Schema.optional(Schema.Struct({ reason: RouteError.Reason, message: Schema.String }))
}) {}

export const status = (reason: Reason): number => {
  switch (reason) {
    case "NotFound":
    case "UnknownModel":
      return 404
    case "MethodNotAllowed":
      return 405
    case "Unauthorized":
      return 401
    case "Forbidden":
      return 403
    case "TooLarge":
      return 413
    case "UnsupportedMediaType":
      return 415
    case "BadJson":
    case "InvalidRequest":
    case "Unsupported":
    case "Rejected":
      return 400
    case "Unavailable":
      return 503
    case "AllFailed":
    case "StreamFailed":
      return 502
    case "Unprocessable":
      return 422
    case "Internal":
      return 500
  }
}

export const invalid = (message: string): ApiError => new ApiError({ reason: "InvalidRequest", message })

/** What the caller sees for a router failure. */
export const fromRouteError = (error: RouteError.RouteError, model: string, known: ReadonlyArray<string>): ApiError => {
  const route = { reason: error.reason, message: error.message }
  switch (error.reason) {
    case "UnknownCategory":
    case "UnknownBackend":
      return new ApiError({
        reason: "UnknownModel",
        message: `model "${model}" not found: use a category (${known.join(", ")}) or backend/model`,
        known,
        trace: error.trace,
        route
      })
    case "InvalidRequest":
      return new ApiError({ reason: "InvalidRequest", message: error.message, trace: error.trace, route })
    case "BadRequest":
      return new ApiError({ reason: "Rejected", message: error.message, trace: error.trace, route })
    case "Unsupported":
      return new ApiError({ reason: "Unsupported", message: error.message, trace: error.trace, route })
    case "NoCandidates":
      return new ApiError({ reason: "Unavailable", message: error.message, trace: error.trace, route })
    case "AllFailed": {
      // A caller who pinned backend/model and the backend does not have that model: the
      // caller's model is not found (404), not a server failure (502).
      const failed = error.trace.attempts.filter((a) => a.outcome === "failed")
      if (error.trace.pinned && failed.length > 0 && failed.every((a) => a.reason === "ModelMissing")) {
        return new ApiError({ reason: "UnknownModel", message: `model "${model}" not found: ${failed[0]!.backend} does not have it`, known, trace: error.trace, route })
      }
      return new ApiError({ reason: "AllFailed", message: error.message, trace: error.trace, route })
    }
    case "StreamFailed":
      return new ApiError({ reason: "StreamFailed", message: error.message, trace: error.trace, route })
  }
}
