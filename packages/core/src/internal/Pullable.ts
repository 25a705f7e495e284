/**
 * A stream that also carries the scoped pull it is made of.
 *
 * The Router reads every backend's events by pulling them, and running a Stream through
 * `Stream.toPull` costs more than reading and decoding a whole short answer. Core's own
 * readers (OpenAiChat) therefore build their streams with `make`, and `toPull` reads such a
 * stream from its pull directly. Any other stream (a plugin's, or one a backend mapped over)
 * goes through `Stream.toPull` as usual. Both read the same pull, so they behave alike: the
 * pull is opened on the first read (so the attempt's deadlines cover connecting), a failure to
 * open is the first read's failure, and what it acquires is released with the caller's scope.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Chunk from "effect/Chunk"
import * as Source from "./Source.ts"

/** The next chunk, or None at the end. */
export type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

const pullOf = Symbol.for("@local-router/core/Pullable")

interface WithPull<A, E> {
  readonly [pullOf]: Effect.Effect<Pull<A, E>, E, Scope.Scope>
}

export const make = <A, E>(open: Effect.Effect<Pull<A, E>, E, Scope.Scope>): Stream.Stream<A, E> =>
  Object.assign(Stream.unwrapScoped(Effect.map(open, Stream.repeatEffectChunkOption)), { [pullOf]: open })

const sourceOf = Symbol.for("@local-router/core/Pullable/source")

/**
 * A stream read from a Source that `open` starts (it is opened on the first read, and closed
 * with the reader's scope). The Router reads the Source itself; any other reader, its pull.
 */
export const fromSource = <A, E>(open: () => Source.Source<A, E>): Stream.Stream<A, E> => {
  const opened = Effect.map(Effect.acquireRelease(Effect.sync(open), (source) => Effect.sync(() => source.close())), Source.toPull)
  // The Router reads the Source itself: the stream is only built for another reader.
  return Object.assign(Stream.suspend(() => make(opened)), { [pullOf]: opened, [sourceOf]: open })
}

/** The Source opener of a stream made with `fromSource`. */
export const openerOf = <A, E>(stream: Stream.Stream<A, E>): (() => Source.Source<A, E>) | undefined =>
  sourceOf in stream ? (stream as unknown as Record<typeof sourceOf, () => Source.Source<A, E>>)[sourceOf] : undefined

/** Whether `stream` is one of core's own readers (made with `make`). */
export const isPullable = <A, E>(stream: Stream.Stream<A, E>): boolean => pullOf in stream

export const toPull = <A, E>(stream: Stream.Stream<A, E>): Effect.Effect<Pull<A, E>, never, Scope.Scope> => {
  if (!(pullOf in stream)) return Stream.toPull(stream)
  const open = (stream as Stream.Stream<A, E> & WithPull<A, E>)[pullOf]
  return Effect.map(Effect.scope, (scope) => {
    let pull: Pull<A, E> | undefined
    return Effect.suspend(() =>
      pull ?? Effect.flatMap(Effect.mapError(Scope.extend(open, scope), Option.some), (opened) => {
        pull = opened
        return opened
      })
    )
  })
}
