/**
 * Reads a backend's answer under the attempt's four deadlines: connect (until Start), first
 * token (until the first TextDelta, ReasoningDelta, tool-call event or Done), idle (between events after that) and total. Time
 * comes from the Clock, so TestClock drives exactly the code that runs in production.
 *
 * Every answer is read the same way, whoever made it: as `Events` (core's HttpCall.events
 * makes them; a plugin's Stream becomes them through `Events.fromStream`), pulled in the
 * caller's own fiber, one pull each time the caller asks (nothing is read ahead of it), each
 * giving the events that have arrived. One
 * watchdog fiber per attempt sleeps on the Clock until the deadline it last computed. An event
 * only moves a timestamp: the watchdog never sleeps longer than the idle deadline, because the
 * deadline can only move earlier by a first token starting the idle clock, and that can never
 * be more than one idle span ahead; waking early, it re-reads the deadline and sleeps on.
 *
 * A deadline that passes closes the answer (HttpCall then cuts the connection, so the server
 * stops generating, and a pull waiting for it ends at once) and the caller sees a Timeout,
 * never the cut. A deadline that passed while the caller was busy fails the next read.
 *
 * A backend that throws or dies inside its answer is a misbehaving backend (Upstream), not a
 * crash of the router.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Backend, GenerateEvent, Timeouts } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"
import * as Events from "../Events.ts"

export interface TimedEvents {
  /** The events that arrived since the last pull (at least one), or undefined when the answer ended. */
  readonly pull: Effect.Effect<ReadonlyArray<GenerateEvent> | undefined, BackendError>
  /** Done with the answer (read to its end, failed, or abandoned): stop the watchdog, release the answer. */
  readonly close: () => void
}

/** How the answer ended: cleanly, or with the error the caller will see. */
type End = { readonly _tag: "End" } | { readonly _tag: "Fail"; readonly cause: Cause.Cause<BackendError> }

export const open = (
  backend: string,
  model: string,
  generate: () => ReturnType<Backend["generate"]>,
  timeouts: Timeouts
): Effect.Effect<TimedEvents> =>
  Effect.clockWith((clock) => {
    let events: Events.Events<GenerateEvent, BackendError>
    try {
      events = Events.of(generate())
    } catch (defect) {
      events = Events.fail(crashed(backend, model, defect))
    }
    let end: End | undefined
    const started = clock.currentTimeMillisUnsafe()
    let phase: "connect" | "firstToken" | "streaming" = "connect"
    let last = started

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

    const ended = (): Effect.Effect<undefined, BackendError> => (end!._tag === "End" ? Effect.succeed(undefined) : Effect.failCause(end!.cause))

    /** One pull of the answer, in the caller's fiber: the events it gave, or how it ended. */
    const pulled: Effect.Effect<ReadonlyArray<GenerateEvent> | undefined, BackendError> = Effect.matchCauseEffect(events.pull, {
      onSuccess: (chunk) => {
        if (end !== undefined) return ended()
        if (chunk === undefined) {
          end = { _tag: "End" }
          events.close()
          return ended()
        }
        const now = clock.currentTimeMillisUnsafe()
        last = now
        for (const event of chunk) {
          if (event._tag === "Start" && phase === "connect") phase = "firstToken"
          else if (event._tag !== "Start" && event._tag !== "Usage") phase = "streaming"
        }
        return Effect.succeed(chunk)
      },
      onFailure: (cause) => {
        // A deadline that passed meanwhile is what the caller hears of, not the cut it made.
        if (end !== undefined) return ended()
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
        const failure = Cause.findErrorOption(cause)
        end = { _tag: "Fail", cause: Cause.fail(Option.isSome(failure) ? failure.value : crashed(backend, model, Cause.squash(cause))) }
        events.close()
        return ended()
      }
    })
    // A deadline that passed while the caller was busy fails its next pull.
    const pull = Effect.suspend(() => (end === undefined ? pulled : ended()))

    /** How long the watchdog may sleep from `now`: until the deadline, but never past one idle span. */
    const nap = (now: number, at: number) => Math.min(at, now + Math.max(1, timeouts.idle)) - now
    const watchdog: Effect.Effect<void> = Effect.suspend(() => {
      if (end !== undefined) return Effect.void
      const now = clock.currentTimeMillisUnsafe()
      const { at, what } = deadline()
      if (now < at) return Effect.andThen(clock.sleep(Duration.millis(nap(now, at))), watchdog)
      // The deadline passed: end the attempt with a Timeout, and close the answer (which cuts
      // the connection and ends a waiting pull).
      end = {
        _tag: "Fail",
        cause: Cause.fail(new BackendError({ reason: "Timeout", backend, model, message: `no answer from ${backend} within the ${what}` }))
      }
      events.close()
      return Effect.void
    })

    return Effect.map(Effect.forkDetach(watchdog), (watching) => ({
      pull,
      close: () => {
        end ??= { _tag: "End" }
        watching.interruptUnsafe()
        events.close()
      }
    }))
  })

const crashed = (backend: string, model: string, defect: unknown) =>
  new BackendError({ reason: "Upstream", backend, model, message: `backend ${backend} crashed: ${describeDefect(defect)}` })

const fmt = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

const describeDefect = (defect: unknown) => (defect instanceof Error ? defect.message : String(defect))
