/**
 * Events read by pulling: how every answer is read, a backend's (`Backend.generate`) and the
 * Router's (`Router.pull`). `HttpCall.events` makes one from a server's reply; the Router reads
 * it in the caller's own fiber, with no Stream in between (a Stream's channel executor cost
 * more than the rest of a routed request together).
 *
 * `close` is what lets the Router keep deadlines on the Clock with one watchdog fiber and no
 * reader fiber: closing releases what the answer holds (cuts its connection) and ends a pull
 * that is waiting at once. An Effect Stream (a plugin's `generate` may give one) becomes Events
 * with `fromStream`, which pulls it in a fiber of its own that closing interrupts; a Stream is
 * what `toStream` gives for any other reader.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

export interface Events<A, E> {
  readonly _tag: "Events"
  /**
   * The events that have arrived (at least one), waiting only when there are none; `undefined`
   * at the end, and after `close`. The first pull opens the answer (sends the request).
   */
  readonly pull: Effect.Effect<ReadonlyArray<A> | undefined, E>
  /** Abandon the answer: release what it holds; a pull waiting now ends at once. Any time, any number of times. */
  readonly close: () => void
}

export const isEvents = (u: unknown): u is Events<unknown, unknown> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Events" && "pull" in u

/** Events that fail with `error` on the first pull. */
export const fail = <E>(error: E): Events<never, E> => {
  let closed = false
  return { _tag: "Events", pull: Effect.suspend(() => (closed ? Effect.succeed(undefined) : Effect.fail(error))), close: () => void (closed = true) }
}

/**
 * A Stream as Events: pulled in a fiber of its own, one chunk each time the caller asks
 * (nothing is read ahead), so that closing can stop it whatever it waits for.
 */
export const fromStream = <A, E>(stream: Stream.Stream<A, E>): Events<A, E> => {
  let reader: Fiber.Fiber<void> | undefined
  let closed = false
  let ended: Exit.Exit<ReadonlyArray<A> | undefined, E> | undefined
  // The reader waits for `demand`; the caller waits for `wake`. Each is set while its fiber waits.
  let demand: (() => void) | undefined
  let demanded = false
  let wake: ((exit: Exit.Exit<ReadonlyArray<A> | undefined, E>) => void) | undefined
  const give = (exit: Exit.Exit<ReadonlyArray<A> | undefined, E>) => {
    const waiting = wake
    wake = undefined
    if (waiting) waiting(exit)
  }
  const demandOnce = Effect.callback<void>((resume) => {
    if (demanded) {
      demanded = false
      return resume(Effect.void)
    }
    demand = () => {
      demand = undefined
      resume(Effect.void)
    }
    return Effect.sync(() => {
      demand = undefined
    })
  })
  const read = Effect.scoped(Effect.flatMap(Stream.toPull(stream), (pull) => {
    const loop: Effect.Effect<void> = Effect.andThen(
      demandOnce,
      Effect.flatMap(Effect.exit(pull), (exit) => {
        if (Exit.isSuccess(exit)) {
          give(Exit.succeed(exit.value))
          return loop
        }
        // The pull fails with Cause.Done at the end of the stream, with the stream's error on failure.
        const failure = Cause.findErrorOption(exit.cause)
        ended = Option.isSome(failure)
          ? Cause.isDone(failure.value) ? Exit.succeed(undefined) : Exit.fail(failure.value as E)
          : Exit.failCause(exit.cause as Cause.Cause<never>)
        give(ended)
        return Effect.void
      })
    )
    return loop
  }))
  const ask: Effect.Effect<ReadonlyArray<A> | undefined, E> = Effect.flatMap(
    Effect.callback<ReadonlyArray<A> | undefined, E>((resume) => {
      if (closed) return resume(Effect.succeed(undefined))
      wake = (exit) => resume(exit)
      if (demand) demand()
      else demanded = true
      return Effect.sync(() => {
        wake = undefined
      })
    }),
    // An empty chunk is not an answer to a pull.
    (events) => (events !== undefined && events.length === 0 ? pull : Effect.succeed(events))
  )
  // The reader is forked from the first pull's fiber, so it reads that fiber's Clock.
  const pull: Effect.Effect<ReadonlyArray<A> | undefined, E> = Effect.suspend(() => {
    if (closed) return Effect.succeed(undefined)
    if (ended) return ended
    if (reader) return ask
    return Effect.flatMap(Effect.forkDetach(read), (fiber) => {
      reader = fiber
      return ask
    })
  })
  return {
    _tag: "Events",
    pull,
    close: () => {
      if (closed) return
      closed = true
      reader?.interruptUnsafe()
      give(Exit.succeed(undefined))
    }
  }
}

/** The Events `open` makes, opened when the stream is first read and closed when it ends. */
export const toStream = <A, E>(open: () => Events<A, E>): Stream.Stream<A, E> =>
  Stream.suspend(() => {
    const events = open()
    // A Stream's pull gives non-empty chunks and fails with Cause.Done at the end.
    const next: Effect.Effect<Arr.NonEmptyReadonlyArray<A>, E | Cause.Done> = Effect.flatMap(
      events.pull,
      (chunk) => (chunk === undefined ? Cause.done() : Arr.isReadonlyArrayNonEmpty(chunk) ? Effect.succeed(chunk) : next)
    )
    return Stream.fromPull(Effect.succeed(next)).pipe(Stream.ensuring(Effect.sync(() => events.close())))
  })

/** What `generate` gives, as Events (a Stream through `fromStream`). */
export const of = <A, E>(answer: Events<A, E> | Stream.Stream<A, E>): Events<A, E> =>
  isEvents(answer) ? (answer as Events<A, E>) : fromStream(answer as Stream.Stream<A, E>)

/** What `generate` gives, as a Stream (for readers that want one: tests, tools). */
export const stream = <A, E>(answer: Events<A, E> | Stream.Stream<A, E>): Stream.Stream<A, E> =>
  isEvents(answer) ? toStream(() => answer as Events<A, E>) : (answer as Stream.Stream<A, E>)
