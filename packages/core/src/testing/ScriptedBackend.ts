/**
 * An in-memory backend that follows a script, for router tests and plugin authors. Delays use
 * Effect.sleep, so TestClock drives them. It records every request and counts streams that
 * were abandoned before they finished (how tests see that cancellation reached the backend).
 *
 * A script can answer with reasoning, text and tool calls (streamed as the contract says:
 * `ToolCallStart`, the arguments' fragments as `ToolCallDelta`, `ToolCallEnd`, per call), and
 * the backend can embed (`embed`) and report per-model capabilities (`modelCapabilities`).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Backend from "../Backend.ts"
import { GenerateEvent, Probe } from "../Backend.ts"
import { BackendError, type Reason } from "../BackendError.ts"

/** A tool call the script makes: its arguments as one JSON text, or as the fragments to stream. */
export interface ScriptedToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string | ReadonlyArray<string>
}

export interface Script {
  /** Fail at once with this reason, before any event (e.g. Unreachable). */
  readonly fail?: Reason
  /** The server's Retry-After on that failure (as HttpCall reads it from a 429 or 503). */
  readonly retryAfterMs?: number
  /** Never answer: no headers, no tokens. */
  readonly hangBeforeStart?: boolean
  readonly startDelayMs?: number
  /** Reasoning deltas, before the text. */
  readonly reasoning?: ReadonlyArray<string>
  readonly tokens?: ReadonlyArray<string>
  readonly tokenDelayMs?: number
  /** Tool calls after the text; the turn then ends with `tool_calls` unless `finishReason` says otherwise. */
  readonly toolCalls?: ReadonlyArray<ScriptedToolCall>
  /** What happens after the tokens: a clean Done (default), a cut, a hang, a defect or a failure. */
  readonly end?: "done" | "cut" | "hang" | "defect" | Reason
  /** Only the first this many events of the answer (reasoning, text, tool-call events) come before `end`: e.g. a cut in the middle of a tool call's arguments. */
  readonly endAfter?: number
  readonly finishReason?: Backend.FinishReason
}

/** How the backend answers one `embed`: vectors of `dimensions` (derived from each input), or a failure. */
export interface EmbedScript {
  readonly fail?: Reason
  /** Dimensions of each vector (default 4). */
  readonly dimensions?: number
  /** The model the server says made the vectors (default: the requested one). */
  readonly model?: string
  readonly delayMs?: number
  /** Never answer. */
  readonly hang?: boolean
  /** Answer this many vectors whatever the input (a misbehaving server). */
  readonly count?: number
}

export interface Scripted {
  readonly backend: Backend.Backend
  /** Every request generate received, in order. */
  readonly requests: ReadonlyArray<Backend.GenerateRequest>
  /** Every request embed received, in order. */
  readonly embedRequests: ReadonlyArray<Backend.EmbedRequest>
  /** The models `modelCapabilities` was asked about, in order. */
  readonly capabilityQueries: ReadonlyArray<string>
  /** Streams that were closed before they ended by themselves. */
  readonly abandoned: () => number
}

export interface Options {
  readonly name: string
  /** One script per call in order (the last one repeats), or a function of the request. */
  readonly script: ReadonlyArray<Script> | ((request: Backend.GenerateRequest, call: number) => Script)
  readonly capabilities?: Partial<Backend.Capabilities>
  readonly models?: ReadonlyArray<string>
  /** Gives the backend an `embed` (and the embeddings capability, unless `capabilities` says otherwise). */
  readonly embed?: ReadonlyArray<EmbedScript> | ((request: Backend.EmbedRequest, call: number) => EmbedScript)
  /** Gives the backend a `modelCapabilities` that reports these per model (a model not listed: {}); a Reason fails it; "hang" never answers. */
  readonly modelCapabilities?: Readonly<Record<string, Backend.ModelCapabilities>> | Reason | "hang"
}

export const make = (options: Options): Scripted => {
  const requests: Array<Backend.GenerateRequest> = []
  const embedRequests: Array<Backend.EmbedRequest> = []
  const capabilityQueries: Array<string> = []
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
      const toolCalls = script.toolCalls ?? []
      const tokens = script.tokens ?? (toolCalls.length > 0 ? [] : ["Hello", ",", " world"])
      const start = Stream.fromEffect(Effect.as(Effect.sleep(script.startDelayMs ?? 0), GenerateEvent.Start({ model })))
      const answer: ReadonlyArray<Backend.GenerateEvent> = [
        ...(script.reasoning ?? []).map((text) => GenerateEvent.ReasoningDelta({ text })),
        ...tokens.map((text) => GenerateEvent.TextDelta({ text })),
        ...toolCalls.flatMap((call, index) => [
          GenerateEvent.ToolCallStart({ index, id: call.id, name: call.name }),
          ...(typeof call.arguments === "string" ? [call.arguments] : call.arguments).map((fragment) =>
            GenerateEvent.ToolCallDelta({ index, arguments: fragment })
          ),
          GenerateEvent.ToolCallEnd({ index })
        ])
      ]
      const body = Stream.fromIterable(script.endAfter === undefined ? answer : answer.slice(0, script.endAfter)).pipe(
        Stream.mapEffect((event) => Effect.as(Effect.sleep(script.tokenDelayMs ?? 0), event))
      )
      const end = script.end ?? "done"
      const tail: Stream.Stream<Backend.GenerateEvent, BackendError> = end === "done"
        ? Stream.make(
          GenerateEvent.Usage({ usage: { inputTokens: 3, outputTokens: tokens.length + toolCalls.length } }),
          GenerateEvent.Done({ finishReason: script.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop") })
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

  const embedScripts = options.embed
  const embed = embedScripts === undefined ? undefined : (request: Backend.EmbedRequest): Effect.Effect<Backend.EmbedResult, BackendError> =>
    Effect.suspend(() => {
      const call = embedRequests.length
      embedRequests.push(request)
      const script = typeof embedScripts === "function" ? embedScripts(request, call) : (embedScripts[Math.min(call, embedScripts.length - 1)] ?? {})
      if (options.models && !options.models.includes(request.model)) {
        return Effect.fail(error("ModelMissing", request.model, `model "${request.model}" not found`))
      }
      if (script.fail) return Effect.fail(error(script.fail, request.model))
      if (script.hang) return Effect.never
      const dimensions = request.dimensions ?? script.dimensions ?? 4
      return Effect.as(Effect.sleep(script.delayMs ?? 0), {
        model: script.model ?? request.model,
        vectors: (script.count === undefined ? request.input : Array.from({ length: script.count }, (_, i) => request.input[i] ?? `${i}`))
          .map((text) => vectorOf(text, dimensions)),
        usage: { inputTokens: request.input.reduce((n, text) => n + text.length, 0) }
      })
    })

  const reported = options.modelCapabilities
  const modelCapabilities = reported === undefined ? undefined : (model: string): Effect.Effect<Backend.ModelCapabilities, BackendError> =>
    Effect.suspend(() => {
      capabilityQueries.push(model)
      return reported === "hang"
        ? Effect.never
        : typeof reported === "string"
        ? Effect.fail(error(reported, model))
        : Effect.succeed(reported[model] ?? {})
    })

  const backend: Backend.Backend = {
    name,
    type: "scripted",
    capabilities: {
      text: true,
      images: false,
      streaming: true,
      pull: false,
      tools: false,
      jsonSchema: false,
      reasoning: false,
      embeddings: embed !== undefined,
      ...options.capabilities
    },
    probe: Effect.succeed(Probe.Ready({ models: options.models ?? [], loaded: [] })),
    models: Effect.succeed(options.models ?? []),
    ensureModel: (model) =>
      options.models && !options.models.includes(model)
        ? Stream.fail(error("ModelMissing", model, `model "${model}" cannot be pulled from a scripted backend`))
        : Stream.make({ status: "success" }),
    generate,
    ...(embed ? { embed } : {}),
    ...(modelCapabilities ? { modelCapabilities } : {})
  }
  return { backend, requests, embedRequests, capabilityQueries, abandoned: () => abandoned }
}

/** A deterministic unit vector for a text: the same text always gives the same vector. */
const vectorOf = (text: string, dimensions: number): ReadonlyArray<number> => {
  let seed = 2166136261
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0
  const raw = Array.from({ length: dimensions }, (_, i) => Math.sin(seed + i * 7919) || 1e-3)
  const norm = Math.hypot(...raw)
  return raw.map((x) => x / norm)
}
