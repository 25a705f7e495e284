/**
 * The one OpenAI-compatible client: `POST <base>/chat/completions` with `stream: true`,
 * `POST <base>/embeddings` and `GET <base>/models`. mlx_lm.server, mlx_vlm.server, llama.cpp's
 * llama-server, vLLM, LM Studio, OpenAI and OpenRouter all speak it; their backends compose
 * this module and only add what is their own (addresses, headers, probes, `flavour`).
 *
 * Invariants:
 * - `Start` is emitted when the response headers arrive, before any body is read.
 * - The answer ends with exactly one `Done`: at `data: [DONE]`, or at the end of the body if
 *   a choice already said `finish_reason` (mlx_lm drops `[DONE]` in some configurations).
 *   A body that ends with neither is a `StreamCut`, even in the middle of a tool call.
 * - An error after the headers (`data: {"error": …}`, llama-server's `error:` line,
 *   OpenRouter's `finish_reason: "error"`) fails the stream; it never ends it cleanly.
 * - Requests are checked before they are sent: mlx_lm drops the connection without a status
 *   line on an out-of-range parameter (protocols.md §2.3), which would look like a dead server.
 *
 * Agent features (protocols.md Part 2 §B, §C, §D, §F):
 * - Tool calls stream as `tool_calls` deltas keyed by `index`: the first for a call carries its
 *   id and name, later ones fragments of the arguments' JSON text (OpenAI, llama-server), or a
 *   whole call arrives in one delta (mlx_lm, Ollama's /v1). Both become ToolCallStart, its
 *   ToolCallDeltas, and a ToolCallEnd when the next call starts or the answer finishes. Calls
 *   are numbered 0, 1, … in the order they began, whatever the server's own index.
 * - Reasoning streamed in `reasoning` (mlx_lm, vLLM, OpenRouter, Ollama /v1) or
 *   `reasoning_content` (llama-server, DeepSeek) is a ReasoningDelta, never answer text. A
 *   `<think>…</think>` block a model writes into its content is passed through unchanged (it is
 *   what the server answered as content).
 * - What the request asks beyond text is spelt the way the server reads it (`flavour`): OpenAI
 *   and OpenRouter take tool_choice objects and their own reasoning fields; local servers read
 *   tool_choice as a string only, so a named tool is sent as the only tool, `required`.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { randomBytes } from "node:crypto"
import type { EmbedRequest, EmbedResult, FinishReason, GenerateRequest, Usage } from "../Backend.ts"
import { GenerateEvent } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"
import * as Events from "../Events.ts"
import * as HttpCall from "./HttpCall.ts"
import { body, type Client } from "./OpenAiRequest.ts"
import * as Sse from "./Sse.ts"

/** The request half lives in OpenAiRequest.ts; callers keep writing `OpenAiChat.body`, `OpenAiChat.Client`. */
export { body, type Client, type Flavour } from "./OpenAiRequest.ts"

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
  const read: ReadOptions = { oneToolCall: request.parallelToolCalls === false }
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
          const whole = completionText(source, Buffer.concat(parts).toString("utf8"), read)
          return whole instanceof BackendError ? { events: [], failure: whole } : { events: whole, done: true }
        }
      }
    }
    return Sse.reader(source, events, protocol(source, read))
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
const completionText = (source: Speaker, text: string, options: ReadOptions): ReadonlyArray<GenerateEvent> | BackendError => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return malformed(source, "a JSON body that is not JSON")
  }
  return completionEvents(source, json, options)
}

/** How the answer is read, beyond its wire. */
export interface ReadOptions {
  /**
   * Keep only the first tool call: the request asked for one at most (`parallelToolCalls:
   * false`), and mlx_lm and Ollama have no switch for it (protocols.md Part 2 §F.8).
   */
  readonly oneToolCall?: boolean
}

/**
 * The chat protocol over SSE: one SSE event at a time, its GenerateEvents (everything after
 * Start) pushed onto `out`; a failure the server reported is returned, `"done"` at [DONE];
 * `end` says how a body that ended without it ends. Exported for recorded fixtures in tests.
 */
export const protocol = (source: Sse.Source, options: ReadOptions = {}): Sse.Protocol<GenerateEvent> => {
  let finish: FinishReason | undefined
  const calls = toolCalls(source, options)
  const done = (out: Array<GenerateEvent>) => {
    calls.end(out)
    out.push(GenerateEvent.Done({ finishReason: calls.finish(finish ?? "stop") }))
  }
  return {
    event: (event, out) => {
      if (event.event === "error") return inStreamError(source, parseOr(event.data, event.data))
      const data = event.data.trim()
      if (data === "[DONE]") {
        done(out)
        return "done"
      }
      if (data === "") return undefined
      const chunk = parseOr(data, undefined)
      if (!isRecord(chunk)) return malformed(source, `an event that is not a JSON object: ${truncate(data)}`)
      if (chunk["error"] !== undefined && chunk["error"] !== null) return inStreamError(source, chunk)
      for (const choice of arrayOf(chunk["choices"])) {
        if (!isRecord(choice)) continue
        const delta = choice["delta"]
        if (isRecord(delta)) {
          const reasoning = reasoningText(delta)
          if (reasoning !== undefined) out.push(GenerateEvent.ReasoningDelta({ text: reasoning }))
          const text = delta["content"]
          if (typeof text === "string" && text.length > 0) out.push(GenerateEvent.TextDelta({ text }))
          for (const call of arrayOf(delta["tool_calls"])) {
            const failed = calls.delta(call, out)
            if (failed !== undefined) return failed
          }
        }
        const reason = choice["finish_reason"]
        if (reason === "error") return inStreamError(source, chunk)
        if (typeof reason === "string") {
          finish = finishReasonOf(reason)
          calls.end(out)
        }
      }
      const usage = usageOf(chunk["usage"])
      if (usage) out.push(GenerateEvent.Usage({ usage }))
      return undefined
    },
    /** The body ended before [DONE]: a Done when a choice gave its finish reason, else a cut. */
    end: () => {
      if (finish === undefined) {
        return new BackendError({
          reason: "StreamCut",
          backend: source.backend,
          ...(source.model === undefined ? {} : { model: source.model }),
          message: `${source.backend} ended the answer without [DONE] or a finish reason${calls.open() ? ", in the middle of a tool call" : ""}`
        })
      }
      const out: Array<GenerateEvent> = []
      done(out)
      return out
    }
  }
}

/**
 * The reasoning text of a delta or message: `reasoning` (mlx_lm, vLLM, OpenRouter, Ollama /v1)
 * or `reasoning_content` (llama-server, DeepSeek). vLLM sent both, with the same text, while it
 * moved from one to the other, so only one is read.
 */
const reasoningText = (delta: Record<string, unknown>): string | undefined => {
  const reasoning = delta["reasoning"]
  if (typeof reasoning === "string") return reasoning.length > 0 ? reasoning : undefined
  const content = delta["reasoning_content"]
  return typeof content === "string" && content.length > 0 ? content : undefined
}

/** A tool call's id when the server sent none: `call_` and 24 random letters and digits. */
export const makeToolCallId = (): string => `call_${randomBytes(12).toString("hex")}`

/**
 * The tool calls of one answer, as they stream: the server's `index` (or, where a server sends
 * none, its id, or the position of a named call) is mapped to ours, 0, 1, … in the order the
 * calls began; a call is ended when the next one starts (servers send them one after another)
 * or when the answer finishes.
 */
const toolCalls = (source: Speaker, options: ReadOptions) => {
  const byKey = new Map<unknown, number>()
  let count = 0
  /** Our index of the call taking fragments now, if one is open. */
  let current: number | undefined
  const shown = (index: number) => !(options.oneToolCall === true && index > 0)
  const close = (out: Array<GenerateEvent>) => {
    if (current !== undefined && shown(current)) out.push(GenerateEvent.ToolCallEnd({ index: current }))
    current = undefined
  }
  return {
    /** One entry of `tool_calls`; a failure when it cannot be read. */
    delta: (call: unknown, out: Array<GenerateEvent>): BackendError | undefined => {
      if (!isRecord(call)) return malformed(source, `a tool call that is not an object: ${truncate(JSON.stringify(call))}`)
      const fn = isRecord(call["function"]) ? call["function"] : {}
      const name = typeof fn["name"] === "string" && fn["name"].length > 0 ? fn["name"] : undefined
      const id = typeof call["id"] === "string" && call["id"].length > 0 ? call["id"] : undefined
      const key = typeof call["index"] === "number" ? call["index"] : id !== undefined ? `id:${id}` : name !== undefined ? Symbol(name) : undefined
      const argumentsText = fn["arguments"]
      // A server may send the arguments as an object (not OpenAI's string): its JSON is the same call.
      const fragment = typeof argumentsText === "string" ? argumentsText : isRecord(argumentsText) ? JSON.stringify(argumentsText) : ""
      let index = key === undefined ? current : byKey.get(key)
      if (index === undefined) {
        if (key === undefined) return malformed(source, "tool-call arguments before any tool call began")
        if (name === undefined) return malformed(source, `a tool call without a name: ${truncate(JSON.stringify(call))}`)
        close(out)
        index = count++
        byKey.set(key, index)
        current = index
        if (shown(index)) out.push(GenerateEvent.ToolCallStart({ index, id: id ?? makeToolCallId(), name }))
      } else if (index !== current) {
        return malformed(source, `arguments for tool call ${index} after it ended (another call had begun)`)
      }
      if (fragment.length > 0 && shown(index)) out.push(GenerateEvent.ToolCallDelta({ index, arguments: fragment }))
      return undefined
    },
    end: close,
    open: () => current !== undefined,
    /**
     * A turn that made tool calls finished in them, whatever the server calls it: Ollama's /v1
     * says `stop`, old mlx_lm `tool_call`. Only a cut (`length`) says more.
     */
    finish: (reason: FinishReason): FinishReason => (count > 0 && reason === "stop" ? "tool_calls" : reason)
  }
}

const completionEvents = (source: Speaker, json: unknown, options: ReadOptions = {}): ReadonlyArray<GenerateEvent> | BackendError => {
  if (!isRecord(json)) return malformed(source, "a completion that is not a JSON object")
  if (json["error"] !== undefined && json["error"] !== null) return inStreamError(source, json)
  const choice = arrayOf(json["choices"])[0]
  if (!isRecord(choice)) return malformed(source, "a completion without choices")
  if (choice["finish_reason"] === "error") return inStreamError(source, json)
  const message = isRecord(choice["message"]) ? choice["message"] : {}
  const out: Array<GenerateEvent> = []
  const reasoning = reasoningText(message)
  if (reasoning !== undefined) out.push(GenerateEvent.ReasoningDelta({ text: reasoning }))
  const text = typeof message["content"] === "string" ? message["content"] : ""
  if (text.length > 0) out.push(GenerateEvent.TextDelta({ text }))
  // A whole message's calls carry no index (protocols.md Part 2 §F.3): each is its own call.
  const calls = toolCalls(source, options)
  for (const call of arrayOf(message["tool_calls"])) {
    const failed = calls.delta(isRecord(call) ? { ...call, index: undefined, id: call["id"] ?? makeToolCallId() } : call, out)
    if (failed !== undefined) return failed
  }
  calls.end(out)
  const usage = usageOf(json["usage"])
  if (usage) out.push(GenerateEvent.Usage({ usage }))
  const reason = choice["finish_reason"]
  out.push(GenerateEvent.Done({ finishReason: calls.finish(typeof reason === "string" ? finishReasonOf(reason) : "stop") }))
  return out
}

/**
 * `POST <base>/embeddings`: one vector per input, in input order. Floats are asked for
 * (`encoding_format: "float"`); a server that answers base64 anyway (little-endian float32, as
 * OpenAI, Ollama and llama-server encode it) is read too. `dimensions` is sent only when asked:
 * llama-server ignores it, so the length of what comes back is checked, not assumed.
 */
export const embed = (client: Client, request: EmbedRequest): Effect.Effect<EmbedResult, BackendError> => {
  const where = { backend: client.backend, model: request.model }
  if (request.input.length === 0) {
    return Effect.fail(new BackendError({ reason: "BadRequest", ...where, message: `${client.backend}: the embedding request has no input` }))
  }
  if (request.dimensions !== undefined && !(Number.isInteger(request.dimensions) && request.dimensions > 0)) {
    return Effect.fail(
      new BackendError({ reason: "BadRequest", ...where, message: `${client.backend}: dimensions must be a positive integer (got ${request.dimensions})` })
    )
  }
  const call: HttpCall.Call = {
    ...where,
    method: "POST",
    url: `${client.baseUrl}/embeddings`,
    ...(client.headers ? { headers: client.headers } : {}),
    body: {
      ...request.extra,
      model: request.model,
      input: [...request.input],
      encoding_format: "float",
      ...(request.dimensions === undefined ? {} : { dimensions: request.dimensions })
    }
  }
  const source = sourceOf(call)
  return Effect.flatMap(HttpCall.json(call), (json) => {
    const result = embeddingsOf(source, json, request)
    return result instanceof BackendError ? Effect.fail(result) : Effect.succeed(result)
  })
}

/** An embeddings response -> its vectors in input order, or what is wrong with it. */
export const embeddingsOf = (source: Speaker, json: unknown, request: EmbedRequest): EmbedResult | BackendError => {
  if (!isRecord(json)) return malformed(source, "an embeddings answer that is not a JSON object")
  if (json["error"] !== undefined && json["error"] !== null) return inStreamError(source, json)
  const data = json["data"]
  if (!Array.isArray(data)) return malformed(source, `an embeddings answer without "data": ${truncate(JSON.stringify(json))}`)
  const vectors: Array<ReadonlyArray<number> | undefined> = Array.from({ length: request.input.length }, () => undefined)
  for (const [position, item] of data.entries()) {
    if (!isRecord(item)) return malformed(source, `embedding ${position} that is not an object`)
    const index = typeof item["index"] === "number" ? item["index"] : position
    if (!Number.isInteger(index) || index < 0 || index >= vectors.length) {
      return malformed(source, `an embedding for input ${index}, but ${vectors.length} input(s) were sent`)
    }
    const vector = vectorOf(item["embedding"])
    if (vector === undefined) return malformed(source, `embedding ${index} that is neither a list of numbers nor base64`)
    vectors[index] = vector
  }
  const missing = vectors.findIndex((vector) => vector === undefined)
  if (missing >= 0) return malformed(source, `no embedding for input ${missing} (${data.length} for ${vectors.length} input(s))`)
  const usage = usageOf(json["usage"])
  return {
    model: typeof json["model"] === "string" && json["model"].length > 0 ? json["model"] : request.model,
    vectors: vectors as ReadonlyArray<ReadonlyArray<number>>,
    ...(usage === undefined ? {} : { usage })
  }
}

const vectorOf = (value: unknown): ReadonlyArray<number> | undefined => {
  if (Array.isArray(value)) return value.every((x) => typeof x === "number" && Number.isFinite(x)) ? (value as ReadonlyArray<number>) : undefined
  if (typeof value !== "string") return undefined
  const bytes = Buffer.from(value, "base64")
  if (bytes.length % 4 !== 0) return undefined
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4))
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

/** mlx_lm before 2026-01 said `tool_call`; `function_call` is OpenAI's deprecated spelling. */
export const finishReasonOf = (reason: string): FinishReason =>
  reason === "stop"
    ? "stop"
    : reason === "length"
    ? "length"
    : reason === "tool_calls" || reason === "tool_call" || reason === "function_call"
    ? "tool_calls"
    : "other"

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
