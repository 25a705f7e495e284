/**
 * A real llama-server's answers (llama.cpp c392e50, 2025-02-20, with a tiny random-weight
 * model: gibberish text, the real protocol), recorded byte for byte by
 * fixtures/llama-server/record.ts, replayed from a socket through core's OpenAI-compatible
 * client on its production path: HttpCall over node:http, chunked framing, SSE, chat decoding.
 * The same seed gave the same text streamed and whole, so each answer is checked against the
 * other recording as well as against what the server said.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import type { Backend } from "../src/index.ts"
import { Events, OpenAiChat } from "../src/index.ts"

const fixtures = path.join(import.meta.dirname, "fixtures", "llama-server")
const recorded = (name: string): Buffer => fs.readFileSync(path.join(fixtures, `${name}.http`))

/**
 * A server that answers the next request with the recorded bytes of `name` and closes (each
 * recording was made with `Connection: close`); what the client sent is kept for the test.
 */
const replay = (name: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly client: OpenAiChat.Client; readonly sent: () => string; readonly server: net.Server }>((resolve) => {
        let sent = ""
        const server = net.createServer((socket) => {
          socket.setEncoding("latin1")
          socket.on("data", (text: string) => {
            sent += text
            const end = sent.indexOf("\r\n\r\n")
            const length = Number(/\r\ncontent-length: *(\d+)/i.exec(sent)?.[1] ?? 0)
            if (end >= 0 && sent.length >= end + 4 + length) socket.end(recorded(name))
          })
          socket.on("error", () => socket.destroy())
        })
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as net.AddressInfo
          resolve({ client: { backend: "llamacpp", baseUrl: `http://127.0.0.1:${port}/v1` }, sent: () => sent, server })
        })
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((done) => server.close(() => done())))
  )

const user = { role: "user", content: "What is the weather in Paris?" } as const
const ask = (client: OpenAiChat.Client, request: Partial<Backend.GenerateRequest> = {}) =>
  Stream.runCollect(Events.toStream(() => OpenAiChat.generate(client, { model: "tiny-llama", messages: [user], ...request })))

const text = (events: ReadonlyArray<Backend.GenerateEvent>) => events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")
const tags = (events: ReadonlyArray<Backend.GenerateEvent>) => [...new Set(events.map((e) => e._tag))]
const done = (events: ReadonlyArray<Backend.GenerateEvent>) => events.filter((e) => e._tag === "Done")

/** The text both recordings of the seeded chat hold (the whole answer's `message.content`). */
const seededText = JSON.parse(recorded("chat-whole").toString("utf8").split("\r\n\r\n")[1]!).choices[0].message.content as string

describe("a real llama-server's recorded answers, replayed through OpenAiChat", () => {
  it.live("GET /v1/models: the model's alias", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client } = yield* replay("models")
      expect(yield* OpenAiChat.models(client)).toEqual(["tiny-llama"])
    })))

  it.live("a streamed answer (chunked SSE, no role-only first chunk, usage on the finish chunk, [DONE]): its text, usage and finish", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client, sent } = yield* replay("chat-stream")
      const events = yield* ask(client, { options: { maxTokens: 12 } })
      expect(sent()).toMatch(/^POST \/v1\/chat\/completions HTTP\/1\.1\r\n/)
      expect(events[0]).toMatchObject({ _tag: "Start" })
      expect(text(events)).toBe(seededText)
      expect(text(events)).toBe("intendo ora perlREcling Hy\\{\\Notification evolution bomb obliged Oak")
      expect(events.filter((e) => e._tag === "Usage")).toMatchObject([{ usage: { inputTokens: 35, outputTokens: 12 } }])
      expect(done(events)).toMatchObject([{ finishReason: "length" }])
      expect(events.at(-1)?._tag).toBe("Done")
    })))

  it.live("a whole JSON completion where a stream was asked for: the same text and finish, read as one answer", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client } = yield* replay("chat-whole")
      const events = yield* ask(client, { options: { maxTokens: 12 } })
      expect(text(events)).toBe(seededText)
      expect(done(events)).toMatchObject([{ finishReason: "length" }])
    })))

  it.live("JSON output (json_object with a schema, llama-server's grammar): streamed text that parses and fits", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client } = yield* replay("json-schema-stream")
      const events = yield* ask(client)
      const answer = JSON.parse(text(events)) as { city: unknown }
      expect(typeof answer.city).toBe("string")
      expect(done(events)).toMatchObject([{ finishReason: "stop" }])
    })))

  it.live("a whole tool call with an empty id: the call gets an id of ours, its name and arguments as sent, finish tool_calls", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client } = yield* replay("tools-whole")
      const events = yield* ask(client)
      expect(tags(events)).toEqual(["Start", "ToolCallStart", "ToolCallDelta", "ToolCallEnd", "Usage", "Done"])
      const start = events.find((e) => e._tag === "ToolCallStart")
      expect(start).toMatchObject({ index: 0, name: "get_weather" })
      expect((start as { id: string }).id).toMatch(/^call_[0-9a-f]{24}$/)
      expect(events.filter((e) => e._tag === "ToolCallDelta").map((e) => (e as { arguments: string }).arguments).join("")).toBe(`{"city":"*format Your"}`)
      expect(done(events)).toMatchObject([{ finishReason: "tool_calls" }])
    })))

  it.live("embeddings (an --embeddings --pooling mean server): one vector per input, all of the model's width", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client, sent } = yield* replay("embeddings")
      const result = yield* OpenAiChat.embed(client, { model: "tiny-embed", input: ["the first text", "a second one"] })
      expect(sent()).toMatch(/^POST \/v1\/embeddings HTTP\/1\.1\r\n/)
      expect(result.model).toBe("tiny-embed")
      expect(result.vectors.map((v) => v.length)).toEqual([64, 64])
      expect(result.vectors.flat().every(Number.isFinite)).toBe(true)
      expect(result.vectors[0]!.slice(0, 2)).toEqual([0.246800035238266, 0.1966155469417572])
    })))

  // llama-server says "this request cannot be served here" with 5xx statuses; each is a failed
  // attempt the router falls back from, with the server's own words in the trace.
  for (
    const [name, status, words] of [
      ["tools-stream", 500, "Cannot use tools with stream"],
      ["bad-json", 500, "[json.exception.parse_error.101] parse error"],
      ["embeddings-server-chat", 501, "This server does not support completions. Start it without `--embeddings`"]
    ] as const
  ) {
    it.live(`${name}: HTTP ${status} is an Upstream failure that carries the server's message`, () =>
      Effect.scoped(Effect.gen(function*() {
        const { client } = yield* replay(name)
        const error = yield* Effect.flip(ask(client))
        expect(error).toMatchObject({ _tag: "BackendError", reason: "Upstream", status, backend: "llamacpp" })
        expect(error.message).toContain(words)
      })))
  }
})
