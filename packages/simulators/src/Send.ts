/**
 * Complete (non-streamed) answers through a Reply. `Content-Length` is always set so the
 * simulators never fall back to chunking for a body they know in full, as real servers do.
 */
import type { Reply } from "./Reply.ts"

export type Headers = Record<string, string | number>

export const text = (reply: Reply, status: number, body: string, contentType: string, headers: Headers = {}): void => {
  reply.head(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body), ...headers })
  reply.end(body)
}

export const json = (reply: Reply, status: number, value: unknown, headers: Headers = {}, contentType = "application/json; charset=utf-8"): void =>
  text(reply, status, JSON.stringify(value), contentType, headers)

/** A JSON body cut in the middle: the `malformedJson` fault for non-streamed answers. */
export const malformed = (reply: Reply, value: unknown, headers: Headers = {}, contentType = "application/json; charset=utf-8"): void => {
  const whole = JSON.stringify(value)
  text(reply, 200, whole.slice(0, Math.max(1, Math.floor(whole.length / 2))), contentType, headers)
}

/** Cuts a serialised JSON line in half, for the `malformedJson` fault inside a stream. */
export const halfLine = (value: unknown): string => {
  const whole = JSON.stringify(value)
  return whole.slice(0, Math.max(1, Math.floor(whole.length / 2)))
}
