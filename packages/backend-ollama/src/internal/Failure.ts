/**
 * Ollama's failures as BackendErrors. Transport failures and HTTP statuses are already
 * BackendErrors from core's HttpCall, and pass through unchanged, except one Ollama-specific
 * refinement: gin's text `404 page not found` is an unknown route (something other than Ollama
 * listens), not a missing model.
 *
 * What remains is the NDJSON stream read as ollama-js reads it (protocols.md §1.15): an Error
 * carrying the text of an `{"error": …}` line, and ollama-js's fixed message when the body
 * ended without `done`/`success`.
 */
import { BackendError } from "@local-router/core"

export interface Where {
  readonly backend: string
  readonly model?: string
  /** What was being done, for the message: "chat", "pull", "GET /api/tags". */
  readonly action: string
}

/** Before headers (`open`) or while reading the body (`read`). */
export type Phase = "open" | "read"

/** ollama-js's own message when the body ended without a `done`/`success` object. */
export const NO_DONE = "Did not receive done or success response in stream."

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const classify = (where: Where, phase: Phase) => (e: unknown): BackendError.BackendError => {
  const make = (reason: BackendError.Reason, message: string) =>
    new BackendError.BackendError({
      reason,
      backend: where.backend,
      message: `${where.backend}: ${message}`,
      ...(where.model === undefined ? {} : { model: where.model })
    })
  if (e instanceof BackendError.BackendError) {
    // Ollama's 400 for a feature the model lacks (protocols.md Part 2 §A.1, §A.3): the request
    // is fine and another model may serve it, so the Router treats it as it treats a missing
    // model (try elsewhere, no mark against the server), never as the caller's mistake.
    if ((e.status === 400 || e.status === 501) && /does not support (tools|thinking|chat|completion|vision|insert|embeddings?)\b/i.test(e.message)) {
      return new BackendError.BackendError({
        reason: "ModelMissing",
        backend: e.backend,
        ...(where.model === undefined ? {} : { model: where.model }),
        status: e.status,
        message: `${e.message} (the model's capabilities, from /api/show, do not include what the request needs)`
      })
    }
    if (e.reason === "ModelMissing" && /page not found/i.test(e.message)) {
      return new BackendError.BackendError({
        reason: "Upstream",
        backend: e.backend,
        message: `${e.message} (no such route: is this Ollama?)`,
        ...(e.status === undefined ? {} : { status: e.status })
      })
    }
    return e
  }
  if (e instanceof SyntaxError) return make("Upstream", `${where.action} answered with invalid JSON: ${e.message}`)
  if (phase === "read" && messageOf(e) === NO_DONE) return make("StreamCut", `the ${where.action} stream ended before Ollama said done`)
  // ollama-js throws a plain Error carrying the text of an `{"error": …}` line.
  return make("Upstream", `Ollama reported an error during ${where.action}: ${messageOf(e)}`)
}
