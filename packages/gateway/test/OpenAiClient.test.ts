/**
 * The official `openai` npm client, unchanged, pointed at the gateway: chat, streaming,
 * images, model listing, and the errors it raises.
 */
import OpenAI from "openai"
import { afterEach, describe, expect, it } from "vitest"
import { eventually, type Running, start } from "./TestGateway.ts"

let running: Running | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
})

const client = (r: Running) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: "unused", maxRetries: 0 })

const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex")

describe("openai client -> gateway", () => {
  it("chat: a category as the model, the answer and who answered", async () => {
    running = await start()
    const { data, response } = await client(running).chat.completions
      .create({ model: "fast", messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }] })
      .withResponse()
    expect(data.object).toBe("chat.completion")
    expect(data.model).toBe("fast")
    expect(data.choices[0]!.message).toMatchObject({ role: "assistant", content: "Hello, world" })
    expect(data.choices[0]!.finish_reason).toBe("stop")
    expect(data.usage).toEqual({ prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 })
    expect(response.headers.get("x-local-router-backend")).toBe("mlx")
    expect(response.headers.get("x-local-router-model")).toBe("m-mlx")
    expect(response.headers.get("x-local-router-attempts")).toBe("1")
    // The router's trace rides along (what `local-router ask` prints when it goes through serve).
    expect((data as unknown as { local_router: { trace: unknown } }).local_router.trace).toMatchObject({
      category: "fast",
      backend: "mlx",
      attempts: [{ backend: "mlx", outcome: "answered" }]
    })
    expect(response.headers.get("server-timing")).toMatch(/^gateway;dur=\d+\.\d{3};desc="local-router", router;dur=/)
    expect(running.scripted.mlx.requests[0]!.messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "hi" }
    ])
  })

  it("options reach the backend: max_tokens, temperature, top_p, stop, seed", async () => {
    running = await start()
    await client(running).chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
      max_completion_tokens: 7,
      temperature: 0.2,
      top_p: 0.9,
      stop: "END",
      seed: 42
    })
    expect(running.scripted.mlx.requests[0]!.options).toEqual({ maxTokens: 7, temperature: 0.2, topP: 0.9, stop: ["END"], seed: 42 })
  })

  it("falls back invisibly: the answer comes from the next backend and the headers say so", async () => {
    running = await start({ mlx: [{ fail: "Unreachable" }] })
    const { data, response } = await client(running).chat.completions
      .create({ model: "fast", messages: [{ role: "user", content: "hi" }] })
      .withResponse()
    expect(data.choices[0]!.message.content).toBe("Hello, world")
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    expect(response.headers.get("x-local-router-model")).toBe("phi3.5:3.8b")
    expect(response.headers.get("x-local-router-attempts")).toBe("2")
  })

  it("backend/model pins one backend", async () => {
    running = await start()
    const { response } = await client(running).chat.completions
      .create({ model: "cloud/gpt-4o", messages: [{ role: "user", content: "hi" }] })
      .withResponse()
    expect(response.headers.get("x-local-router-backend")).toBe("cloud")
    expect(running.scripted.cloud.requests[0]!.model).toBe("gpt-4o")
    expect(running.scripted.mlx.requests).toHaveLength(0)
  })

  it("streaming: SSE chunks in OpenAI's order, ending with usage and [DONE]", async () => {
    running = await start({ mlx: [{ tokens: ["A", " b", " c"] }] })
    const { data: stream, response } = await client(running).chat.completions
      .create({ model: "fast", messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } })
      .withResponse()
    expect(response.headers.get("content-type")).toBe("text/event-stream")
    expect(response.headers.get("x-local-router-backend")).toBe("mlx")
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: "assistant", content: "" })
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? "")).join("")).toBe("A b c")
    const finish = chunks.at(-2)!
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" })
    expect((finish as unknown as { local_router: { trace: unknown } }).local_router.trace).toMatchObject({ backend: "mlx", attempts: [{ backend: "mlx", outcome: "answered" }] })
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } })
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1)
  })

  it("streaming: a backend failing before the first token is replaced invisibly", async () => {
    running = await start({ mlx: [{ end: "cut", tokens: [] }] })
    const stream = await client(running).chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hi" }], stream: true })
    let text = ""
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
    expect(text).toBe("Hello, world")
    expect(running.scripted.ollama.requests).toHaveLength(1)
  })

  it("streaming: a failure after the first token is an error the client throws, never a clean end", async () => {
    running = await start({ mlx: [{ tokens: ["partial"], end: "cut" }] })
    const stream = await client(running).chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hi" }], stream: true })
    let text = ""
    const error = await (async () => {
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
      } catch (e) {
        return e
      }
    })()
    expect(text).toBe("partial")
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toMatch(/mlx failed after the answer had started \(StreamCut\)/)
    expect(running.scripted.ollama.requests).toHaveLength(0)
  })

  it("images: image_url data URLs reach the backend as bytes with their type", async () => {
    running = await start()
    const url = `data:image/png;base64,${png.toString("base64")}`
    const { response } = await client(running).chat.completions
      .create({
        model: "vision",
        messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url } }] }]
      })
      .withResponse()
    expect(response.headers.get("x-local-router-backend")).toBe("vision")
    const sent = running.scripted.vision.requests[0]!.messages[0]!
    expect(sent.content).toBe("what is this?")
    expect(sent.images![0]!.mime).toBe("image/png")
    expect(Buffer.from(sent.images![0]!.data).equals(png)).toBe(true)
  })

  it("images: a remote URL is a BadRequestError, not a fetch on the caller's behalf", async () => {
    running = await start()
    const error = await client(running).chat.completions
      .create({ model: "vision", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/cat.png" } }] }] })
      .catch((e) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect(error.message).toMatch(/image URLs are not supported/)
    expect(running.scripted.vision.requests).toHaveLength(0)
  })

  it("tools and JSON formats asked of backends that cannot do them are a BadRequestError listing why each was skipped, never silently ignored", async () => {
    running = await start()
    const tools = await client(running).chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
      tools: [{ type: "function", function: { name: "f", parameters: {} } }]
    }).catch((e) => e)
    expect(tools).toBeInstanceOf(OpenAI.BadRequestError)
    expect(tools.message).toMatch(/no backend supports what the request needs for category "fast":\n  mlx skipped \(m-mlx: no tool support\)\n  ollama skipped \(phi3.5:3.8b: no tool support\)\n  cloud skipped \(gpt-4o-mini: no tool support\)/)
    const format = await client(running).chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
      response_format: { type: "json_object" }
    }).catch((e) => e)
    expect(format).toBeInstanceOf(OpenAI.BadRequestError)
    expect(format.message).toMatch(/mlx skipped \(m-mlx: no JSON schema support\)/)
    expect(running.scripted.mlx.requests).toHaveLength(0)
  })

  it("models: categories first, then pinned backend/model names", async () => {
    running = await start()
    const ids = []
    for await (const model of client(running).models.list()) ids.push(model.id)
    expect(ids).toEqual([
      "fast", "code", "vision",
      "mlx/m-mlx", "ollama/phi3.5:3.8b", "cloud/gpt-4o-mini", "mlx/qwen-coder", "cloud/gpt-4o", "vision/moondream"
    ])
    const one = await client(running).models.retrieve("code")
    expect(one).toMatchObject({ id: "code", object: "model", owned_by: "local-router" })
  })

  it("an unknown model is a NotFoundError whose message lists the categories", async () => {
    running = await start()
    const error = await client(running).chat.completions
      .create({ model: "gpt-5", messages: [{ role: "user", content: "hi" }] })
      .catch((e) => e)
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    expect(error.status).toBe(404)
    expect(error.code).toBe("model_not_found")
    expect(error.message).toMatch(/model "gpt-5" not found: use a category \(fast, code, vision, mlx\/m-mlx/)
    expect(error.error.local_router.models.slice(0, 3)).toEqual(["fast", "code", "vision"])
    // The router's own reason and words, for callers that report them as the router would.
    expect(error.error.local_router.route).toMatchObject({ reason: "UnknownCategory", message: expect.stringContaining('"gpt-5"') })
  })

  it("when every backend fails, the client gets an InternalServerError with the attempts, and does not retry the chain", async () => {
    running = await start({ mlx: [{ fail: "Unreachable" }], ollama: [{ fail: "Overloaded" }], cloud: [{ fail: "Auth" }] })
    // The SDK's default retries stay on: the gateway tells it not to run the fallback chain again.
    const error = await new OpenAI({ baseURL: `${running.url}/v1`, apiKey: "unused" }).chat.completions
      .create({ model: "fast", messages: [{ role: "user", content: "hi" }] })
      .catch((e) => e)
    expect(error).toBeInstanceOf(OpenAI.InternalServerError)
    expect(error.status).toBe(502)
    expect(error.error.local_router.attempts.map((a: { reason: string }) => a.reason)).toEqual(["Unreachable", "Overloaded", "Auth"])
    expect(error.error.local_router.route).toMatchObject({ reason: "AllFailed", message: expect.stringContaining("every backend failed") })
    expect(running.scripted.mlx.requests).toHaveLength(1)
  })

  it("a caller that breaks out of a stream aborts the upstream request within milliseconds", async () => {
    running = await start({ mlx: [{ tokens: ["one"], end: "hang" }] })
    const stream = await client(running).chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hi" }], stream: true })
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) break
    }
    const r = running
    const took = await eventually(() => r.scripted.mlx.abandoned() === 1)
    expect(took).toBeLessThan(200)
  })
})
