/**
 * Reads a backend's event stream one event at a time under the attempt's four deadlines:
 * connect (until Start), first token (until the first TextDelta or Done), idle (between
 * events after that) and total. Time comes from the Clock, so TestClock drives it in tests.
 *
 * This sits under every event of every answer, so keeping the deadlines must cost next to
 * nothing per event. A race (a fiber and a timer) per pull cost more than the rest of the
 * router together; instead each attempt has one watchdog, and an event only moves a
 * timestamp. The watchdog sleeps until the deadline it last computed, but never longer than
 * the idle deadline, because the deadline can only move earlier by a first token starting the
 * idle clock, and that can never be more than one idle span ahead. Waking early, it re-reads
 * the deadline and sleeps on. On the wall clock the watchdog is a plain (unref'd) timer; on
 * any other Clock (TestClock) it is a fiber sleeping on that Clock. Forking and interrupting
 * a fiber per attempt cost a tenth of a millisecond of every answer.
 *
 * The watchdog must be able to stop a read that overran (which aborts the request). Core's
 * own readers are read in the caller's fiber: a Source (OpenAiChat on a local server) is cut,
 * and the waits of a Pullable's pull are HttpCall's, which end at once when the watchdog
 * fires the attempt's `Stop`. Any other stream (a plugin's) is pulled in a reader fiber that
 * the watchdog interrupts, still one chunk per call of `next`. Either way nothing is read
 * ahead of the caller, and a deadline that passed while the caller was busy fails the next
 * read.
 *
 * A backend that throws or dies inside its stream is a misbehaving backend (Upstream), not
 * a crash of the router.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { GenerateEvent, Timeouts } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"
import * as Pullable from "./Pullable.ts"
import * as Source from "./Source.ts"
import * as Stop from "./Stop.ts"

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
    const opener = Pullable.openerOf(stream)
    const direct = opener !== undefined || Pullable.isPullable(stream)
    const stop = new Stop.Stop()
    const pull = opener ? Effect.fail(Option.none()) : yield* Pullable.toPull(stream)
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
      const candidates = phase === "connect"
        ? [{ at: started + timeouts.connect, what: `connect deadline ${fmt(timeouts.connect)}` }, { at: started + timeouts.firstToken, what: `first-token deadline ${fmt(timeouts.firstToken)}` }, total]
        : phase === "firstToken"
        ? [{ at: started + timeouts.firstToken, what: `first-token deadline ${fmt(timeouts.firstToken)}` }, total]
        : [{ at: last + timeouts.idle, what: `idle deadline ${fmt(timeouts.idle)} between tokens` }, total]
      return candidates.reduce((a, b) => (b.at < a.at ? b : a))
    }

    const finish = (ended: End) => {
      if (end !== undefined) return
      end = ended
      wake?.()
    }

    const accept = (events: ReadonlyArray<GenerateEvent>, now: number) => {
      for (const event of events) {
        last = now
        if (event._tag === "Start" && phase === "connect") phase = "firstToken"
        else if (event._tag === "TextDelta" || event._tag === "Done") phase = "streaming"
        buffer.push(event)
      }
    }

    const crashed = (defect: unknown): End => ({
      _tag: "Fail",
      cause: Cause.fail(new BackendError({ reason: "Upstream", backend, model, message: `backend ${backend} crashed: ${describeDefect(defect)}` }))
    })

    const received = (exit: Exit.Exit<Chunk.Chunk<GenerateEvent>, Option.Option<BackendError>>, now: number) => {
      if (end !== undefined) return
      if (Exit.isSuccess(exit)) {
        accept(Chunk.toReadonlyArray(exit.value), now)
        wake?.()
        return
      }
      finish(Option.match(Cause.failureOption(exit.cause), {
        onSome: Option.match({ onNone: () => ({ _tag: "End" }), onSome: (error) => ({ _tag: "Fail", cause: Cause.fail(error) }) }),
        onNone: () =>
          Cause.isInterruptedOnly(exit.cause) ? { _tag: "Fail", cause: exit.cause as Cause.Cause<never> } : crashed(Cause.squash(exit.cause))
      }))
    }

    // Core's own reader of a local server: a Source, opened now and read by plain calls.
    let source: Source.Source<GenerateEvent, BackendError> | undefined
    if (opener) {
      try {
        source = opener()
        const opened = source
        yield* Scope.addFinalizer(yield* Effect.scope, Effect.sync(() => opened.close()))
      } catch (defect) {
        end = crashed(defect)
      }
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
    const reading: Effect.Effect<void> = Effect.suspend(() =>
      end !== undefined ? Effect.void : demandOnce.pipe(
        Effect.zipRight(Effect.exit(pull)),
        Effect.flatMap((exit) => Effect.map(Clock.currentTimeMillis, (now) => received(exit, now))),
        Effect.zipRight(reading)
      )
    )
    const reader = direct ? undefined : yield* Effect.forkScoped(reading)

    /** The deadline passed: end the attempt with a Timeout and stop what is reading. */
    const expire = (what: string): Effect.Effect<void> => {
      const error = new BackendError({ reason: "Timeout", backend, model, message: `no answer from ${backend} within the ${what}` })
      end = { _tag: "Fail", cause: Cause.fail(error) }
      if (reader !== undefined) return Effect.zipRight(Fiber.interrupt(reader), Effect.sync(() => wake?.()))
      stop.fire()
      source?.cut()
      wake?.()
      return Effect.void
    }
    /** How long the watchdog may sleep from `now`: until the deadline, but never past one idle span. */
    const nap = (now: number, at: number) => Math.min(at, now + Math.max(1, timeouts.idle)) - now

    if (reader === undefined && isLive(clock)) {
      // The wall clock: a plain timer, re-armed as the deadline moves, costs next to nothing
      // beside the fiber a watchdog would need (and does not keep the process alive).
      let timer: ReturnType<typeof setTimeout> | undefined
      const check = () => {
        timer = undefined
        if (end !== undefined) return
        const now = clock.unsafeCurrentTimeMillis()
        const { at, what } = deadline()
        if (now >= at) Effect.runSync(expire(what))
        else {
          timer = setTimeout(check, nap(now, at))
          timer.unref()
        }
      }
      check()
      yield* Scope.addFinalizer(yield* Effect.scope, Effect.sync(() => clearTimeout(timer)))
    } else {
      const watching: Effect.Effect<void> = Effect.suspend(() => {
        if (end !== undefined) return Effect.void
        const now = clock.unsafeCurrentTimeMillis()
        const { at, what } = deadline()
        return now < at ? Effect.zipRight(Effect.sleep(nap(now, at)), watching) : expire(what)
      })
      yield* Effect.forkScoped(watching)
    }

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

    const waitForSource = (from: Source.Source<GenerateEvent, BackendError>) =>
      Effect.async<void>((resume) => {
        let forget = () => {}
        wake = () => {
          wake = undefined
          forget()
          resume(Effect.void)
        }
        forget = from.wait(() => {
          wake = undefined
          resume(Effect.void)
        })
        return Effect.sync(() => {
          forget()
          wake = undefined
        })
      })

    /** Take what the source has; an Effect to wait on when it has nothing yet. */
    const pollSource = (from: Source.Source<GenerateEvent, BackendError>): Effect.Effect<void> | undefined => {
      let polled: Source.Polled<GenerateEvent, BackendError>
      try {
        polled = from.poll()
      } catch (defect) {
        finish(crashed(defect))
        return undefined
      }
      if (polled === null) return waitForSource(from)
      if (Source.isEvents(polled)) accept(polled, clock.unsafeCurrentTimeMillis())
      else finish(polled._tag === "End" ? { _tag: "End" } : { _tag: "Fail", cause: Cause.fail(polled.error) })
      return undefined
    }

    const pullHere = Effect.exit(Effect.locally(pull, Stop.current, stop)).pipe(
      Effect.flatMap((exit) => Effect.map(Clock.currentTimeMillis, (now) => received(exit, now)))
    )

    /** `take` from the events read, once there are any; None when the stream ended. */
    const ready = <A>(take: () => A): Effect.Effect<Option.Option<A>, BackendError> => {
      const loop: Effect.Effect<Option.Option<A>, BackendError> = Effect.suspend(() => {
        if (read < buffer.length) return Effect.succeed(Option.some(take()))
        if (read > 0) {
          buffer = []
          read = 0
        }
        if (end !== undefined) return end._tag === "End" ? Effect.succeedNone : Effect.failCause(end.cause)
        if (source) {
          const waiting = pollSource(source)
          return waiting ? Effect.zipRight(waiting, loop) : loop
        }
        return Effect.zipRight(reader === undefined ? pullHere : waitForReader, loop)
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

const liveClock = Clock.make()

/** Whether `clock` is the wall clock (not a TestClock, whose time only moves when a test says). */
const isLive = (clock: Clock.Clock): boolean => clock instanceof (liveClock.constructor as new() => Clock.Clock)

const fmt = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

const describeDefect = (defect: unknown) => (defect instanceof Error ? defect.message : String(defect))
