/**
 * The one newline-delimited JSON reader (Ollama's `application/x-ndjson` streams): response
 * bytes in, one parsed value per line out. A line may arrive split across any number of
 * chunks, even inside a multi-byte character; blank lines are skipped.
 *
 * A line that is not JSON means the server sent something we cannot read: that is an
 * `Upstream` failure naming the backend, never a silently skipped token.
 */
import { Effect, Stream } from "effect"
import { BackendError } from "./BackendError.ts"
import type { Source } from "./Sse.ts"

export type { Source } from "./Sse.ts"

/** How much of a malformed line an error message quotes. */
const quoted = 200

export const decode = (source: Source) =>
<E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<unknown, E | BackendError, R> =>
  bytes.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.filter((line) => line.trim().length > 0),
    Stream.mapEffect((line) =>
      Effect.try({
        try: (): unknown => JSON.parse(line),
        catch: (error) =>
          new BackendError({
            reason: "Upstream",
            backend: source.backend,
            ...(source.model === undefined ? {} : { model: source.model }),
            message: `${source.backend} sent a line that is not JSON (${(error as Error).message}): ${
              line.length > quoted ? `${line.slice(0, quoted)}…` : line
            }`
          })
      })
    )
  )
