/** Why the gateway could not start. Request-time failures are ApiErrors, answered to the caller. */
import * as Schema from "effect/Schema"

export const Reason = Schema.Literals([
  "UnsafeBind", // a non-loopback host without a token
  "TokenMissing", // routing.yaml names a token variable that is not set
  "Listen" // the address could not be bound (in use, not local, no permission)
])
export type Reason = typeof Reason.Type

export class GatewayError extends Schema.TaggedError<GatewayError>()("GatewayError", {
  reason: Reason,
  message: Schema.String
}) {}
