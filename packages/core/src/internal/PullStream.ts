/**
 * A Stream read from a pull that `open` makes, in a scope of its own, on the first read; the
 * scope closes when the stream does. This is what `Stream.fromPull` (or `Stream.unwrapScoped`
 * over `Stream.repeatEffectChunkOption`) means, built without their stream of streams: that
 * flattening cost about twice the rest of a stream's life, on every answer.
 *
 * An ordinary Stream: any reader, any wrapper, the same behaviour. The pull is opened on the
 * first read (so a reader's deadlines cover opening), and a failure to open is the first
 * read's failure.
 */
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** The next chunk, or None at the end. */
export type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

export const make = <A, E>(open: Effect.Effect<Pull<A, E>, E, Scope.Scope>): Stream.Stream<A, E> =>
  Stream.suspend(() => {
    let scope: Scope.CloseableScope | undefined
    let pull: Pull<A, E> | undefined
    const opening: Pull<A, E> = Effect.flatMap(Scope.make(), (made) => {
      scope = made
      return Effect.matchEffect(Scope.extend(open, made), {
        onFailure: (error) => Effect.fail(Option.some(error)),
        onSuccess: (opened) => {
          pull = opened
          return opened
        }
      })
    })
    return Stream.repeatEffectChunkOption(Effect.suspend(() => pull ?? opening)).pipe(
      Stream.ensuring(Effect.suspend(() => (scope === undefined ? Effect.void : Scope.close(scope, Exit.void))))
    )
  })
