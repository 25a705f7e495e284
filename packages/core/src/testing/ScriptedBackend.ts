/**
 * An in-memory backend that follows a script, for router tests and plugin authors. Delays use
 * Effect.sleep, so TestClock drives them. It records every request and counts streams that
 * were abandoned before they finished (how tests see that cancellation reached the backend).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Backend from "../Backend.ts"
import { GenerateEvent, Probe } from "../Backend.ts"
import { BackendError, type Reason } from "../BackendError.ts"

export interface Script {
  /** Fail at once with this reason, before any event (e.g. Unreachable). */
  readonly fail?: Reason
  /** The server's Retry-After on that failure (as HttpCall reads it from a 429 or 503). */
  readonly retryAfterMs?: number
  /** Never answer: no headers, no tokens. */
  readonly hangBeforeStart?: boolean
  readonly startDelayMs?: number
  readonly tokens?: ReadonlyArray<string>
  readonly tokenDelayMs?: number
  /** What happens after the tokens: a clean Done (default), a cut, a hang, a defect or a failure. */
  readonly end?: "done" | "cut" | "hang" | "defect" | Reason
  readonly finishReason?: Backend.FinishReason
}

export interface Scripted {
  readonly backend: Backend.Backend
  /** Every request generate received, in order. */
  readonly requests: ReadonlyArray<Backend.GenerateRequest>
  /** Streams that were closed before they ended by themselves. */
  readonly abandoned: () => number
}

export interface Options {
  readonly name: string
  /** One script per call in order (the last one repeats), or a function of the request. */
  readonly script: ReadonlyArray<Script> | ((request: Backend.GenerateRequest, call: number) => Script)
  readonly capabilities?: Partial<Backend.Capabilities>
  readonly models?: ReadonlyArray<string>
}

export const make = (options: Options): Scripted => {
  const requests: Array<Backend.GenerateRequest> = []
  let abandoned = 0
  const name = options.name
  const scriptFor = (request: Backend.GenerateRequest, call: number): Script => {
    const s = options.script
    return typeof s === "function" ? s(request, call) : (s[Math.min(call, s.length - 1)] ?? {})
  }
  const error = (reason: Reason, model: string, message = `${name}: scripted ${reason}`, retryAfterMs?: number) =>
    new BackendError({ reason, backend: name, model, message, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })

  const generate = (request: Backend.GenerateRequest): Stream.Stream<Backend.GenerateEvent, BackendError> =>
    Stream.suspend(() => {
      const script = scriptFor(request, requests.length)
      requests.push(request)
      const model = request.model
      if (options.models && !options.models.includes(model)) return Stream.fail(error("ModelMissing", model, `model "${model}" not found`))
      if (script.fail) return Stream.fail(error(script.fail, model, undefined, script.retryAfterMs))
      if (script.hangBeforeStart) return Stream.fromEffect(Effect.never)
      const tokens = script.tokens ?? ["Hello", ",", " world"]
      const start = Stream.fromEffect(Effect.as(Effect.sleep(script.startDelayMs ?? 0), GenerateEvent.Start({ model })))
      const body = Stream.fromIterable(tokens).pipe(
        Stream.mapEffect((text) => Effect.as(Effect.sleep(script.tokenDelayMs ?? 0), GenerateEvent.TextDelta({ text })))
      )
      const end = script.end ?? "done"
      const tail: Stream.Stream<Backend.GenerateEvent, BackendError> = end === "done"
        ? Stream.make(
          GenerateEvent.Usage({ usage: { inputTokens: 3, outputTokens: tokens.length } }),
          GenerateEvent.Done({ finishReason: script.finishReason ?? "stop" })
        )
        : end === "cut"
        ? Stream.empty
        : end === "hang"
        ? Stream.fromEffect(Effect.never)
        : end === "defect"
        ? Stream.die(new Error("scripted defect"))
        : Stream.fail(error(end, model))
      // Marked only when the script itself reaches its end (or fails); a consumer that stops
      // early, or an interruption, leaves it unset and counts as abandoned.
      let finished = false
      const mark = Effect.sync(() => {
        finished = true
      })
      return Stream.concat(Stream.concat(start, body), tail).pipe(
        Stream.tapError(() => mark),
        Stream.concat(Stream.fromEffectDrain(mark)),
        Stream.ensuring(Effect.sync(() => {
          if (!finished) abandoned++
        }))
      )
    })

  const backend: Backend.Backend = {
    name,
    type: "scripted",
    capabilities: { text: true, images: false, streaming: true, pull: false, ...options.capabilities },
    probe: Effect.succeed(Probe.Ready({ models: options.models ?? [], loaded: [] })),
    models: Effect.succeed(options.models ?? []),
    ensureModel: (model) =>
      options.models && !options.models.includes(model)
        ? Stream.fail(error("ModelMissing", model, `model "${model}" cannot be pulled from a scripted backend`))
        : Stream.make({ status: "success" }),
    generate
  }
  return { backend, requests, abandoned: () => abandoned }
}
