/**
 * The one Server-Sent Events reader: response bytes in, events out. Every backend that
 * streams SSE (mlx_lm, OpenAI, OpenRouter, Anthropic, Moondream) reads through this, so the
 * framing rules of protocols.md §0 rule 3 hold everywhere: comment lines (`: keepalive 2048/9731`,
 * `: OPENROUTER PROCESSING`) are skipped, multi-line `data:` is joined with "\n", `\n`, `\r\n`
 * and `\r` all end a line, and `event:` / `id:` are carried along.
 *
 * The parsing itself is eventsource-parser's (spec-compliant); this module adapts it to
 * BackendError and to HttpCall.events (`reader`: how an SSE answer becomes events).
 */
import * as Result from "effect/Result"
import { createParser } from "eventsource-parser"
import { BackendError } from "../BackendError.ts"
import type * as HttpCall from "./HttpCall.ts"

export interface Event {
  readonly event?: string
  readonly data: string
  readonly id?: string
}

/** Who is talking, for error messages. */
export interface Source {
  readonly backend: string
  readonly model?: string | undefined
}

/**
 * A stream that buffers more than this without finishing an event is not a stream we can
 * read (and would otherwise grow memory without bound).
 */
export const maxEventBytes = 16 * 1024 * 1024

/**
 * SSE decoding as plain calls, each chunk of bytes into the events it completes in one pass
 * (no stream stage per step). An incomplete event at the end of the bytes is dropped, as the
 * SSE spec says: a cut stream shows by its missing terminal event, not by a half line.
 */
export interface Decoder {
  /** The events these bytes complete, or the failure of an event over `maxEventBytes`. */
  readonly feed: (bytes: Uint8Array) => Result.Result<ReadonlyArray<Event>, BackendError>
  /** At the end of the bytes: the events the last of them complete (a half event is dropped). */
  readonly end: () => Result.Result<ReadonlyArray<Event>, BackendError>
}

/**
 * llama.cpp's llama-server reports an error inside a stream as a non-standard `error: {json}`
 * line (protocols.md §6). The spec says to ignore unknown fields, which would turn the failure
 * into an empty answer, so that one field is surfaced as an event named `error`.
 */
export const decoder = (source: Source): Decoder => {
  const text = new TextDecoder()
  let pending: Array<Event> = []
  let overflow = false
  const parser = createParser({
    maxBufferSize: maxEventBytes,
    onEvent: (message) =>
      pending.push(
        message.event === undefined && message.id === undefined
          ? { data: message.data }
          : {
            data: message.data,
            ...(message.event === undefined ? {} : { event: message.event }),
            ...(message.id === undefined ? {} : { id: message.id })
          }
      ),
    onError: (error) => {
      if (error.type === "unknown-field" && error.field === "error") {
        pending.push({ event: "error", data: error.value ?? "" })
      } else if (error.type === "max-buffer-size-exceeded") {
        overflow = true
      }
    }
  })
  // The parser drops an unknown field split across chunks before it sees the whole line, so
  // it is fed whole lines only; the tail waits here for its line ending.
  let partial = ""
  const take = (decoded: string): Result.Result<ReadonlyArray<Event>, BackendError> => {
    partial += decoded
    const end = Math.max(partial.lastIndexOf("\n"), partial.lastIndexOf("\r"))
    if (end >= 0) {
      parser.feed(end === partial.length - 1 ? partial : partial.slice(0, end + 1))
      partial = partial.slice(end + 1)
    }
    if (partial.length > maxEventBytes) overflow = true
    if (overflow) {
      return Result.fail(
        new BackendError({
          reason: "Upstream",
          backend: source.backend,
          ...(source.model === undefined ? {} : { model: source.model }),
          message: `${source.backend} sent an SSE event larger than ${maxEventBytes} bytes`
        })
      )
    }
    const out = pending
    pending = []
    return Result.succeed(out)
  }
  return {
    feed: (bytes) => take(text.decode(bytes, { stream: true })),
    end: () => take(text.decode())
  }
}

/** A protocol's reading of SSE events into its events (`A`): OpenAI chat, Anthropic, Moondream. */
export interface Protocol<A> {
  /**
   * Push what one SSE event means onto `out`. Return the failure the server reported (after
   * the events already pushed), or `"done"` once the answer is complete.
   */
  readonly event: (event: Event, out: Array<A>) => BackendError | "done" | undefined
  /** The body ended before `"done"`: its last events, or the failure that is (a cut). */
  readonly end: () => ReadonlyArray<A> | BackendError
}

/**
 * How an SSE answer becomes events, for HttpCall.events: `start` at the headers, then each
 * chunk of the body framed and decoded in one pass. Nothing after `"done"` is read.
 */
export const reader = <A>(source: Source, start: ReadonlyArray<A>, protocol: Protocol<A>): HttpCall.Reader<A> => {
  const sse = decoder(source)
  return {
    events: start,
    read: (bytes) => {
      const decoded = bytes === undefined ? sse.end() : sse.feed(bytes)
      if (Result.isFailure(decoded)) return { events: [], failure: decoded.failure }
      const out: Array<A> = []
      for (const event of decoded.success) {
        const said = protocol.event(event, out)
        if (said === "done") return { events: out, done: true }
        if (said !== undefined) return { events: out, failure: said }
      }
      if (bytes !== undefined) return { events: out }
      const end = protocol.end()
      return end instanceof BackendError ? { events: out, failure: end } : { events: [...out, ...end], done: true }
    }
  }
}
