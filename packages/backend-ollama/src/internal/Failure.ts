/**
 * Turns what ollama-js and fetch throw into a BackendError with the right reason. ollama-js
 * has no error types to match on (ResponseError is not exported), so this reads the shapes
 * protocols.md §1.15 describes: `name === "ResponseError"` with `status_code` for a non-2xx
 * answer, a plain Error for an `{"error":…}` line mid-stream, a fixed message for a stream
 * that ended without `done`, and undici's TypeError with a `cause.code` for socket trouble.
 *
 * The phase matters: a reset before the headers means nobody answered (Unreachable); the
 * same reset after them means the answer was cut (StreamCut).
 */
import { BackendError } from "@local-router/core"

type Reason = BackendError.Reason

/** Before headers (`open`) or while reading the body (`read`). */
export type Phase = "open" | "read"

export interface Where {
  readonly backend: string
  readonly model?: string
  /** What was being done, for the message: "chat", "pull", "list models". */
  readonly action: string
  readonly url: string
}

/** ollama-js's own message when the body ended without a `done`/`success` object. */
export const NO_DONE = "Did not receive done or success response in stream."

const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"])
const TIMEOUT = new Set(["ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"])

/** The first `code` along the cause chain (undici nests the socket error in `cause`). */
const codeOf = (e: unknown): string | undefined => {
  let current: unknown = e
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const isResponseError = (e: unknown): e is Error & { readonly status_code: number; readonly error: string } =>
  e instanceof Error && e.name === "ResponseError" && typeof (e as { status_code?: unknown }).status_code === "number"

/** A marker the NDJSON guard (see Client.ts) throws for a line that is not JSON. */
export class MalformedLine extends Error {
  override readonly name = "MalformedLine"
}

/** Reason for an HTTP status Ollama answered with (protocols.md §1.13). */
export const reasonOfStatus = (status: number, message: string): Reason => {
  // gin's own 404 for an unknown route is text, not a missing model: something else listens.
  if (status === 404) return /page not found/i.test(message) ? "Upstream" : "ModelMissing"
  if (status === 400 || status === 413 || status === 422) return "BadRequest"
  if (status === 401 || status === 403) return "Auth"
  if (status === 408 || status === 504) return "Timeout"
  if (status === 429 || status === 503) return "Overloaded"
  return "Upstream"
}

export const classify = (where: Where, phase: Phase) => (e: unknown): BackendError.BackendError => {
  const make = (reason: Reason, message: string, status?: number) =>
    new BackendError.BackendError({
      reason,
      backend: where.backend,
      message: `${where.backend}: ${message}`,
      ...(where.model === undefined ? {} : { model: where.model }),
      ...(status === undefined ? {} : { status })
    })
  if (e instanceof BackendError.BackendError) return e
  if (isResponseError(e)) {
    const reason = reasonOfStatus(e.status_code, e.error)
    const what = reason === "ModelMissing" && where.model !== undefined ? `model "${where.model}" is not installed in Ollama; ` : ""
    return make(reason, `${what}${where.action} answered HTTP ${e.status_code}: ${e.error}`, e.status_code)
  }
  if (e instanceof MalformedLine) return make("Upstream", `${where.action} sent a line that is not JSON: ${e.message}`)
  if (e instanceof SyntaxError) return make("Upstream", `${where.action} answered with invalid JSON: ${e.message}`)
  const code = codeOf(e)
  if (code !== undefined && TIMEOUT.has(code)) return make("Timeout", `${where.action} at ${where.url} timed out (${code})`)
  if (phase === "open") {
    if (code !== undefined && UNREACHABLE.has(code)) return make("Unreachable", `nothing answers at ${where.url} (${code})`)
    if (e instanceof TypeError) return make("Unreachable", `cannot reach ${where.url}: ${messageOf(e)}${code ? ` (${code})` : ""}`)
    return make("Upstream", `${where.action} failed: ${messageOf(e)}`)
  }
  if (messageOf(e) === NO_DONE) return make("StreamCut", `${where.action} stream ended before Ollama said done`)
  // undici reports a body cut by the peer as TypeError("terminated") with the socket error as cause.
  if (e instanceof TypeError || (code !== undefined && UNREACHABLE.has(code))) {
    return make("StreamCut", `${where.action} stream was cut: ${messageOf(e)}${code ? ` (${code})` : ""}`)
  }
  // ollama-js throws a plain Error carrying the text of an `{"error": …}` line.
  return make("Upstream", `Ollama reported an error during ${where.action}: ${messageOf(e)}`)
}
