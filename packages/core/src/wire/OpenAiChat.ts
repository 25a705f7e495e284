/**
 * The one OpenAI-compatible chat client: `POST <base>/chat/completions` with `stream: true`,
 * and `GET <base>/models`. mlx_lm.server, mlx_vlm.server, llama.cpp's llama-server, vLLM,
 * LM Studio, OpenAI and OpenRouter all speak it; their backends compose this module and only
 * add what is their own (addresses, headers, probes).
 *
 * Invariants:
 * - `Start` is emitted when the response headers arrive, before any body is read.
 * - The answer ends with exactly one `Done`: at `data: [DONE]`, or at the end of the body if
 *   a choice already said `finish_reason` (mlx_lm drops `[DONE]` in some configurations).
 *   A body that ends with neither is a `StreamCut`.
 * - An error after the headers (`data: {"error": …}`, llama-server's `error:` line,
 *   OpenRouter's `finish_reason: "error"`) fails the stream; it never ends it cleanly.
 * - Requests are checked before they are sent: mlx_lm drops the connection without a status
 *   line on an out-of-range parameter (protocols.md §2.3), which would look like a dead server.
 *
 * Reasoning: the answer is the `content` the server streams. A `<think>…</think>` block a
 * model writes into its content is passed through unchanged (it is what the server answered,
 * and only the caller knows whether to show it). Reasoning that a server streams in separate
 * fields (`reasoning`, `reasoning_content`) is not part of the answer and is not emitted.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Redacted from "effect/Redacted"
import type { FinishReason, GenerateRequest, Message, Usage } from "../Backend.ts"
import { GenerateEvent } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"
import * as Events from "../Events.ts"
import * as HttpCall from "./HttpCall.ts"
import * as Sse from "./Sse.ts"

export interface Client {
  /** The backend's name from routing.yaml, for errors. */
  readonly backend: string
  /** The API base including its version segment, as the OpenAI SDK takes it: `http://127.0.0.1:11435/v1`. */
  readonly baseUrl: string
  /** Extra headers; secrets (Authorization) as Redacted. */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>>
  /**
   * The field that carries the token limit. OpenAI's reasoning models reject `max_tokens`;
   * older local servers only know `max_tokens`. Default `max_tokens`.
   */
  readonly maxTokensField?: "max_tokens" | "max_completion_tokens"
  /** Ask for a final usage chunk (`stream_options: {include_usage: true}`). Default true. */
  readonly streamUsage?: boolean
  /** The token limit to send when a request gives none (mlx_lm silently stops at 512). */
  readonly defaultMaxTokens?: number
}

/** The chat request body, or why the request cannot be sent. */
export const body = (client: Client, request: GenerateRequest): Result.Result<Record<string, unknown>, BackendError> => {
  const bad = (message: string) =>
    Result.fail(new BackendError({ reason: "BadRequest", backend: client.backend, model: request.model, message: `${client.backend}: ${message}` }))
  const o = request.options ?? {}
  if (request.messages.length === 0) return bad("the request has no messages")
  if (o.temperature !== undefined && !(Number.isFinite(o.temperature) && o.temperature >= 0)) {
    return bad(`temperature must be a number ≥ 0 (got ${o.temperature})`)
  }
  if (o.topP !== undefined && !(o.topP >= 0 && o.topP <= 1)) return bad(`topP must be between 0 and 1 (got ${o.topP})`)
  if (o.maxTokens !== undefined && !(Number.isInteger(o.maxTokens) && o.maxTokens > 0)) {
    return bad(`maxTokens must be a positive integer (got ${o.maxTokens})`)
  }
  if (o.seed !== undefined && !Number.isInteger(o.seed)) return bad(`seed must be an integer (got ${o.seed})`)
  const maxTokens = o.maxTokens ?? client.defaultMaxTokens
  const streamUsage = client.streamUsage ?? true
  return Result.succeed({
    ...request.extra,
    model: request.model,
    messages: request.messages.map(toWire),
    ...(o.temperature === undefined ? {} : { temperature: o.temperature }),
    ...(o.topP === undefined ? {} : { top_p: o.topP }),
    ...(maxTokens === undefined ? {} : { [client.maxTokensField ?? "max_tokens"]: maxTokens }),
    ...(o.stop === undefined || o.stop.length === 0 ? {} : { stop: [...o.stop] }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    stream: true,
    // The key must be present whenever the object is: mlx_lm ends the stream early otherwise.
    ...(streamUsage ? { stream_options: { include_usage: true } } : {})
  })
}

const toWire = (message: Message): Record<string, unknown> => {
  const images = message.images ?? []
  if (images.length === 0) return { role: message.role, content: message.content }
  return {
    role: message.role,
    content: [
      ...(message.content.length > 0 ? [{ type: "text", text: message.content }] : []),
      ...images.map((image) => ({
        type: "image_url",
        image_url: { url: `data:${image.mime};base64,${Buffer.from(image.data).toString("base64")}` }
      }))
    ]
  }
}

/**
 * Stream an answer: Start on headers, then the SSE body decoded as it arrives. Each chunk of
 * bytes is turned into its events in one pass (SSE framing and chat decoding together): this
 * runs under every token, and each stream stage costs more than the decoding itself.
 * `options` is what a backend adds (its reading of a status, a check before sending).
 */
export const generate = (client: Client, request: GenerateRequest, options?: HttpCall.Options): Events.Events<GenerateEvent, BackendError> => {
  const payload = body(client, request)
  if (Result.isFailure(payload)) return Events.fail(payload.failure)
  const call = chatCall(client, request, payload.success)
  const source = sourceOf(call)
  return HttpCall.events(call, (reply): HttpCall.Reader<GenerateEvent> => {
    const events = [GenerateEvent.Start({ model: request.model })]
    // A server that ignores `stream: true` answers with one JSON completion.
    if ((reply.header("content-type") ?? "").includes("application/json")) {
      const parts: Array<Buffer> = []
      return {
        events,
        read: (bytes) => {
          if (bytes) {
            parts.push(bytes)
            return { events: [] }
          }
          const whole = completionText(source, Buffer.concat(parts).toString("utf8"))
          return whole instanceof BackendError ? { events: [], failure: whole } : { events: whole, done: true }
        }
      }
    }
    return Sse.reader(source, events, protocol(source))
  }, options)
}

const chatCall = (client: Client, request: GenerateRequest, payload: Record<string, unknown>): HttpCall.Call => ({
  backend: client.backend,
  model: request.model,
  method: "POST",
  url: `${client.baseUrl}/chat/completions`,
  headers: { accept: "text/event-stream", ...client.headers },
  body: payload
})

/** A whole completion's text -> its events, or what is wrong with it. */
const completionText = (source: Sse.Source, text: string): ReadonlyArray<GenerateEvent> | BackendError => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return malformed(source, "a JSON body that is not JSON")
  }
  return completionEvents(source, json)
}

/**
 * The chat protocol over SSE: one SSE event at a time, its GenerateEvents (everything after
 * Start) pushed onto `out`; a failure the server reported is returned, `"done"` at [DONE];
 * `end` says how a body that ended without it ends. Exported for recorded fixtures in tests.
 */
export const protocol = (source: Sse.Source): Sse.Protocol<GenerateEvent> => {
  let finish: FinishReason | undefined
  return {
    event: (event, out) => {
      if (event.event === "error") return inStreamError(source, parseOr(event.data, event.data))
      const data = event.data.trim()
      if (data === "[DONE]") {
        out.push(GenerateEvent.Done({ finishReason: finish ?? "stop" }))
        return "done"
      }
      if (data === "") return undefined
      const chunk = parseOr(data, undefined)
      if (!isRecord(chunk)) return malformed(source, `an event that is not a JSON object: ${truncate(data)}`)
      if (chunk["error"] !== undefined && chunk["error"] !== null) return inStreamError(source, chunk)
      for (const choice of arrayOf(chunk["choices"])) {
        if (!isRecord(choice)) continue
        const delta = choice["delta"]
        const text = isRecord(delta) ? delta["content"] : undefined
        if (typeof text === "string" && text.length > 0) out.push(GenerateEvent.TextDelta({ text }))
        const reason = choice["finish_reason"]
        if (reason === "error") return inStreamError(source, chunk)
        if (typeof reason === "string") finish = finishReasonOf(reason)
      }
      const usage = usageOf(chunk["usage"])
      if (usage) out.push(GenerateEvent.Usage({ usage }))
      return undefined
    },
    /** The body ended before [DONE]: a Done when a choice gave its finish reason, else a cut. */
    end: () =>
      finish !== undefined
        ? [GenerateEvent.Done({ finishReason: finish })]
        : new BackendError({
          reason: "StreamCut",
          backend: source.backend,
          ...(source.model === undefined ? {} : { model: source.model }),
          message: `${source.backend} ended the answer without [DONE] or a finish reason`
        })
  }
}

const completionEvents = (source: Sse.Source, json: unknown): ReadonlyArray<GenerateEvent> | BackendError => {
  if (!isRecord(json)) return malformed(source, "a completion that is not a JSON object")
  if (json["error"] !== undefined && json["error"] !== null) return inStreamError(source, json)
  const choice = arrayOf(json["choices"])[0]
  if (!isRecord(choice)) return malformed(source, "a completion without choices")
  if (choice["finish_reason"] === "error") return inStreamError(source, json)
  const message = choice["message"]
  const text = isRecord(message) && typeof message["content"] === "string" ? message["content"] : ""
  const usage = usageOf(json["usage"])
  const reason = choice["finish_reason"]
  return [
    ...(text.length > 0 ? [GenerateEvent.TextDelta({ text })] : []),
    ...(usage ? [GenerateEvent.Usage({ usage })] : []),
    GenerateEvent.Done({ finishReason: typeof reason === "string" ? finishReasonOf(reason) : "stop" })
  ]
}

/** The model ids a server lists at `<base>/models`. */
export const models = (client: Client): Effect.Effect<ReadonlyArray<string>, BackendError> =>
  HttpCall.json({ backend: client.backend, url: `${client.baseUrl}/models`, ...(client.headers ? { headers: client.headers } : {}) }).pipe(
    Effect.flatMap((json) => {
      const ids = parseModels(json)
      return ids === undefined
        ? Effect.fail(malformed({ backend: client.backend }, `a model list without "data": ${truncate(JSON.stringify(json))}`))
        : Effect.succeed(ids)
    })
  )

/** `{"object":"list","data":[{"id":…}]}` -> ids; undefined when the shape is not a list. */
export const parseModels = (json: unknown): ReadonlyArray<string> | undefined => {
  if (!isRecord(json) || !Array.isArray(json["data"])) return undefined
  return json["data"].flatMap((m) => (isRecord(m) && typeof m["id"] === "string" ? [m["id"]] : []))
}

export const finishReasonOf = (reason: string): FinishReason =>
  reason === "stop" ? "stop" : reason === "length" ? "length" : "other"

const usageOf = (u: unknown): Usage | undefined => {
  if (!isRecord(u)) return undefined
  const input = u["prompt_tokens"]
  const output = u["completion_tokens"]
  if (typeof input !== "number" && typeof output !== "number") return undefined
  return {
    ...(typeof input === "number" ? { inputTokens: input } : {}),
    ...(typeof output === "number" ? { outputTokens: output } : {})
  }
}

/**
 * An error the server reported after the headers. OpenRouter carries the HTTP status it would
 * have sent as a numeric `code`; an overload there is still an overload.
 */
const inStreamError = (source: Speaker, value: unknown): BackendError => {
  const inner = isRecord(value) ? value["error"] : undefined
  const code = isRecord(inner) ? inner["code"] : isRecord(value) ? value["code"] : undefined
  const reason = typeof code === "number" && HttpCall.reasonOfStatus(code, false) === "Overloaded" ? "Overloaded" : "Upstream"
  const said = HttpCall.describeError(value) ?? (typeof value === "string" ? value : JSON.stringify(value))
  return new BackendError({
    reason,
    backend: source.backend,
    ...(source.model === undefined ? {} : { model: source.model }),
    message: scrubbed(source, `${source.backend} failed mid-answer: ${truncate(said)}`)
  })
}

const malformed = (source: Speaker, what: string) =>
  new BackendError({
    reason: "Upstream",
    backend: source.backend,
    ...(source.model === undefined ? {} : { model: source.model }),
    message: scrubbed(source, `${source.backend} sent ${what}`)
  })

/** Who is talking, and how to keep the call's secrets out of what a server echoes back. */
interface Speaker extends Sse.Source {
  readonly scrub?: (text: string) => string
}

const sourceOf = (call: HttpCall.Call): Speaker => ({
  backend: call.backend,
  model: call.model,
  scrub: (text) => HttpCall.scrub(call, text)
})

const scrubbed = (source: Speaker, text: string) => (source.scrub ? source.scrub(text) : text)

const parseOr = <A>(text: string, fallback: A): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    // The caller decides what unreadable data means; here it is just "not JSON".
    return fallback
  }
}

const truncate = (text: string) => (text.length > HttpCall.maxErrorText ? `${text.slice(0, HttpCall.maxErrorText)}…` : text)

const arrayOf = (u: unknown): ReadonlyArray<unknown> => (Array.isArray(u) ? u : [])

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null
