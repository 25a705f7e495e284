/**
 * The one newline-delimited JSON reader (Ollama's `application/x-ndjson` streams): response
 * bytes in, one parsed value per line out. A line may arrive split across any number of
 * chunks, even inside a multi-byte character; blank lines are skipped.
 *
 * A line that is not JSON means the server sent something we cannot read: that is an
 * `Upstream` failure naming the backend, never a silently skipped token.
 *
 * `reader` is how an NDJSON answer becomes events (HttpCall.events).
 */
import * as Result from "effect/Result"
import { BackendError } from "../BackendError.ts"
import type * as HttpCall from "./HttpCall.ts"
import type { Source } from "./Sse.ts"

export type { Source } from "./Sse.ts"

/** How much of a malformed line an error message quotes. */
const quoted = 200

/** The values of the lines a chunk completed, or those before a malformed line and its failure. */
export type Parsed = Result.Result<Array<unknown>, readonly [Array<unknown>, BackendError]>

/**
 * One pass per chunk of bytes (text decoding, line splitting and parsing together): this runs
 * under every token, and a stream stage per step costs more than the work. Lines end at `\n`
 * or `\r\n`; `end` parses what is left when the bytes end. The values before a malformed line
 * are delivered before the failure.
 */
export interface Decoder {
  readonly feed: (bytes: Uint8Array) => Parsed
  readonly end: () => Parsed
}

export const decoder = (source: Source): Decoder => {
  const text = new TextDecoder()
  let partial = ""
  const parse = (lines: ReadonlyArray<string>): Parsed => {
    const values: Array<unknown> = []
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
      if (line.trim().length === 0) continue
      try {
        values.push(JSON.parse(line))
      } catch (error) {
        return Result.fail([values, notJson(source, line, error)])
      }
    }
    return Result.succeed(values)
  }
  return {
    feed: (bytes) => {
      const decoded = text.decode(bytes, { stream: true })
      // Only the new text is searched, so a long line arriving in many pieces stays linear.
      const last = decoded.lastIndexOf("\n")
      if (last < 0) {
        partial += decoded
        return Result.succeed([])
      }
      const complete = (partial + decoded.slice(0, last)).split("\n")
      partial = decoded.slice(last + 1)
      return parse(complete)
    },
    end: () => parse([partial + text.decode()])
  }
}

/** A protocol's reading of NDJSON values into its events (`A`): Ollama's chat. */
export interface Protocol<A> {
  /**
   * Push what one value means onto `out`. Return the failure the server reported (after the
   * events already pushed), or `"done"` once the answer is complete.
   */
  readonly value: (value: unknown, out: Array<A>) => BackendError | "done" | undefined
  /** The body ended before `"done"`: its last events, or the failure that is (a cut). */
  readonly end: () => ReadonlyArray<A> | BackendError
}

/**
 * How an NDJSON answer becomes events, for HttpCall.events: `start` at the headers, then each
 * chunk of the body split and parsed in one pass. Nothing after `"done"` is read.
 */
export const reader = <A>(source: Source, start: ReadonlyArray<A>, protocol: Protocol<A>): HttpCall.Reader<A> => {
  const lines = decoder(source)
  return {
    events: start,
    read: (bytes) => {
      const parsed = bytes === undefined ? lines.end() : lines.feed(bytes)
      const out: Array<A> = []
      for (const value of Result.isSuccess(parsed) ? parsed.success : parsed.failure[0]) {
        const said = protocol.value(value, out)
        if (said === "done") return { events: out, done: true }
        if (said !== undefined) return { events: out, failure: said }
      }
      if (Result.isFailure(parsed)) return { events: out, failure: parsed.failure[1] }
      if (bytes !== undefined) return { events: out }
      const end = protocol.end()
      return end instanceof BackendError ? { events: out, failure: end } : { events: [...out, ...end], done: true }
    }
  }
}

const notJson = (source: Source, line: string, error: unknown) =>
  new BackendError({
    reason: "Upstream",
    backend: source.backend,
    ...(source.model === undefined ? {} : { model: source.model }),
    message: `${source.backend} sent a line that is not JSON (${(error as Error).message}): ${
      line.length > quoted ? `${line.slice(0, quoted)}…` : line
    }`
  })
