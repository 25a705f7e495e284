/**
 * Reads a backend's event stream one chunk at a time under the attempt's four deadlines:
 * connect (until Start), first token (until the first TextDelta or Done), idle (between
 * events after that) and total. Time comes from the Clock, so TestClock drives exactly the
 * code that runs in production.
 *
 * Every stream is read the same way, whoever made it (core's HttpCall.events, a backend's
 * own wrapping of it, a plugin's): a reader fiber pulls it, one chunk each time the caller
 * asks (nothing is read ahead of the caller), and one watchdog fiber per attempt sleeps on
 * the Clock until the deadline it last computed. An event only moves a timestamp: the
 * watchdog never sleeps longer than the idle deadline, because the deadline can only move
 * earlier by a first token starting the idle clock, and that can never be more than one idle
 * span ahead; waking early, it re-reads the deadline and sleeps on.
 *
 * A deadline that passes closes the stream (interrupting the reader: HttpCall then cuts the
 * connection, so the server stops generating) and the caller sees a Timeout, never the cut.
 * A deadline that passed while the caller was busy fails the next read.
 *
 * A backend that throws or dies inside its stream is a misbehaving backend (Upstream), not
 * a crash of the router.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { GenerateEvent, Timeouts } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"

export interface TimedEvents {
  /** The next event, or None when the stream ended. */
  readonly next: Effect.Effect<Option.Option<GenerateEvent>, BackendError>
  /** Every event read and not yet taken (at least one), or None when the stream ended. */
  readonly nextChunk: Effect.Effect<Option.Option<ReadonlyArray<GenerateEvent>>, BackendError>
}

/** How the stream ended: cleanly, or with the error (or interruption) the caller will see. */
type End = { readonly _tag: "End" } | { readonly _tag: "Fail"; readonly cause: Cause.Cause<BackendError> }

export const open = (
  backend: string,
  model: string,
  events: () => Stream.Stream<GenerateEvent, BackendError>,
  timeouts: Timeouts
): Effect.Effect<TimedEvents, never, Scope.Scope> =>
  Effect.gen(function*() {
    let stream: Stream.Stream<GenerateEvent, BackendError>
    try {
      stream = events()
    } catch (defect) {
      stream = Stream.die(defect)
    }
    const clock = yield* Effect.clock
    const started = clock.unsafeCurrentTimeMillis()
    let phase: "connect" | "firstToken" | "streaming" = "connect"
    let last = started
    let buffer: Array<GenerateEvent> = []
    let read = 0
    let end: End | undefined
    // The reader waits for `demand`; the caller waits for `wake`. Each is set while its fiber waits.
    let demanded = false
    let demand: (() => void) | undefined
    let wake: (() => void) | undefined

    const deadline = (): { readonly at: number; readonly what: string } => {
      const total = { at: started + timeouts.total, what: `total deadline ${fmt(timeouts.total)}` }
      const firstToken = { at: started + timeouts.firstToken, what: `first-token deadline ${fmt(timeouts.firstToken)}` }
      const candidates = phase === "connect"
        ? [{ at: started + timeouts.connect, what: `connect deadline ${fmt(timeouts.connect)}` }, firstToken, total]
        : phase === "firstToken"
        ? [firstToken, total]
        : [{ at: last + timeouts.idle, what: `idle deadline ${fmt(timeouts.idle)} between tokens` }, total]
      return candidates.reduce((a, b) => (b.at < a.at ? b : a))
    }

    const received = (exit: Exit.Exit<Chunk.Chunk<GenerateEvent>, Option.Option<BackendError>>) => {
      if (end !== undefined) return
      if (Exit.isSuccess(exit)) {
        const now = clock.unsafeCurrentTimeMillis()
        for (const event of exit.value) {
          last = now
          if (event._tag === "Start" && phase === "connect") phase = "firstToken"
          else if (event._tag === "TextDelta" || event._tag === "Done") phase = "streaming"
          buffer.push(event)
        }
      } else {
        end = Option.match(Cause.failureOption(exit.cause), {
          onSome: Option.match({ onNone: () => ({ _tag: "End" }), onSome: (error) => ({ _tag: "Fail", cause: Cause.fail(error) }) }),
          onNone: () =>
            Cause.isInterruptedOnly(exit.cause)
              ? { _tag: "Fail", cause: exit.cause as Cause.Cause<never> }
              : {
                _tag: "Fail",
                cause: Cause.fail(
                  new BackendError({ reason: "Upstream", backend, model, message: `backend ${backend} crashed: ${describeDefect(Cause.squash(exit.cause))}` })
                )
              }
        })
      }
      wake?.()
    }

    const demandOnce = Effect.async<void>((resume) => {
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
    // The stream is opened and read in the reader's own scope: interrupting the reader closes
    // it (a Stream of HttpCall.events cuts its connection then).
    const reader = Effect.forkDaemon(Effect.scoped(Effect.flatMap(Stream.toPull(stream), (pull) => {
      const loop: Effect.Effect<void> = Effect.suspend(() =>
        end !== undefined ? Effect.void : demandOnce.pipe(
          Effect.zipRight(Effect.exit(pull)),
          Effect.flatMap((exit) => {
            received(exit)
            return loop
          })
        )
      )
      return loop
    })))
    const reading = yield* reader

    /** How long the watchdog may sleep from `now`: until the deadline, but never past one idle span. */
    const nap = (now: number, at: number) => Math.min(at, now + Math.max(1, timeouts.idle)) - now
    const watchdog: Effect.Effect<void> = Effect.suspend(() => {
      if (end !== undefined) return Effect.void
      const now = clock.unsafeCurrentTimeMillis()
      const { at, what } = deadline()
      if (now < at) return Effect.zipRight(clock.sleep(Duration.millis(nap(now, at))), watchdog)
      // The deadline passed: end the attempt with a Timeout, and close the stream (which cuts
      // the connection) before the caller hears of it.
      end = {
        _tag: "Fail",
        cause: Cause.fail(new BackendError({ reason: "Timeout", backend, model, message: `no answer from ${backend} within the ${what}` }))
      }
      return Effect.zipRight(Fiber.interrupt(reading), Effect.sync(() => wake?.()))
    })
    const watching = yield* Effect.forkDaemon(watchdog)
    // Both end with the attempt; nothing waits for them to finish.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        reading.unsafeInterruptAsFork(FiberId.none)
        watching.unsafeInterruptAsFork(FiberId.none)
      })
    )

    const waitForReader = Effect.async<void>((resume) => {
      wake = () => {
        wake = undefined
        resume(Effect.void)
      }
      if (demand) demand()
      else demanded = true
      return Effect.sync(() => {
        wake = undefined
      })
    })

    /** `take` from the events read, once there are any; None when the stream ended. */
    const ready = <A>(take: () => A): Effect.Effect<Option.Option<A>, BackendError> => {
      const loop: Effect.Effect<Option.Option<A>, BackendError> = Effect.suspend(() => {
        if (read < buffer.length) return Effect.succeed(Option.some(take()))
        if (read > 0) {
          buffer = []
          read = 0
        }
        if (end !== undefined) return end._tag === "End" ? Effect.succeedNone : Effect.failCause(end.cause)
        return Effect.zipRight(waitForReader, loop)
      })
      return loop
    }
    const next = ready(() => buffer[read++]!)
    const nextChunk = ready(() => {
      const taken = read === 0 ? buffer : buffer.slice(read)
      buffer = []
      read = 0
      return taken
    })
    return { next, nextChunk }
  })

const fmt = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

const describeDefect = (defect: unknown) => (defect instanceof Error ? defect.message : String(defect))
