/**
 * Anthropic's Messages API, the one cloud wire that is not OpenAI-shaped: the system prompt
 * is a top-level field, images are base64 `source` blocks (no `data:` prefix), `max_tokens` is
 * required, and a stream is a sequence of named events ending with `message_stop`.
 *
 * Invariants (as for every backend): `Start` on response headers; exactly one `Done`, at
 * `message_stop`; a body that ends before `message_stop` is `StreamCut`; `event: error` after
 * the headers fails the stream (`overloaded_error` / `rate_limit_error` as Overloaded).
 * Thinking (`thinking_delta`) is not part of the answer and is not emitted, as for the
 * OpenAI-compatible backends.
 */
import { Backend, BackendError, type Events, HttpCall, Sse } from "@local-router/core"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"

export const DEFAULT_URL = "https://api.anthropic.com"
export const DEFAULT_VERSION = "2023-06-01"
export const DEFAULT_MAX_TOKENS = 4096

export interface Client {
  readonly backend: string
  /** Origin without `/v1`. */
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted<string>
  readonly version: string
  readonly defaultMaxTokens: number
}

const headersOf = (client: Client) => ({ "x-api-key": client.apiKey, "anthropic-version": client.version })

export const body = (client: Client, request: Backend.GenerateRequest): Record<string, unknown> => {
  const o = request.options ?? {}
  const system = request.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n")
  return {
    ...request.extra,
    model: request.model,
    max_tokens: o.maxTokens ?? client.defaultMaxTokens,
    ...(system.length > 0 ? { system } : {}),
    messages: request.messages.filter((m) => m.role !== "system").map(toWire),
    ...(o.temperature === undefined ? {} : { temperature: o.temperature }),
    ...(o.topP === undefined ? {} : { top_p: o.topP }),
    ...(o.stop === undefined || o.stop.length === 0 ? {} : { stop_sequences: [...o.stop] }),
    stream: true
  }
}

const toWire = (message: Backend.Message): Record<string, unknown> => {
  const images = message.images ?? []
  if (images.length === 0) return { role: message.role, content: message.content }
  return {
    role: message.role,
    // Images first: Anthropic answers best with the image before the question about it.
    content: [
      ...images.map((image) => ({
        type: "image",
        source: { type: "base64", media_type: image.mime, data: Buffer.from(image.data).toString("base64") }
      })),
      ...(message.content.length > 0 ? [{ type: "text", text: message.content }] : [])
    ]
  }
}

export const generate = (client: Client, request: Backend.GenerateRequest): Events.Events<Backend.GenerateEvent, BackendError.BackendError> => {
  const call: HttpCall.Call = {
    backend: client.backend,
    model: request.model,
    method: "POST",
    url: `${client.baseUrl}/v1/messages`,
    headers: { accept: "text/event-stream", ...headersOf(client) },
    body: body(client, request)
  }
  const source = { backend: client.backend, model: request.model }
  return HttpCall.events(call, () => Sse.reader(source, [Backend.GenerateEvent.Start({ model: request.model })], protocol(source)))
}

/** Messages API SSE events -> GenerateEvents (everything after Start), up to `message_stop`. */
export const protocol = (source: Sse.Source): Sse.Protocol<Backend.GenerateEvent> => {
  let inputTokens: number | undefined
  let outputTokens: number | undefined
  let finish: Backend.FinishReason = "stop"
  const fail = (reason: BackendError.Reason, message: string) =>
    new BackendError.BackendError({
      reason,
      backend: source.backend,
      ...(source.model === undefined ? {} : { model: source.model }),
      message
    })
  return {
    event: (event, out) => {
      let data: unknown
      try {
        data = JSON.parse(event.data)
      } catch {
        return fail("Upstream", `${source.backend} sent an event that is not JSON: ${event.data.slice(0, HttpCall.maxErrorText)}`)
      }
      if (!isRecord(data)) return fail("Upstream", `${source.backend} sent an event that is not a JSON object`)
      const type = typeof data["type"] === "string" ? data["type"] : event.event
      switch (type) {
        case "message_start": {
          const usage = isRecord(data["message"]) ? data["message"]["usage"] : undefined
          if (isRecord(usage) && typeof usage["input_tokens"] === "number") inputTokens = usage["input_tokens"]
          return undefined
        }
        case "content_block_delta": {
          const delta = data["delta"]
          if (isRecord(delta) && delta["type"] === "text_delta" && typeof delta["text"] === "string" && delta["text"].length > 0) {
            out.push(Backend.GenerateEvent.TextDelta({ text: delta["text"] }))
          }
          return undefined
        }
        case "message_delta": {
          const delta = data["delta"]
          if (isRecord(delta) && typeof delta["stop_reason"] === "string") finish = finishReasonOf(delta["stop_reason"])
          const usage = data["usage"]
          if (isRecord(usage) && typeof usage["output_tokens"] === "number") outputTokens = usage["output_tokens"]
          return undefined
        }
        case "message_stop": {
          const usage: Backend.Usage = {
            ...(inputTokens === undefined ? {} : { inputTokens }),
            ...(outputTokens === undefined ? {} : { outputTokens })
          }
          if (inputTokens !== undefined || outputTokens !== undefined) out.push(Backend.GenerateEvent.Usage({ usage }))
          out.push(Backend.GenerateEvent.Done({ finishReason: finish }))
          return "done"
        }
        case "error": {
          const inner = isRecord(data["error"]) ? data["error"] : {}
          const kind = typeof inner["type"] === "string" ? inner["type"] : "error"
          const said = HttpCall.describeError(data) ?? kind
          return fail(kind === "overloaded_error" || kind === "rate_limit_error" ? "Overloaded" : "Upstream", `${source.backend} failed mid-answer: ${said}`)
        }
        default:
          // ping, content_block_start/stop, and event types added after this was written.
          return undefined
      }
    },
    end: () => fail("StreamCut", `${source.backend} ended the answer without message_stop`)
  }
}

export const finishReasonOf = (reason: string): Backend.FinishReason =>
  reason === "end_turn" || reason === "stop_sequence" ? "stop" : reason === "max_tokens" ? "length" : "other"

export const models = (client: Client): Effect.Effect<ReadonlyArray<string>, BackendError.BackendError> =>
  HttpCall.json({ backend: client.backend, url: `${client.baseUrl}/v1/models?limit=1000`, headers: headersOf(client) }).pipe(
    Effect.flatMap((json) => {
      const data = isRecord(json) && Array.isArray(json["data"]) ? json["data"] : undefined
      if (data === undefined) {
        return Effect.fail(
          new BackendError.BackendError({ reason: "Upstream", backend: client.backend, message: `${client.backend} answered /v1/models without "data"` })
        )
      }
      return Effect.succeed(data.flatMap((m) => (isRecord(m) && typeof m["id"] === "string" ? [m["id"]] : [])))
    })
  )

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null
