import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { Backend, BackendError } from "../src/index.ts"
import { Events, OpenAiChat, Sse } from "../src/index.ts"

const source = { backend: "mlx", model: "m1" }
const client: OpenAiChat.Client = { backend: "mlx", baseUrl: "http://127.0.0.1:1/v1" }

/**
 * Wire text -> events through the reader HttpCall.events uses in production (`Sse.reader` with
 * the chat protocol), fed one byte at a time (the hardest chunking a server can produce).
 */
const decode = (wire: string): Effect.Effect<ReadonlyArray<Backend.GenerateEvent>, BackendError.BackendError> =>
  Effect.suspend(() => {
    const reader = Sse.reader<Backend.GenerateEvent>(source, [], OpenAiChat.protocol(source))
    const events: Array<Backend.GenerateEvent> = []
    for (const piece of [...Array.from(Buffer.from(wire), (b) => Buffer.of(b)), undefined]) {
      const read = reader.read(piece)
      events.push(...read.events)
      if (read.failure) return Effect.fail(read.failure)
      if (read.done) break
    }
    return Effect.succeed(events)
  })

const text = (events: ReadonlyArray<Backend.GenerateEvent>) =>
  events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")

// protocols.md §2.5: mlx_lm repeats the role on every delta, sends keepalive comments before
// the first token, and a usage chunk with empty choices before [DONE].
const mlxStream = `: keepalive 2048/9731

: keepalive 4096/9731

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m1","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"def"}}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m1","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":" add"}}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m1","choices":[{"index":0,"finish_reason":"length","delta":{"role":"assistant"}}]}

data: {"id":"chatcmpl-1","object":"chat.completion","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":14,"total_tokens":45}}

data: [DONE]

`

describe("OpenAiChat.protocol (an SSE answer read as HttpCall.events reads it)", () => {
  it.effect("mlx_lm: keepalives skipped, deltas, usage, then one Done with the finish reason", () =>
    Effect.map(decode(mlxStream), (events) => {
      expect(events.map((e) => e._tag)).toEqual(["TextDelta", "TextDelta", "Usage", "Done"])
      expect(text(events)).toBe("def add")
      expect(events[2]).toMatchObject({ usage: { inputTokens: 31, outputTokens: 14 } })
      expect(events[3]).toMatchObject({ finishReason: "length" })
    }))

  it.effect("OpenAI: an empty role chunk emits nothing, `usage: null` is ignored, CRLF framing works", () =>
    Effect.map(
      decode(
        [
          `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`,
          `data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}`,
          `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
          `data: [DONE]`,
          ""
        ].join("\r\n\r\n")
      ),
      (events) => expect(events.map((e) => e._tag)).toEqual(["TextDelta", "Done"])
    ))

  it.effect("a stream that ends after a finish reason but without [DONE] still ends with Done", () =>
    Effect.map(
      decode(`data: {"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n`),
      (events) => expect(events.map((e) => e._tag)).toEqual(["TextDelta", "Done"])
    ))

  it.effect("a stream that ends without [DONE] or a finish reason is StreamCut", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: {"choices":[{"delta":{"content":"half an ans"},"finish_reason":null}]}\n\n`))
      expect(error.reason).toBe("StreamCut")
      expect(error.backend).toBe("mlx")
    }))

  it.effect("`data: {\"error\": …}` after tokens fails with Upstream quoting the server", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"error":"[metal] out of memory"}\n\n`))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("[metal] out of memory")
    }))

  it.effect("OpenRouter: processing comments skipped; a numeric 429 error code mid-stream is Overloaded", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(
        `: OPENROUTER PROCESSING\n\ndata: {"error":{"code":429,"message":"Provider rate limited"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}\n\n`
      ))
      expect(error.reason).toBe("Overloaded")
      expect(error.message).toContain("Provider rate limited")
    }))

  it.effect("OpenRouter: finish_reason \"error\" is a failure, not an answer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: {"choices":[{"delta":{"content":"par"},"finish_reason":"error"}]}\n\ndata: [DONE]\n\n`))
      expect(error.reason).toBe("Upstream")
    }))

  it.effect("llama-server: its `error:` line fails the stream instead of an empty clean answer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`error: {"code":400,"message":"the request exceeds the available context size","type":"invalid_request_error"}\n\ndata: [DONE]\n\n`))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("exceeds the available context size")
    }))

  it.effect("data that is not JSON is Upstream", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(`data: <html>502 Bad Gateway</html>\n\n`))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("502 Bad Gateway")
    }))

  it.effect("inline <think> content passes through; separate reasoning fields are not emitted", () =>
    Effect.map(
      decode(
        [
          `data: {"choices":[{"delta":{"reasoning":"hmm, the user"}}]}`,
          `data: {"choices":[{"delta":{"reasoning_content":" wants"}}]}`,
          `data: {"choices":[{"delta":{"content":"<think>ok</think>"}}]}`,
          `data: {"choices":[{"delta":{"content":"42"},"finish_reason":"stop"}]}`,
          `data: [DONE]`,
          ""
        ].join("\n\n")
      ),
      (events) => expect(text(events)).toBe("<think>ok</think>42")
    ))

  it.effect("nothing after [DONE] is read", () =>
    Effect.map(
      decode(`data: {"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\ndata: {"error":"late"}\n\n`),
      (events) => expect(events.map((e) => e._tag)).toEqual(["TextDelta", "Done"])
    ))
})

describe("OpenAiChat.body", () => {
  const request: Backend.GenerateRequest = {
    model: "gpt-4o-mini",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "What is this?", images: [{ data: Uint8Array.of(1, 2, 3), mime: "image/png" }] }
    ],
    options: { temperature: 0.2, topP: 0.9, maxTokens: 64, stop: ["\n\n"], seed: 7 }
  }

  it("maps messages, images as data-URL image_url parts, and options to their wire names", () => {
    const body = Result.getOrThrow(OpenAiChat.body({ ...client, maxTokensField: "max_completion_tokens" }, request))
    expect(body).toEqual({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AQID" } }
          ]
        }
      ],
      temperature: 0.2,
      top_p: 0.9,
      max_completion_tokens: 64,
      stop: ["\n\n"],
      seed: 7,
      stream: true,
      stream_options: { include_usage: true }
    })
  })

  it("uses the client's default token limit when the request gives none, and can leave stream_options out", () => {
    const body = Result.getOrThrow(
      OpenAiChat.body({ ...client, defaultMaxTokens: 4096, streamUsage: false }, { model: "m", messages: [{ role: "user", content: "hi" }] })
    )
    expect(body["max_tokens"]).toBe(4096)
    expect(body).not.toHaveProperty("stream_options")
  })

  it("rejects out-of-range options before sending (mlx_lm would drop the connection)", () => {
    for (const options of [{ temperature: -1 }, { topP: 1.5 }, { maxTokens: 0 }, { maxTokens: 1.5 }, { seed: 0.5 }]) {
      const result = OpenAiChat.body(client, { model: "m", messages: [{ role: "user", content: "hi" }], options })
      expect(Result.isFailure(result) && result.failure.reason).toBe("BadRequest")
    }
  })

  it("extra fields from routing.yaml are passed through but never replace model, messages or stream", () => {
    const body = Result.getOrThrow(
      OpenAiChat.body(client, { model: "m", messages: [{ role: "user", content: "hi" }], extra: { provider: { sort: "price" }, model: "evil", stream: false } })
    )
    expect(body["provider"]).toEqual({ sort: "price" })
    expect(body["model"]).toBe("m")
    expect(body["stream"]).toBe(true)
  })
})

describe("OpenAiChat.parseModels", () => {
  it("reads ids from an OpenAI list and rejects other shapes", () => {
    expect(OpenAiChat.parseModels({ object: "list", data: [{ id: "a", object: "model" }, { id: "b" }] })).toEqual(["a", "b"])
    expect(OpenAiChat.parseModels({ models: [] })).toBeUndefined()
  })
})

describe("OpenAiChat.generate against a real local server", () => {
  /** A one-route server on an OS-assigned port that answers every chat request with `wire`. */
  const serving = (wire: string) =>
    Effect.acquireRelease(
      Effect.callback<import("node:http").Server>((resume) => {
        void import("node:http").then((http) => {
          const server = http.createServer((req, res) => {
            req.resume()
            req.on("end", () => {
              res.writeHead(200, { "content-type": "text/event-stream" })
              res.end(wire)
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        })
      }),
      (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
    )

  it.effect("a server that echoes the API key in an error after the first tokens has it scrubbed from the message", () =>
    Effect.gen(function*() {
      const key = "sk-test-KEY-THAT-MUST-NOT-LEAK-42"
      const server = yield* serving(
        `data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\ndata: {"error":{"message":"invalid key Bearer ${key} for this project"}}\n\n`
      )
      const port = (server.address() as { port: number }).port
      const local: OpenAiChat.Client = { backend: "mlx", baseUrl: `http://127.0.0.1:${port}/v1`, headers: { authorization: Redacted.make(`Bearer ${key}`) } }
      const events: Array<Backend.GenerateEvent> = []
      const error = yield* Events.stream(OpenAiChat.generate(local, { model: "m1", messages: [{ role: "user", content: "hi" }] })).pipe(
        Stream.runForEach((event) => Effect.sync(() => events.push(event))),
        Effect.flip
      )
      expect(text(events)).toBe("Hel")
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("[redacted]")
      expect(error.message).not.toContain(key)
    }))
})
