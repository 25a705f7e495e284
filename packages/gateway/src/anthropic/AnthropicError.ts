/**
 * Errors in Anthropic's shape, `{"type":"error","error":{"type","message"},"request_id"}`, with
 * the statuses `@anthropic-ai/sdk` maps to its error classes (BadRequestError,
 * AuthenticationError, NotFoundError, ...) and that agents such as Claude Code act on: 529
 * `overloaded_error` when no backend could be tried now (the agent waits and retries), 500
 * `api_error` when every backend tried failed. local-router adds `error.local_router` (the
 * reason and what the router tried); the SDK ignores extra keys.
 */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as ApiError from "../ApiError.ts"

/**
 * The status for an error: Anthropic's own where it has one, else the gateway's. When every
 * backend tried answered 429, the caller is rate limited as surely as by Anthropic itself, and
 * gets its 429 (`rate_limit_error`, which agents wait out and retry).
 */
export const status = (error: ApiError.ApiError): number => {
  switch (error.reason) {
    case "Unavailable":
    case "AllFailed": {
      const failed = error.trace?.attempts.filter((a) => a.outcome === "failed") ?? []
      if (failed.length > 0 && failed.every((a) => a.status === 429)) return 429
      return error.reason === "Unavailable" ? 529 : 500
    }
    case "StreamFailed":
      return 500
    default:
      return ApiError.status(error.reason)
  }
}

/** Anthropic's `error.type` for a status (its documented table; the other 4xx are invalid requests). */
export const typeOf = (code: number): string => {
  switch (code) {
    case 401:
      return "authentication_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 413:
      return "request_too_large"
    case 429:
      return "rate_limit_error"
    case 529:
      return "overloaded_error"
    default:
      return code >= 500 ? "api_error" : "invalid_request_error"
  }
}

// Unique per process run without a random draw per request, as the OpenAI dialect's ids.
const idPrefix = Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, "0")
let idCounter = 0
/** A `req_...` id: every Anthropic response carries one (the SDK shows it as `request_id`). */
export const requestId = (): string => `req_${idPrefix}${(++idCounter).toString(36).padStart(8, "0")}`

/** The error body, also the payload of a mid-stream `event: error`. */
export const body = (error: ApiError.ApiError, id: string = requestId()) => ({
  type: "error",
  error: {
    type: typeOf(status(error)),
    message: error.message,
    local_router: {
      reason: error.reason,
      ...(error.known ? { models: error.known } : {}),
      ...(error.trace ? { attempts: error.trace.attempts } : {}),
      ...(error.route ? { route: error.route } : {})
    }
  },
  request_id: id
})

/**
 * The SDK retries 408, 409, 429 and every 5xx twice by default; the router has already tried
 * every backend it could, so `x-should-retry: false` (which the SDK honours) leaves retrying a
 * 5xx to the caller's own policy. A 429 is retried as the SDK likes: the servers asked for it.
 */
export const response = (error: ApiError.ApiError, headers?: Record<string, string>): HttpServerResponse.HttpServerResponse => {
  const code = status(error)
  const id = requestId()
  return HttpServerResponse.text(JSON.stringify(body(error, id)), {
    status: code,
    contentType: "application/json",
    headers: { ...headers, "request-id": id, ...(code >= 500 ? { "x-should-retry": "false" } : {}) }
  })
}
