/**
 * The one newline-delimited JSON reader (Ollama's `application/x-ndjson` streams): response
 * bytes in, one parsed value per line out. A line may arrive split across any number of
 * chunks, even inside a multi-byte character; blank lines are skipped.
 *
 * A line that is not JSON means the server sent something we cannot read: that is an
 * `Upstream` failure naming the backend, never a silently skipped token.
 */
import { Channel, Chunk, Either, Stream } from "effect"
import { BackendError } from "./BackendError.ts"
import type { Source } from "./Sse.ts"

export type { Source } from "./Sse.ts"

/** How much of a malformed line an error message quotes. */
const quoted = 200

/**
 * One pass per chunk of bytes (text decoding, line splitting and parsing together): this runs
 * under every token, and a stream stage per step costs more than the work. Lines end at `\n`
 * or `\r\n`. The values before a malformed line are delivered before the failure.
 */
export const decode = (source: Source) =>
<E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<unknown, E | BackendError, R> =>
  Stream.suspend(() => {
    const text = new TextDecoder()
    let partial = ""
    const parse = (lines: ReadonlyArray<string>): Either.Either<Array<unknown>, readonly [Array<unknown>, BackendError]> => {
      const values: Array<unknown> = []
      for (const raw of lines) {
        const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
        if (line.trim().length === 0) continue
        try {
          values.push(JSON.parse(line))
        } catch (error) {
          return Either.left([values, notJson(source, line, error)])
        }
      }
      return Either.right(values)
    }
    const emit = (parsed: ReturnType<typeof parse>, then: Channel.Channel<Chunk.Chunk<unknown>, Chunk.Chunk<Uint8Array>, E | BackendError, E, unknown, unknown, R>) =>
      Either.isRight(parsed)
        ? Channel.zipRight(Channel.write(Chunk.unsafeFromArray(parsed.right)), then)
        : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(parsed.left[0])), Channel.fail(parsed.left[1]))
    const lines: Channel.Channel<Chunk.Chunk<unknown>, Chunk.Chunk<Uint8Array>, E | BackendError, E, unknown, unknown, R> = Channel.readWithCause({
      onInput: (chunk: Chunk.Chunk<Uint8Array>) => {
        const complete: Array<string> = []
        for (const piece of chunk) {
          const decoded = text.decode(piece, { stream: true })
          // Only the new text is searched, so a long line arriving in many pieces stays linear.
          const last = decoded.lastIndexOf("\n")
          if (last < 0) {
            partial += decoded
            continue
          }
          for (const line of (partial + decoded.slice(0, last)).split("\n")) complete.push(line)
          partial = decoded.slice(last + 1)
        }
        return emit(parse(complete), lines)
      },
      onFailure: Channel.failCause,
      onDone: () => emit(parse([partial + text.decode()]), Channel.void)
    })
    return Stream.pipeThroughChannelOrFail(bytes, lines)
  })

const notJson = (source: Source, line: string, error: unknown) =>
  new BackendError({
    reason: "Upstream",
    backend: source.backend,
    ...(source.model === undefined ? {} : { model: source.model }),
    message: `${source.backend} sent a line that is not JSON (${(error as Error).message}): ${
      line.length > quoted ? `${line.slice(0, quoted)}…` : line
    }`
  })
