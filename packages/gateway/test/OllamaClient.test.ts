/**
 * The official `ollama` npm client, unchanged, pointed at the gateway: discovery, chat and
 * generate (whole and streamed), images, and the errors it raises.
 */
import { Ollama } from "ollama"
import { afterEach, describe, expect, it } from "vitest"
import { eventually, type Running, start } from "./TestGateway.ts"

let running: Running | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
})

const client = (r: Running) => new Ollama({ host: r.url })

const jpeg = Buffer.from("ffd8ffe000104a46494600010100000100010000ffdb", "hex")

const rejection = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (e) {
    return e as Error & { status_code?: number; error?: string }
  }
  throw new Error("expected a rejection")
}

describe("ollama client -> gateway", () => {
  it("discovery: version, and categories then pinned models as tags", async () => {
    running = await start()
    const ollama = client(running)
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+$/)
    const { models } = await ollama.list()
    expect(models.map((m) => m.name)).toEqual([
      "fast", "code", "vision",
      "mlx/m-mlx", "ollama/phi3.5:3.8b", "cloud/gpt-4o-mini", "mlx/qwen-coder", "cloud/gpt-4o", "vision/moondream"
    ])
    expect(models[0]).toMatchObject({ model: "fast", size: 0, details: { family: "local-router" } })
    expect((await ollama.ps()).models).toEqual([])
    const root = await fetch(running.url)
    expect(await root.text()).toBe("Ollama is running")
  })

  it("chat: whole answer with done_reason and metrics", async () => {
    running = await start()
    const answer = await client(running).chat({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
      options: { temperature: 0.1, num_predict: 9, stop: ["x"], seed: 3, top_p: 0.5 }
    })
    expect(answer.message).toEqual({ role: "assistant", content: "Hello, world" })
    expect(answer).toMatchObject({ model: "fast", done: true, done_reason: "stop", prompt_eval_count: 3, eval_count: 3 })
    expect(running.scripted.mlx.requests[0]!.options).toEqual({ temperature: 0.1, maxTokens: 9, stop: ["x"], seed: 3, topP: 0.5 })
  })

  it("chat: streamed NDJSON, one token per line, then done", async () => {
    running = await start({ mlx: [{ tokens: ["a", "b", "c"] }] })
    const parts = []
    for await (const part of await client(running).chat({ model: "fast", messages: [{ role: "user", content: "hi" }], stream: true })) {
      parts.push(part)
    }
    expect(parts.map((p) => p.message.content)).toEqual(["a", "b", "c", ""])
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: "stop" })
    expect(parts.slice(0, -1).every((p) => p.done === false && typeof p.created_at === "string")).toBe(true)
  })

  it("generate: prompt and system, whole and streamed", async () => {
    running = await start()
    const ollama = client(running)
    const whole = await ollama.generate({ model: "fast", prompt: "hi", system: "be brief" })
    expect(whole).toMatchObject({ response: "Hello, world", done: true, done_reason: "stop" })
    expect(running.scripted.mlx.requests[0]!.messages).toEqual([{ role: "system", content: "be brief" }, { role: "user", content: "hi" }])
    let text = ""
    for await (const part of await ollama.generate({ model: "fast", prompt: "hi", stream: true })) text += part.response
    expect(text).toBe("Hello, world")
  })

  it("an empty prompt is Ollama's load call, answered without routing", async () => {
    running = await start()
    const answer = await client(running).generate({ model: "fast", prompt: "" })
    expect(answer).toMatchObject({ done: true, done_reason: "load", response: "" })
    expect(running.scripted.mlx.requests).toHaveLength(0)
  })

  it("images: bare base64 on a message reaches the backend as bytes with the type read from them", async () => {
    running = await start()
    const answer = await client(running).chat({
      model: "vision",
      messages: [{ role: "user", content: "describe", images: [new Uint8Array(jpeg)] }]
    })
    expect(answer.done).toBe(true)
    const image = running.scripted.vision.requests[0]!.messages[0]!.images![0]!
    expect(image.mime).toBe("image/jpeg")
    expect(Buffer.from(image.data).equals(jpeg)).toBe(true)
  })

  it("format (structured output) asked of backends without it is a 400 listing why each was skipped, never silently ignored", async () => {
    running = await start()
    const error = await rejection(client(running).chat({ model: "fast", messages: [{ role: "user", content: "hi" }], format: "json" }))
    expect(error.status_code).toBe(400)
    expect(error.message).toMatch(/no backend supports what the request needs for category "fast":\n  mlx skipped \(m-mlx: no JSON schema support\)/)
  })

  it("an unknown model is a 404 ResponseError naming the categories", async () => {
    running = await start()
    const error = await rejection(client(running).chat({ model: "llama3", messages: [{ role: "user", content: "hi" }] }))
    expect(error.name).toBe("ResponseError")
    expect(error.status_code).toBe(404)
    expect(error.message).toMatch(/model "llama3" not found: use a category \(fast, code, vision/)
  })

  it("streaming: an unknown model rejects the call itself, as on Ollama", async () => {
    running = await start()
    const error = await rejection(client(running).chat({ model: "nope", messages: [{ role: "user", content: "hi" }], stream: true }))
    expect(error.status_code).toBe(404)
  })

  it("streaming: a failure after the first token is an error line the client throws on", async () => {
    running = await start({ mlx: [{ tokens: ["partial"], end: "Upstream" }] })
    const parts: Array<string> = []
    const error = await rejection((async () => {
      for await (const part of await client(running!).chat({ model: "fast", messages: [{ role: "user", content: "hi" }], stream: true })) {
        parts.push(part.message.content)
      }
    })())
    expect(parts).toEqual(["partial"])
    expect(error.message).toMatch(/mlx failed after the answer had started \(Upstream\)/)
  })

  it("an aborted stream aborts the upstream request", async () => {
    running = await start({ mlx: [{ tokens: ["one"], end: "hang" }] })
    const stream = await client(running).chat({ model: "fast", messages: [{ role: "user", content: "hi" }], stream: true })
    for await (const part of stream) {
      if (part.message.content) {
        stream.abort()
        break
      }
    }
    const r = running
    expect(await eventually(() => r.scripted.mlx.abandoned() === 1)).toBeLessThan(200)
  })
})
