/**
 * Reads a backend's event stream one event at a time under the attempt's four deadlines:
 * connect (until Start), first token (until the first TextDelta or Done), idle (between
 * events after that) and total. Time comes from the Clock, so TestClock drives it in tests.
 *
 * A backend that throws or dies inside its stream is a misbehaving backend (Upstream), not
 * a crash of the router.
 */
import { Cause, Chunk, Clock, Duration, Effect, Option, type Scope, Stream } from "effect"
import type { GenerateEvent, Timeouts } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"

export interface TimedEvents {
  /** The next event, or None when the stream ended. */
  readonly next: Effect.Effect<Option.Option<GenerateEvent>, BackendError>
}

export const open = (
  backend: string,
  model: string,
  events: () => Stream.Stream<GenerateEvent, BackendError>,
  timeouts: Timeouts
): Effect.Effect<TimedEvents, never, Scope.Scope> =>
  Effect.gen(function*() {
    const guarded = Stream.suspend(events).pipe(
      Stream.catchAllCause((cause) =>
        Option.match(Cause.failureOption(cause), {
          onSome: (error) => Stream.fail(error),
          onNone: () =>
            Cause.isInterruptedOnly(cause) ? Stream.failCause(cause) : Stream.fail(
              new BackendError({
                reason: "Upstream",
                backend,
                model,
                message: `backend ${backend} crashed: ${describeDefect(Cause.squash(cause))}`
              })
            )
        })
      )
    )
    const pull = yield* Stream.toPull(guarded)
    const started = yield* Clock.currentTimeMillis
    let phase: "connect" | "firstToken" | "streaming" = "connect"
    let last = started
    let ended = false
    const buffer: Array<GenerateEvent> = []

    const deadline = (): { readonly at: number; readonly what: string } => {
      const total = { at: started + timeouts.total, what: `total deadline ${fmt(timeouts.total)}` }
      const candidates = phase === "connect"
        ? [{ at: started + timeouts.connect, what: `connect deadline ${fmt(timeouts.connect)}` }, { at: started + timeouts.firstToken, what: `first-token deadline ${fmt(timeouts.firstToken)}` }, total]
        : phase === "firstToken"
        ? [{ at: started + timeouts.firstToken, what: `first-token deadline ${fmt(timeouts.firstToken)}` }, total]
        : [{ at: last + timeouts.idle, what: `idle deadline ${fmt(timeouts.idle)} between tokens` }, total]
      return candidates.reduce((a, b) => (b.at < a.at ? b : a))
    }

    const observe = (event: GenerateEvent, now: number) => {
      last = now
      if (event._tag === "Start" && phase === "connect") phase = "firstToken"
      else if (event._tag === "TextDelta" || event._tag === "Done") phase = "streaming"
    }

    const next: Effect.Effect<Option.Option<GenerateEvent>, BackendError> = Effect.suspend(() => {
      const buffered = buffer.shift()
      if (buffered) return Effect.succeed(Option.some(buffered))
      if (ended) return Effect.succeedNone
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const { at, what } = deadline()
        return pull.pipe(
          Effect.timeoutFail({
            duration: Duration.millis(Math.max(0, at - now)),
            onTimeout: () => new BackendError({ reason: "Timeout", backend, model, message: `no answer from ${backend} within the ${what}` })
          }),
          Effect.matchEffect({
            onFailure: (error) => {
              if (error instanceof BackendError) return Effect.fail(error)
              return Option.match(error, {
                onNone: () => {
                  ended = true
                  return Effect.succeedNone
                },
                onSome: Effect.fail
              })
            },
            onSuccess: (chunk) =>
              Effect.flatMap(Clock.currentTimeMillis, (received) => {
                for (const event of Chunk.toReadonlyArray(chunk)) {
                  observe(event, received)
                  buffer.push(event)
                }
                return next
              })
          })
        )
      })
    })
    return { next }
  })

const fmt = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

const describeDefect = (defect: unknown) => (defect instanceof Error ? defect.message : String(defect))
