/**
 * Errors in Ollama's shape: `{"error":"<text>"}` with Ollama's statuses, which the `ollama`
 * npm client turns into a ResponseError carrying `error` and `status_code`. Unknown routes
 * answer like Ollama's router does: text `404 page not found` / `405 method not allowed`.
 */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as ApiError from "../ApiError.ts"

export const response = (error: ApiError.ApiError, headers?: Record<string, string>): HttpServerResponse.HttpServerResponse => {
  const status = ApiError.status(error.reason)
  if (error.reason === "NotFound" || error.reason === "MethodNotAllowed") {
    return HttpServerResponse.text(status === 404 ? "404 page not found" : "405 method not allowed", {
      status,
      contentType: "text/plain",
      ...(headers ? { headers } : {})
    })
  }
  return HttpServerResponse.text(line(error), { status, contentType: "application/json; charset=utf-8", ...(headers ? { headers } : {}) })
}

/** The error line: a whole error body, or the last line of a stream that failed. */
export const line = (error: ApiError.ApiError): string => JSON.stringify({ error: error.message })
