/**
 * A request body, read once from the socket under a size limit and parsed as JSON.
 *
 * A declared Content-Length over the limit is refused before a byte is read; a body that
 * grows past it while streaming in is refused as soon as it does (the connection is then
 * closed, so the rest of the upload is not read).
 */
import * as Effect from "effect/Effect"
import type { IncomingMessage } from "node:http"
import { ApiError } from "./ApiError.ts"

export const bytes = (source: IncomingMessage, maxBytes: number): Effect.Effect<Buffer, ApiError> =>
  Effect.callback<Buffer, ApiError>((resume) => {
    const tooLarge = () => new ApiError({ reason: "TooLarge", message: `the request body is larger than ${maxBytes} bytes` })
    const declared = Number(source.headers["content-length"])
    if (declared > maxBytes) {
      resume(Effect.fail(tooLarge()))
      return
    }
    const chunks: Array<Buffer> = []
    let size = 0
    const cleanup = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        cleanup()
        source.pause()
        resume(Effect.fail(tooLarge()))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
    }
    const onError = (cause: Error) => {
      cleanup()
      resume(Effect.fail(new ApiError({ reason: "InvalidRequest", message: `the request body could not be read: ${cause.message}` })))
    }
    source.on("data", onData)
    source.on("end", onEnd)
    source.on("error", onError)
    return Effect.sync(cleanup)
  })

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false })

/** The body as a JSON object; anything else is the caller's error. */
export const json = (source: IncomingMessage, maxBytes: number): Effect.Effect<Record<string, unknown>, ApiError> =>
  Effect.flatMap(bytes(source, maxBytes), (body) => {
    if (body.length === 0) return Effect.fail(new ApiError({ reason: "BadJson", message: "missing request body" }))
    let text: string
    try {
      // JSON is UTF-8 (RFC 8259); lenient decoding would quietly turn bad bytes into U+FFFD in a prompt.
      text = utf8.decode(body)
    } catch {
      return Effect.fail(new ApiError({ reason: "BadJson", message: "the request body is not valid UTF-8" }))
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (cause) {
      return Effect.fail(new ApiError({ reason: "BadJson", message: `the request body is not valid JSON: ${(cause as Error).message}` }))
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return Effect.fail(new ApiError({ reason: "InvalidRequest", message: "the request body must be a JSON object" }))
    }
    return Effect.succeed(value as Record<string, unknown>)
  })
