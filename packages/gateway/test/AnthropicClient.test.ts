/**
 * The official `@anthropic-ai/sdk` client, unchanged, pointed at the gateway over scripted
 * backends: messages, streaming through MessageStream, tools with a tool_result turn, thinking,
 * images, count_tokens, the token as x-api-key, and the errors the SDK raises.
 *
 * The backends here declare tools and reasoning (TestGateway's do not), and `plain` declares
 * neither, for the capability skip.
 */
import Anthropic from "@anthropic-ai/sdk"
import { type Backend, Router, RoutingConfig } from "@local-router/core"
import { ScriptedBackend } from "@local-router/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { afterEach, describe, expect, it } from "vitest"
import { Gateway } from "../src/index.ts"

const yaml = `backends:
  mlx: { type: scripted }
  ollama: { type: scripted }
  plain: { type: scripted }
defaults:
  timeouts: { connect: 2s, firstToken: 2s, idle: 2s, total: 20s }
  breaker: { failures: 100, cooldown: 30s }
priorities:
  text: [mlx, ollama, plain]
  image: [mlx]
categories:
  fast:
    input: text
    models: { mlx: m-mlx, ollama: "qwen3:8b" }
  small:
    input: text
    models: { plain: "tinyllama:1.1b-chat" }
  vision:
    input: image
    models: { mlx: m-vl }
`

type Name = "mlx" | "ollama" | "plain"
const agent: Partial<Backend.Capabilities> = { text: true, images: true, tools: true, reasoning: true, jsonSchema: true }

interface Running {
  readonly url: string
  readonly scripted: Record<Name, ScriptedBackend.Scripted>
  readonly close: () => Promise<void>
}

const start = async (scripts: Partial<Record<Name, ReadonlyArray<ScriptedBackend.Script>>> = {}, settings: Gateway.Settings = {}): Promise<Running> => {
  const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))
  const scripted = Object.fromEntries((["mlx", "ollama", "plain"] as const).map((name) => [
    name,
    ScriptedBackend.make({ name, script: scripts[name] ?? [{}], capabilities: name === "plain" ? { text: true } : agent })
  ])) as Record<Name, ScriptedBackend.Scripted>
  const snapshot: Router.Snapshot = {
    version: 1,
    config,
    backends: new Map(Object.entries(scripted).map(([name, s]) => [name, Router.Slot.Ready({ backend: s.backend, timeouts: {} })]))
  }
  const scope = Effect.runSync(Scope.make())
  const gateway = await Effect.runPromise(Effect.gen(function*() {
    const router = yield* Router.make(Effect.succeed(snapshot))
    return yield* Gateway.make({ port: 0, ...settings, router, routing: { snapshot: Effect.succeed(snapshot) } })
  }).pipe(Scope.provide(scope)))
  return { url: gateway.url, scripted, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

let running: Running | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
})

const client = (r: Running, apiKey = "unused") => new Anthropic({ baseURL: r.url, apiKey, maxRetries: 0 })

const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

const weather = {
  name: "get_weather",
  description: "Weather for a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] }
}

describe("@anthropic-ai/sdk -> gateway", () => {
  it("messages: a category as the model, the answer as a message, who answered in the headers", async () => {
    running = await start()
    const { data, response } = await client(running).messages
      .create({ model: "fast", max_tokens: 64, system: "be brief", messages: [{ role: "user", content: "hi" }] })
      .withResponse()
    expect(data).toMatchObject({
      type: "message",
      role: "assistant",
      model: "fast",
      content: [{ type: "text", text: "Hello, world" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 3 }
    })
    expect(data.id).toMatch(/^msg_/)
    expect(response.headers.get("x-local-router-backend")).toBe("mlx")
    expect(running.scripted.mlx.requests[0]!.messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "hi" }
    ])
    expect(running.scripted.mlx.requests[0]!.options).toEqual({ maxTokens: 64 })
  })

  it("backend/model pins one backend", async () => {
    running = await start()
    const { data, response } = await client(running).messages
      .create({ model: "ollama/qwen3:8b", max_tokens: 16, messages: [{ role: "user", content: "hi" }] })
      .withResponse()
    expect(data.model).toBe("ollama/qwen3:8b")
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    expect(running.scripted.ollama.requests[0]!.model).toBe("qwen3:8b")
    expect(running.scripted.mlx.requests).toHaveLength(0)
  })

  // This SDK's types no longer have temperature/top_p (AnthropicWire checks them on the wire).
  it("options reach the backend: max_tokens, stop_sequences; system as text blocks", async () => {
    running = await start()
    await client(running).messages.create({
      model: "fast",
      max_tokens: 7,
      stop_sequences: ["END"],
      system: [{ type: "text", text: "one" }, { type: "text", text: "two" }],
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }]
    })
    const request = running.scripted.mlx.requests[0]!
    expect(request.options).toEqual({ maxTokens: 7, stop: ["END"] })
    expect(request.messages[0]).toEqual({ role: "system", content: "one\ntwo" })
  })

  it("streaming: MessageStream assembles the text; the final message has the stop reason and usage", async () => {
    running = await start({ mlx: [{ tokens: ["Hel", "lo"] }] })
    const stream = client(running).messages.stream({ model: "fast", max_tokens: 64, messages: [{ role: "user", content: "hi" }] })
    const texts: Array<string> = []
    stream.on("text", (text) => texts.push(text))
    const final = await stream.finalMessage()
    expect(texts).toEqual(["Hel", "lo"])
    expect(final.content).toEqual([{ type: "text", text: "Hello" }])
    expect(final.stop_reason).toBe("end_turn")
    expect(final.usage.output_tokens).toBe(2)
    expect(final.usage.input_tokens).toBe(3)
  })

  it("streaming: a failure before the first token falls back invisibly", async () => {
    running = await start({ mlx: [{ end: "cut", tokens: [] }] })
    const final = await client(running).messages.stream({ model: "fast", max_tokens: 64, messages: [{ role: "user", content: "hi" }] }).finalMessage()
    expect(final.content).toMatchObject([{ type: "text", text: "Hello, world" }])
  })

  it("streaming: a failure after the first token is an APIError the SDK throws, never a clean end", async () => {
    running = await start({ mlx: [{ tokens: ["partial"], end: "cut" }] })
    const stream = client(running).messages.stream({ model: "fast", max_tokens: 64, messages: [{ role: "user", content: "hi" }] })
    const texts: Array<string> = []
    stream.on("text", (text) => texts.push(text))
    const error = await stream.finalMessage().then(() => undefined, (e: unknown) => e)
    expect(texts).toEqual(["partial"])
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect((error as InstanceType<typeof Anthropic.APIError>).message).toMatch(/mlx failed after the answer had started \(StreamCut\)/)
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: "error", error: { type: "api_error" } })
  })

  it("streaming: a caller that aborts the MessageStream cuts the upstream request", async () => {
    running = await start({ mlx: [{ tokens: ["one"], end: "hang" }] })
    const stream = client(running).messages.stream({ model: "fast", max_tokens: 64, messages: [{ role: "user", content: "hi" }] })
    const ended = stream.done().then(() => undefined, (e: unknown) => e)
    await new Promise<void>((resolve) => stream.on("text", () => resolve()))
    stream.abort()
    expect(await ended).toBeInstanceOf(Anthropic.APIUserAbortError)
    const r = running
    const t0 = performance.now()
    while (r.scripted.mlx.abandoned() !== 1) {
      if (performance.now() - t0 > 2000) throw new Error("the backend's stream was not abandoned within 2 s")
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    expect(performance.now() - t0).toBeLessThan(500)
  })

  it("tools: a tool_use block with its input as an object, stop_reason tool_use; the tool_result turn reaches the backend tied to its call", async () => {
    running = await start({
      mlx: [
        { toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }] },
        { tokens: ["18C in Paris"] }
      ]
    })
    const anthropic = client(running)
    const first = await anthropic.messages.create({
      model: "fast",
      max_tokens: 256,
      tools: [weather],
      tool_choice: { type: "auto" },
      messages: [{ role: "user", content: "weather in Paris?" }]
    })
    expect(first.stop_reason).toBe("tool_use")
    expect(first.content).toEqual([{ type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } }])
    const sent = running.scripted.mlx.requests[0]!
    expect(sent.tools).toEqual([{ name: "get_weather", description: "Weather for a city", parameters: weather.input_schema }])
    expect(sent.toolChoice).toEqual({ _tag: "Auto" })

    const second = await anthropic.messages.create({
      model: "fast",
      max_tokens: 256,
      tools: [weather],
      messages: [
        { role: "user", content: "weather in Paris?" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "18C sunny" }, { type: "text", text: "thanks" }] }
      ]
    })
    expect(second.content).toMatchObject([{ type: "text", text: "18C in Paris" }])
    expect(second.stop_reason).toBe("end_turn")
    expect(running.scripted.mlx.requests[1]!.messages).toEqual([
      { role: "user", content: "weather in Paris?" },
      { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }] },
      { role: "tool", content: "18C sunny", toolCallId: "call_1", toolName: "get_weather" },
      { role: "user", content: "thanks" }
    ])
  })

  it("tools streamed: a tool_use block assembled from input_json_delta fragments; tool_choice any/tool and disable_parallel_tool_use reach the backend", async () => {
    running = await start({ mlx: [{ toolCalls: [{ id: "call_9", name: "get_weather", arguments: ["{\"ci", "ty\":", "\"Oslo\"}"] }] }] })
    const stream = client(running).messages.stream({
      model: "fast",
      max_tokens: 256,
      tools: [weather],
      tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
      messages: [{ role: "user", content: "weather in Oslo?" }]
    })
    const fragments: Array<string> = []
    stream.on("inputJson", (partial) => fragments.push(partial))
    const final = await stream.finalMessage()
    expect(fragments).toEqual(["{\"ci", "ty\":", "\"Oslo\"}"])
    expect(final.content).toEqual([{ type: "tool_use", id: "call_9", name: "get_weather", input: { city: "Oslo" } }])
    expect(final.stop_reason).toBe("tool_use")
    expect(running.scripted.mlx.requests[0]!.toolChoice).toEqual({ _tag: "Named", name: "get_weather" })
    expect(running.scripted.mlx.requests[0]!.parallelToolCalls).toBe(false)
  })

  it("thinking: budget_tokens becomes reasoning with an effort; the answer has a signed thinking block before the text, streamed and not", async () => {
    running = await start({ mlx: [{ reasoning: ["let me ", "think"], tokens: ["42"] }] })
    const anthropic = client(running)
    const whole = await anthropic.messages.create({
      model: "fast",
      max_tokens: 8192,
      thinking: { type: "enabled", budget_tokens: 2048 },
      messages: [{ role: "user", content: "6*7?" }]
    })
    expect(running.scripted.mlx.requests[0]!.reasoning).toEqual({ _tag: "On", effort: "low" })
    expect(whole.content).toMatchObject([{ type: "thinking", thinking: "let me think" }, { type: "text", text: "42" }])
    expect((whole.content[0] as { signature: string }).signature).not.toBe("")

    const stream = anthropic.messages.stream({
      model: "fast",
      max_tokens: 8192,
      thinking: { type: "disabled" },
      messages: [{ role: "user", content: "6*7?" }, { role: "assistant", content: whole.content }, { role: "user", content: "again" }]
    })
    const thoughts: Array<string> = []
    stream.on("thinking", (delta) => thoughts.push(delta))
    const final = await stream.finalMessage()
    expect(thoughts).toEqual(["let me ", "think"])
    expect(final.content).toMatchObject([{ type: "thinking", thinking: "let me think" }, { type: "text", text: "42" }])
    expect((final.content[0] as { signature: string }).signature).not.toBe("")
    const second = running.scripted.mlx.requests[1]!
    expect(second.reasoning).toEqual({ _tag: "Off" })
    // The thinking sent back is the assistant's reasoning; its signature is not checked.
    expect(second.messages[1]).toEqual({ role: "assistant", content: "42", reasoning: "let me think" })
  })

  it("structured output: output_config.format reaches the backend; an answer that does not match falls back whole, and fails a stream at its end", async () => {
    const schema = { type: "object", properties: { a: { type: "number" } }, required: ["a"], additionalProperties: false }
    running = await start({ mlx: [{ tokens: ["not json"] }, { tokens: ["{\"a\":", "1}"] }, { tokens: ["{\"b\":", "2}"] }], ollama: [{ tokens: ["{\"a\":2}"] }] })
    const anthropic = client(running)
    const params = { model: "fast", max_tokens: 64, output_config: { format: { type: "json_schema" as const, schema } }, messages: [{ role: "user" as const, content: "json please" }] }
    const { data, response } = await anthropic.messages.create(params).withResponse()
    expect(running.scripted.mlx.requests[0]!.responseFormat).toEqual({ _tag: "JsonSchema", name: "output", schema, strict: true })
    expect(data.content).toEqual([{ type: "text", text: "{\"a\":2}" }])
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    const good = await anthropic.messages.stream(params).finalMessage()
    expect(good.content).toEqual([{ type: "text", text: "{\"a\":1}" }])
    const error = await anthropic.messages.stream(params).finalMessage().then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect((error as Error).message).toMatch(/schema/i)
  })

  it("thinking: adaptive (what Claude Code sends) works on a category of plain models; enabled there is a 400 saying why", async () => {
    running = await start()
    const anthropic = client(running)
    const adaptive = await anthropic.messages.create({ model: "small", max_tokens: 64, thinking: { type: "adaptive" }, messages: [{ role: "user", content: "hi" }] })
    expect(adaptive.content).toEqual([{ type: "text", text: "Hello, world" }])
    expect(running.scripted.plain.requests[0]!.reasoning).toBeUndefined()
    const error = await anthropic.messages
      .create({ model: "small", max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "hi" }] })
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    expect(((error as InstanceType<typeof Anthropic.APIError>).error as { error: { message: string } }).error.message).toMatch(/no reasoning support/)
  })

  it("images: base64 image blocks reach the backend as bytes in their order; a url source is a BadRequestError", async () => {
    running = await start()
    const anthropic = client(running)
    await anthropic.messages.create({
      model: "vision",
      max_tokens: 64,
      messages: [{
        role: "user",
        content: [
          { type: "text", text: "what is" },
          { type: "image", source: { type: "base64", media_type: "image/png", data: png.toString("base64") } },
          { type: "text", text: "this?" }
        ]
      }]
    })
    const sent = running.scripted.mlx.requests[0]!.messages[0]!
    expect(sent.content).toBe("what is\nthis?")
    expect(sent.images).toHaveLength(1)
    expect(Buffer.from(sent.images![0]!.data)).toEqual(png)
    expect(sent.images![0]!.mime).toBe("image/png")
    expect(sent.parts!.map((p) => p._tag)).toEqual(["Text", "Image", "Text"])

    const error = await anthropic.messages.create({
      model: "vision",
      max_tokens: 64,
      messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "https://example.com/cat.png" } }] }]
    }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    expect((error as Error).message).toMatch(/messages\.0\.content\.0\.source: image URLs are not fetched/)
  })

  it("errors: an unknown model is a NotFoundError listing the categories", async () => {
    running = await start()
    const error = await client(running).messages.create({ model: "nope", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.NotFoundError)
    expect((error as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ type: "error", error: { type: "not_found_error" } })
    expect(((error as InstanceType<typeof Anthropic.NotFoundError>).error as { error: { message: string } }).error.message)
      .toMatch(/^model "nope" not found: use a category \(fast, small, vision, /)
    expect((error as InstanceType<typeof Anthropic.NotFoundError>).requestID).toMatch(/^req_/)
  })

  it("errors: every backend failing is a 500 api_error the SDK does not retry", async () => {
    running = await start({ mlx: [{ fail: "Upstream" }], ollama: [{ fail: "Upstream" }] })
    const error = await new Anthropic({ baseURL: running.url, apiKey: "unused", maxRetries: 2 }).messages
      .create({ model: "fast", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.InternalServerError)
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(500)
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: "api_error" } })
    // One pass over the chain: x-should-retry: false kept the SDK from running it twice more.
    expect(running.scripted.mlx.requests).toHaveLength(1)
  })

  it("tools: a request needing tools falls back past a dead server; the answer says who made the call", async () => {
    running = await start({ mlx: [{ fail: "Unreachable" }], ollama: [{ toolCalls: [{ id: "call_2", name: "get_weather", arguments: "{\"city\":\"Rome\"}" }] }] })
    const { data, response } = await client(running).messages
      .create({ model: "fast", max_tokens: 256, tools: [weather], messages: [{ role: "user", content: "weather in Rome?" }] })
      .withResponse()
    expect(data.content).toEqual([{ type: "tool_use", id: "call_2", name: "get_weather", input: { city: "Rome" } }])
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    expect(response.headers.get("x-local-router-attempts")).toBe("2")
  })

  it("errors: tools against a category whose only model lacks them is a 400 that says why each candidate was skipped", async () => {
    running = await start()
    const error = await client(running).messages
      .create({ model: "small", max_tokens: 64, tools: [weather], messages: [{ role: "user", content: "weather?" }] })
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
    expect((error as Error).message).toMatch(/plain skipped \(tinyllama:1\.1b-chat: no tool support\)/)
    expect(running.scripted.plain.requests).toHaveLength(0)
  })

  it("errors: a missing max_tokens is a BadRequestError naming the field", async () => {
    running = await start()
    const error = await client(running).messages
      .create({ model: "fast", messages: [{ role: "user", content: "hi" }] } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    expect((error as Error).message).toMatch(/max_tokens: Field required/)
  })

  it("count_tokens: an estimate, marked as one", async () => {
    running = await start()
    const { data, response } = await client(running).messages
      .countTokens({ model: "fast", system: "abcd", messages: [{ role: "user", content: "efghijkl" }] })
      .withResponse()
    expect(data).toEqual({ input_tokens: 3 })
    expect(response.headers.get("x-local-router-estimate")).toBe("chars/4; images w*h/750")
    expect(running.scripted.mlx.requests).toHaveLength(0)
  })

  it("models: the SDK lists categories then pinned names in Anthropic's shape, retrieves one, and gets a NotFoundError for an unknown one; OpenAI clients keep theirs", async () => {
    running = await start()
    const anthropic = client(running)
    const ids: Array<string> = []
    for await (const model of anthropic.models.list()) ids.push(model.id)
    expect(ids).toEqual(["fast", "small", "vision", "mlx/m-mlx", "ollama/qwen3:8b", "plain/tinyllama:1.1b-chat", "mlx/m-vl"])
    const fast = await anthropic.models.retrieve("fast")
    expect(fast).toMatchObject({ type: "model", id: "fast", capabilities: null })
    expect(new Date(fast.created_at).getTime()).not.toBeNaN()
    expect((fast as unknown as { local_router: { capabilities: { tools: boolean } } }).local_router.capabilities.tools).toBe(true)
    const small = await anthropic.models.retrieve("small")
    expect((small as unknown as { local_router: { capabilities: { tools: boolean } } }).local_router.capabilities.tools).toBe(false)
    const error = await anthropic.models.retrieve("nope").then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.NotFoundError)
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: "error", error: { type: "not_found_error" } })
    const openai = (await (await fetch(`${running.url}/v1/models`)).json()) as { object: string; data: Array<{ object: string }> }
    expect(openai.object).toBe("list")
    expect(openai.data[0]!.object).toBe("model")
  })

  it("a configured token is accepted as x-api-key (Claude Code's ANTHROPIC_API_KEY); a wrong one is an AuthenticationError", async () => {
    running = await start({}, { token: Redacted.make("s3cret") })
    const ok = await client(running, "s3cret").messages.create({ model: "fast", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
    expect(ok.content).toMatchObject([{ type: "text", text: "Hello, world" }])
    const bearer = new Anthropic({ baseURL: running.url, apiKey: null, authToken: "s3cret", maxRetries: 0 })
    expect((await bearer.messages.create({ model: "fast", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })).type).toBe("message")
    const error = await client(running, "wrong").messages.create({ model: "fast", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError)
    expect((error as Error).message).not.toMatch(/s3cret/)
  })
})
