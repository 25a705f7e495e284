/**
 * An event source read by plain calls: what has arrived is taken synchronously, and a reader
 * with nothing to take waits with one callback. Core's own readers of local servers
 * (OpenAiChat over node:http) are Sources, and the Router reads them this way, with no Effect
 * step per chunk: on a loopback connection a short answer arrives at once, and the Effect
 * machinery of a pull cost more than the HTTP exchange itself.
 *
 * Every Source is also an ordinary Stream (Pullable.fromSource), for any other reader.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** What `poll` found: events (never empty), `null` when none yet (then `wait`), the end, or a failure. */
export type Polled<A, E> = ReadonlyArray<A> | null | End | Failed<E>

export interface End {
  readonly _tag: "End"
}

export interface Failed<E> {
  readonly _tag: "Failed"
  readonly error: E
}

export const end: End = { _tag: "End" }

export const failed = <E>(error: E): Failed<E> => ({ _tag: "Failed", error })

export interface Source<A, E> {
  /** Take what has arrived. After the end or a failure it keeps answering the same. */
  readonly poll: () => Polled<A, E>
  /** Call `then` once `poll` may have more (at once if it has); returns a function that forgets it. */
  readonly wait: (then: () => void) => () => void
  /** The reader is done: release the connection (kept for the next request if its end is in). */
  readonly close: () => void
  /** A deadline passed: cut the connection now. */
  readonly cut: () => void
}

/** The source as a pull (None at the end), for readers of Streams. */
export const toPull = <A, E>(source: Source<A, E>): Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> => {
  const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> = Effect.suspend(() => {
    const polled = source.poll()
    if (polled === null) return Effect.zipRight(Effect.async<void>((resume) => Effect.sync(source.wait(() => resume(Effect.void)))), pull)
    if (isEvents(polled)) return Effect.succeed(Chunk.unsafeFromArray(polled))
    return polled._tag === "End" ? Effect.fail(Option.none()) : Effect.fail(Option.some(polled.error))
  })
  return pull
}

export const isEvents = <A, E>(polled: Polled<A, E>): polled is ReadonlyArray<A> => Array.isArray(polled)
