/**
 * Errors in OpenAI's shape, `{"error":{"message","type","param","code"}}`, with the status the
 * official SDKs map to their error classes (BadRequestError, NotFoundError, ...). local-router
 * adds `error.local_router` (the reason and what the router tried); SDKs ignore extra keys.
 */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as ApiError from "../ApiError.ts"

const typeAndCode = (reason: ApiError.Reason): readonly [string, string | null] => {
  switch (reason) {
    case "Unauthorized":
      return ["invalid_request_error", "invalid_api_key"]
    case "UnknownModel":
      return ["invalid_request_error", "model_not_found"]
    case "NotFound":
      return ["invalid_request_error", "unknown_url"]
    case "TooLarge":
      return ["invalid_request_error", "request_too_large"]
    case "UnsupportedMediaType":
      return ["invalid_request_error", "unsupported_media_type"]
    case "Unsupported":
      return ["invalid_request_error", "unsupported_capability"]
    case "Forbidden":
    case "MethodNotAllowed":
    case "BadJson":
    case "InvalidRequest":
    case "Unprocessable":
    case "Rejected":
      return ["invalid_request_error", null]
    case "Unavailable":
      return ["server_error", "no_backend_available"]
    case "AllFailed":
      return ["server_error", "all_backends_failed"]
    case "StreamFailed":
      return ["server_error", "stream_failed"]
    case "Internal":
      return ["server_error", null]
  }
}

/** The `error` object, also used as the payload of a mid-stream error event. */
export const body = (error: ApiError.ApiError) => {
  const [type, code] = typeAndCode(error.reason)
  return {
    error: {
      message: error.message,
      type,
      param: error.reason === "UnknownModel" ? "model" : null,
      code,
      local_router: {
        reason: error.reason,
        ...(error.known ? { models: error.known } : {}),
        ...(error.trace ? { attempts: error.trace.attempts } : {}),
        ...(error.route ? { route: error.route } : {})
      }
    }
  }
}

/**
 * The SDKs retry 5xx answers twice by default; the router has already tried every backend it
 * could, so a retry would only run the same fallback chain again. `x-should-retry: false`
 * (which the SDKs honour) leaves retrying to the caller's own policy.
 */
export const response = (error: ApiError.ApiError, headers?: Record<string, string>): HttpServerResponse.HttpServerResponse => {
  const status = ApiError.status(error.reason)
  const all = status >= 500 ? { ...headers, "x-should-retry": "false" } : headers
  return HttpServerResponse.text(JSON.stringify(body(error)), {
    status,
    contentType: "application/json",
    ...(all ? { headers: all } : {})
  })
}
