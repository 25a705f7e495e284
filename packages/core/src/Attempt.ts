/**
 * One attempt of one candidate: the backend's answer read under the attempt's four deadlines,
 * and the three ways the Router reads an attempt: `whole` (for `run`, with the response
 * format's check), `gated` (through the commit gate, for `pull`) and `embedding` (vectors under
 * the total deadline). Each gives Right(what the caller gets) or Left(why) for the walk to fall
 * back; how an attempt ended is told to the walk through `end`, which traces it and settles the
 * backend's circuit.
 *
 * The deadlines are connect (until Start), first token (until the first TextDelta,
 * ReasoningDelta, tool-call event or Done), idle (between events after that) and total. Time
 * comes from the Clock, so TestClock drives exactly the code that runs in production.
 *
 * Every answer is read the same way, whoever made it: as `Events` (core's HttpCall.events
 * makes them; a plugin's Stream becomes them through `Events.fromStream`), pulled in the
 * caller's own fiber, one pull each time the caller asks (nothing is read ahead of it), each
 * giving the events that have arrived. One watchdog fiber per attempt sleeps on the Clock until
 * the deadline it last computed. An event only moves a timestamp: the watchdog never sleeps
 * longer than the idle deadline, because the deadline can only move earlier by a first token
 * starting the idle clock, and that can never be more than one idle span ahead; waking early,
 * it re-reads the deadline and sleeps on.
 *
 * A deadline that passes closes the answer (HttpCall then cuts the connection, so the server
 * stops generating, and a pull waiting for it ends at once) and the caller sees a Timeout,
 * never the cut. A deadline that passed while the caller was busy fails the next read.
 *
 * The commit gate counts the first event the caller would see (text, reasoning or a tool call;
 * or the Done of an empty answer) as the commit: a failure before it falls back invisibly, one
 * after it ends the stream with `StreamFailed`, and so does a complete answer that does not
 * match the response format asked for (read whole, such an answer falls back instead).
 *
 * A backend that throws or dies inside its answer is a misbehaving backend (Upstream), not a
 * crash of the router.
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type { Backend, FinishReason, GenerateEvent, GenerateRequest, Timeouts, ToolCall, Usage } from "./Backend.ts"
import { BackendError } from "./BackendError.ts"
import * as Events from "./Events.ts"
import * as Fallback from "./Fallback.ts"
import type * as JsonCheck from "./internal/JsonCheck.ts"
import type * as Plan from "./Plan.ts"
import { RouteError } from "./RouteError.ts"
import type * as Trace from "./Trace.ts"

/** What a streamed answer's caller sees (`Router.Event`): the commit (`Routed`), the backend's events, and `Done` with the trace. */
export type Event = Data.TaggedEnum<{
  /** The answer is committed to this backend and model; tokens follow. */
  Routed: { readonly backend: string; readonly model: string; readonly attempt: number }
  TextDelta: { readonly text: string }
  ReasoningDelta: { readonly text: string }
  /** A tool call begins (per `index`, 0, 1, ... in the order the calls began): its id and name; its arguments follow as deltas. */
  ToolCallStart: { readonly index: number; readonly id: string; readonly name: string }
  /** A fragment of a tool call's arguments (JSON text; the fragments joined in order are the whole arguments). */
  ToolCallDelta: { readonly index: number; readonly arguments: string }
  ToolCallEnd: { readonly index: number }
  Usage: { readonly usage: Usage }
  Done: { readonly finishReason: FinishReason; readonly usage: Usage; readonly trace: Trace.Trace }
}>
export const Event = Data.taggedEnum<Event>()

/** An answer read whole (`Router.Answer`). */
export interface Answer {
  readonly text: string
  /** The model's reasoning, when it reported any ("" when none). */
  readonly reasoning: string
  /** The tool calls it made, in index order (empty when none). */
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly backend: string
  readonly model: string
  readonly finishReason: FinishReason
  readonly usage: Usage
  readonly trace: Trace.Trace
}

/** Embeddings asked of a category with `input: embed` (default: the category `embed`), or of a pinned backend/model. */
export interface EmbedInput {
  readonly category?: string | undefined
  readonly pin?: { readonly backend: string; readonly model: string } | undefined
  /** The texts to embed: one vector each, in order. */
  readonly input: ReadonlyArray<string>
  /** Vectors of this many dimensions, where the model can shorten them. */
  readonly dimensions?: number | undefined
}

/** Vectors, with which backend and model made them and the space they belong to. */
export interface Embedded {
  readonly vectors: ReadonlyArray<ReadonlyArray<number>>
  readonly backend: string
  /** The model as routing.yaml names it for that backend. */
  readonly model: string
  /** The model as the server named it in its answer. */
  readonly servedModel: string
  /** The vector space (the declared `space:`, else the model's name). */
  readonly space: string
  readonly usage: Usage
  readonly trace: Trace.Trace
}

/** One attempt, as the walk hands it to what reads it. */
export interface Attempt {
  readonly candidate: Plan.Try
  /** Its place in the trace, skips included (the `Routed` event's `attempt`). */
  readonly number: number
  /** Trace how the attempt ended (answered, or failed after the commit) and settle its circuit; the trace so far. */
  readonly end: (outcome: Fallback.Outcome) => Trace.Trace
}

/** A generate attempt: the request for its backend, and the check of the complete answer's text (a response format). */
export interface Generation extends Attempt {
  readonly request: GenerateRequest
  readonly check: JsonCheck.Check | undefined
}

/** A backend's answer under the attempt's deadlines. */
export interface Timed {
  /** The events that arrived since the last pull (at least one), or undefined when the answer ended. */
  readonly pull: Effect.Effect<ReadonlyArray<GenerateEvent> | undefined, BackendError>
  /** Done with the answer (read to its end, failed, or abandoned): stop the watchdog, release the answer. */
  readonly close: () => void
}

/** How the answer ended: cleanly, or with the error the caller will see. */
type End = { readonly _tag: "End" } | { readonly _tag: "Fail"; readonly cause: Cause.Cause<BackendError> }

/** Start the backend's answer and its watchdog: the answer read under the four deadlines. */
const open = (
  backend: string,
  model: string,
  generate: () => ReturnType<Backend["generate"]>,
  timeouts: Timeouts
): Effect.Effect<Timed> =>
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

/** One attempt read whole: Right(the answer) at its Done, Left(why) for the walk to fall back. */
export const whole = (attempt: Generation): Effect.Effect<Result.Result<Answer, BackendError>> => {
  const { candidate, end, request } = attempt
  const { backend, model, service, timeouts } = candidate
  return Effect.flatMap(open(backend, model, () => service.generate(request), timeouts), (events) => {
    let text = ""
    let reasoning = ""
    const calls = toolCallsOf()
    let usage: Usage = {}
    const read: Effect.Effect<Result.Result<Answer, BackendError>> = Effect.matchEffect(events.pull, {
      onFailure: (error) => Effect.succeed(Result.fail(error)),
      onSuccess: (chunk) => {
        if (chunk === undefined) return Effect.succeed(Result.fail(streamCut(backend, model)))
        for (const event of chunk) {
          if (event._tag === "TextDelta") text += event.text
          else if (event._tag === "ReasoningDelta") reasoning += event.text
          else if (event._tag === "Usage") usage = { ...usage, ...event.usage }
          else if (event._tag === "Done") {
            const invalid = checked(attempt, text, calls.count)
            if (invalid) return Effect.succeed(Result.fail(invalid))
            const trace = end(Fallback.Outcome.Answered())
            return Effect.succeed(Result.succeed<Answer>({
              text,
              reasoning,
              toolCalls: calls.all(),
              backend,
              model,
              finishReason: event.finishReason,
              usage,
              trace
            }))
          } else calls.add(event)
        }
        return read
      }
    })
    return Effect.ensuring(read, Effect.sync(events.close))
  })
}

/** A `pull`'s state: closed by its reader, and the attempt being read (to close with it). */
export interface Answering {
  closed: boolean
  current: Timed | undefined
}

/**
 * One streamed attempt through the commit gate: Left(why) if it fails before its first token
 * (the walk falls back invisibly), else Right(the rest of the answer, for the caller's pulls),
 * whose failures are the caller's to see. The attempt's events are `answer.current` until the
 * next attempt, so that closing the answer closes them.
 */
export const gated = (answer: Answering) =>
(attempt: Generation): Effect.Effect<Result.Result<Effect.Effect<ReadonlyArray<Event> | undefined, RouteError>, BackendError>> => {
  const { candidate, end, number, request } = attempt
  const { backend, model, service, timeouts } = candidate
  /** A closed answer tries nothing more: its reader is gone. */
  const abandoned = () => {
    end(Fallback.Outcome.Cancelled())
    return Result.succeed(Effect.succeed(undefined))
  }
  if (answer.closed) return Effect.succeed(abandoned())
  return Effect.flatMap(open(backend, model, () => service.generate(request), timeouts), (events) => {
    answer.current = events
    const held: Array<Event> = []
    /** The first event the caller would see (text, reasoning, a tool call, or Done) and the events after it in its chunk, or why there is none. */
    const untilFirst: Effect.Effect<Result.Result<ReadonlyArray<GenerateEvent>, BackendError>> = Effect.matchEffect(events.pull, {
      onFailure: (error) => Effect.succeed(Result.fail(error)),
      onSuccess: (chunk) => {
        if (chunk === undefined) return Effect.succeed(Result.fail(streamCut(backend, model)))
        for (let i = 0; i < chunk.length; i++) {
          const event = chunk[i]!
          if (visible(event)) return Effect.succeed(Result.succeed(i === 0 ? chunk : chunk.slice(i)))
          if (event._tag === "Usage") held.push(Event.Usage({ usage: event.usage }))
        }
        return untilFirst
      }
    })
    return Effect.map(untilFirst, (first) => {
      if (Result.isSuccess(first)) return committed(first.success)
      // Failed before its first token: closed before the walk tries the next candidate.
      events.close()
      return answer.closed ? abandoned() : Result.fail(first.failure)
    })

    /** Committed: from here on a failure is the caller's to see. */
    function committed(first: ReadonlyArray<GenerateEvent>) {
      let usage: Usage = {}
      let finished = false
      // The answer's text and tool calls, kept only to check the complete answer against its response format.
      let text = ""
      const calls = toolCallsOf()
      /** An answer that ended in the wrong shape: the caller gets it after the events before it. */
      let failure: RouteError | undefined
      const finish = (event: Extract<GenerateEvent, { _tag: "Done" }>) => {
        finished = true
        events.close()
        return Event.Done({ finishReason: event.finishReason, usage, trace: end(Fallback.Outcome.Answered()) })
      }
      const afterCommit = (error: BackendError) => {
        finished = true
        events.close()
        return new RouteError({
          reason: "StreamFailed",
          message: `${backend} failed after the answer had started (${error.reason}): ${error.message}`,
          trace: end(Fallback.Outcome.Failed({ error, committed: true }))
        })
      }
      /** The caller's events for a chunk of the backend's, up to its Done. */
      const translate = (chunk: ReadonlyArray<GenerateEvent>, out: Array<Event>): Array<Event> => {
        for (const event of chunk) {
          switch (event._tag) {
            case "TextDelta":
              if (attempt.check) text += event.text
              out.push(Event.TextDelta({ text: event.text }))
              break
            case "ReasoningDelta":
              out.push(Event.ReasoningDelta({ text: event.text }))
              break
            case "ToolCallStart":
              calls.add(event)
              out.push(Event.ToolCallStart({ index: event.index, id: event.id, name: event.name }))
              break
            case "ToolCallDelta":
              out.push(Event.ToolCallDelta({ index: event.index, arguments: event.arguments }))
              break
            case "ToolCallEnd":
              out.push(Event.ToolCallEnd({ index: event.index }))
              break
            case "Usage":
              usage = { ...usage, ...event.usage }
              out.push(Event.Usage({ usage: event.usage }))
              break
            case "Done": {
              const invalid = checked(attempt, text, calls.count)
              if (invalid) failure = afterCommit(invalid)
              else out.push(finish(event))
              return out
            }
          }
        }
        return out
      }
      for (const e of held) if (e._tag === "Usage") usage = { ...usage, ...e.usage }
      let head: Array<Event> | undefined = translate(first, [Event.Routed({ backend, model, attempt: number }), ...held])
      const rest: Effect.Effect<ReadonlyArray<Event> | undefined, RouteError> = Effect.suspend(() => {
        if (head) {
          const out = head
          head = undefined
          return Effect.succeed(out)
        }
        if (failure) {
          const error = failure
          failure = undefined
          return Effect.fail(error)
        }
        if (finished || answer.closed) return Effect.succeed(undefined)
        return Effect.matchEffect(events.pull, {
          onFailure: (error) => (answer.closed ? Effect.succeed(undefined) : Effect.fail(afterCommit(error))),
          onSuccess: (chunk) => {
            if (chunk === undefined) return answer.closed ? Effect.succeed(undefined) : Effect.fail(afterCommit(streamCut(backend, model)))
            const out = translate(chunk, [])
            if (out.length > 0 || !failure) return Effect.succeed(out)
            const error = failure
            failure = undefined
            return Effect.fail(error)
          }
        })
      })
      return Result.succeed(rest)
    }
  })
}

/**
 * One embeddings attempt under the attempt's total deadline: Right(the vectors, one per input,
 * all of one length), Left(why) for the walk to fall back.
 */
export const embedding = (input: EmbedInput) => ({ candidate, end }: Attempt): Effect.Effect<Result.Result<Embedded, BackendError>> => {
  const { backend, model, service, space, timeouts } = candidate
  const fail = (reason: BackendError["reason"], message: string) => Result.fail(new BackendError({ reason, backend, model, message }))
  return Effect.suspend(() =>
    service.embed!({ model, input: input.input, ...(input.dimensions === undefined ? {} : { dimensions: input.dimensions }) })
  ).pipe(
    Effect.map((result): Result.Result<Embedded, BackendError> => {
      const problem = vectorsProblem(result.vectors, input.input.length)
      if (problem !== undefined) return fail("Upstream", `${backend} answered ${problem}`)
      return Result.succeed({
        vectors: result.vectors,
        backend,
        model,
        servedModel: result.model,
        space,
        usage: result.usage ?? {},
        trace: end(Fallback.Outcome.Answered())
      })
    }),
    Effect.timeoutOrElse({
      duration: Duration.millis(timeouts.total),
      orElse: () => Effect.succeed(fail("Timeout", `no embeddings from ${backend} within the total deadline ${timeouts.total}ms`))
    }),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const error = Cause.findErrorOption(cause)
      return Effect.succeed(Result.fail(Option.isSome(error) ? error.value : crashed(backend, model, Cause.squash(cause))))
    })
  )
}

/** Tool calls as their events arrive, whole by index. */
const toolCallsOf = () => {
  const calls: Array<{ id: string; name: string; arguments: string }> = []
  return {
    add: (event: GenerateEvent) => {
      if (event._tag === "ToolCallStart") calls[event.index] = { id: event.id, name: event.name, arguments: "" }
      else if (event._tag === "ToolCallDelta") {
        const call = calls[event.index]
        if (call) call.arguments += event.arguments
      }
    },
    get count() {
      return calls.length
    },
    all: (): ReadonlyArray<ToolCall> => calls.filter((call) => call !== undefined)
  }
}

/**
 * Whether the complete answer has the shape asked for: a turn that ended in tool calls has no
 * answer text to check. Undefined when it does, else the failure (which falls back, or fails
 * the stream after the commit).
 */
const checked = (attempt: Generation, text: string, toolCalls: number): BackendError | undefined => {
  if (attempt.check === undefined || toolCalls > 0) return undefined
  const problem = attempt.check(text)
  return problem === undefined
    ? undefined
    : new BackendError({ reason: "InvalidOutput", backend: attempt.candidate.backend, model: attempt.candidate.model, message: problem })
}

/** What is wrong with a backend's vectors for `inputs` inputs, if anything. */
const vectorsProblem = (vectors: ReadonlyArray<ReadonlyArray<number>>, inputs: number): string | undefined => {
  if (vectors.length !== inputs) return `${vectors.length} vectors for ${inputs} inputs`
  const dimensions = vectors[0]?.length ?? 0
  if (inputs > 0 && dimensions === 0) return "empty vectors"
  if (vectors.some((v) => v.length !== dimensions)) return "vectors of different lengths"
  if (vectors.some((v) => v.some((x) => typeof x !== "number" || !Number.isFinite(x)))) return "a vector with a value that is not a finite number"
  return undefined
}

/** The events a caller sees: the first of them is the commit. */
const visible = (event: GenerateEvent): boolean => event._tag !== "Start" && event._tag !== "Usage"

const streamCut = (backend: string, model: string) =>
  new BackendError({ reason: "StreamCut", backend, model, message: `${backend} ended the stream before the answer was complete` })

const crashed = (backend: string, model: string, defect: unknown) =>
  new BackendError({ reason: "Upstream", backend, model, message: `backend ${backend} crashed: ${describeDefect(defect)}` })

const fmt = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

const describeDefect = (defect: unknown) => (defect instanceof Error ? defect.message : String(defect))
