/**
 * Moondream Station answers almost every failure with HTTP 200 and an `error` key
 * (protocols.md §3.6); this reads that text and picks the reason the router acts on.
 * Unknown texts are Upstream: the server answered, and not with an answer.
 */
import { BackendError } from "@local-router/core"

type Reason = BackendError.Reason

const rules: ReadonlyArray<readonly [RegExp, Reason]> = [
  [/queue is full/i, "Overloaded"],
  [/request timeout/i, "Timeout"],
  [/is not available$|model .* not (found|available)/i, "ModelMissing"],
  [/function '.*' not available/i, "Upstream"],
  [/is required|are required|cannot identify image file|incorrect padding|does not support caption length|invalid base64/i, "BadRequest"],
  [/unauthori[sz]ed|invalid api key|forbidden/i, "Auth"],
  [/rate limit|too many requests/i, "Overloaded"]
]

/** The reason an in-band error text means; `status` is Station's own `status` field when sent. */
export const reasonOf = (text: string, status?: string): Reason => {
  if (status === "rejected") return "Overloaded"
  if (status === "timeout") return "Timeout"
  for (const [pattern, reason] of rules) if (pattern.test(text)) return reason
  return "Upstream"
}

/** The error a 200-with-error body stands for, or undefined when the body is not one. */
export const fromBody = (backend: string, body: unknown, model?: string): BackendError.BackendError | undefined => {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined
  const record = body as Record<string, unknown>
  const text = typeof record["error"] === "string" ? record["error"] : JSON.stringify(record["error"])
  const status = typeof record["status"] === "string" ? record["status"] : undefined
  return new BackendError.BackendError({
    reason: reasonOf(text, status),
    backend,
    message: `${backend}: Moondream answered with an error: ${text.slice(0, 500)}`,
    ...(model === undefined ? {} : { model })
  })
}
