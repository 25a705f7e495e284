/**
 * The official `openai` client against sim-openai (also in OpenRouter mode) and sim-mlx:
 * chat, streaming, and errors typed by status, as against the real servers.
 */
import OpenAI, { AuthenticationError, NotFoundError, RateLimitError } from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"

let openai: Simulator.Running
let mlx: Simulator.Running

beforeAll(async () => {
  ;[openai, mlx] = await Promise.all([
    Simulator.start("openai", { args: ["--api-key", "sk-test-good-key"] }),
    Simulator.start("mlx", { args: ["--models", "mlx-community/Qwen2.5-Coder-32B-Instruct-4bit,mlx-community/Llama-3.2-1B-Instruct-4bit", "--load-ms", "40"] })
  ])
})
afterAll(() => Promise.all([openai.stop(), mlx.stop()]))

const client = (url: string, apiKey = "sk-test-good-key") => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 })
const ask = (content: string) => [{ role: "user" as const, content }]

describe("sim-openai with the openai client", () => {
  it("answers a chat with the deterministic text and usage", async () => {
    const res = await client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: ask("hello there") })
    expect(res.choices[0]?.message.content).toBe(Answer.make({ prompt: "hello there" }).text)
    expect(res.choices[0]?.finish_reason).toBe("stop")
    expect(res.usage?.completion_tokens).toBe(Answer.make({ prompt: "hello there" }).tokens.length)
  })

  it("streams deltas one token each and ends cleanly after [DONE], with a usage chunk", async () => {
    const stream = await client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: ask("stream me"), stream: true, stream_options: { include_usage: true } })
    const deltas: Array<string> = []
    let usage: unknown
    let finish: string | null | undefined
    for await (const chunk of stream) {
      const c = chunk.choices[0]
      if (c?.delta.content) deltas.push(c.delta.content)
      if (c?.finish_reason) finish = c.finish_reason
      if (chunk.usage) usage = chunk.usage
    }
    expect(deltas).toEqual(Answer.make({ prompt: "stream me" }).tokens)
    expect(finish).toBe("stop")
    expect(usage).toMatchObject({ completion_tokens: deltas.length })
  })

  it("rejects a bad key with AuthenticationError 401 in OpenAI's error shape", async () => {
    const err = await client(openai.url, "sk-wrong-key-1234").chat.completions.create({ model: "gpt-4o-mini", messages: ask("x") }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthenticationError)
    expect(err).toMatchObject({ status: 401, code: "invalid_api_key", type: "invalid_request_error" })
  })

  it("answers 429 with Retry-After as RateLimitError, then recovers (count: 1)", async () => {
    await openai.setFaults([{ kind: "status", status: 429, retryAfter: 7, count: 1 }])
    const err = await client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: ask("x") }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RateLimitError)
    expect((err as RateLimitError).headers?.get("retry-after")).toBe("7")
    expect((err as RateLimitError).code).toBe("rate_limit_exceeded")
    await expect(client(openai.url).chat.completions.create({ model: "gpt-4o-mini", messages: ask("x") })).resolves.toBeDefined()
  })

  it("speaks OpenRouter per request: processing comments in the stream and numeric error codes", async () => {
    const res = await fetch(`${openai.url}/api/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test-good-key", "x-sim-openrouter": "1", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: ask("[[tokens:6]] route me") })
    })
    const text = await res.text()
    expect(text.startsWith(": OPENROUTER PROCESSING\n\n")).toBe(true)
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true)
    const bad = await fetch(`${openai.url}/api/v1/chat/completions`, { method: "POST", headers: { "x-sim-openrouter": "1" }, body: "{}" })
    expect(bad.status).toBe(401)
    expect(await bad.json()).toEqual({ error: { code: 401, message: "No auth credentials found", metadata: {} } })
  })
})

describe("sim-mlx with the openai client", () => {
  it("answers chat and echoes the model string as sent", async () => {
    const res = await client(mlx.url, "unused").chat.completions.create({ model: "default_model", messages: ask("write add()") })
    expect(res.model).toBe("default_model")
    expect(res.choices[0]?.message.content).toBe(Answer.make({ prompt: "write add()" }).text)
  })

  it("streams through keepalive comments and ends at [DONE] over an HTTP/1.0 close-delimited body", async () => {
    const stream = await client(mlx.url, "unused").chat.completions.create({ model: "default_model", messages: ask("stream mlx"), stream: true })
    const deltas: Array<string> = []
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content)
    expect(deltas).toEqual(Answer.make({ prompt: "stream mlx" }).tokens)
    const raw = await fetch(`${mlx.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ messages: ask("raw"), stream: true }) })
    const text = await raw.text()
    expect(text.startsWith(": keepalive ")).toBe(true)
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true)
  })

  it("swaps to another cached model before the headers, and 404s an unknown one", async () => {
    const started = performance.now()
    const res = await client(mlx.url, "unused").chat.completions.create({ model: "mlx-community/Llama-3.2-1B-Instruct-4bit", messages: ask("swap") })
    expect(performance.now() - started).toBeGreaterThanOrEqual(35)
    expect(res.model).toBe("mlx-community/Llama-3.2-1B-Instruct-4bit")
    const err = await client(mlx.url, "unused").chat.completions.create({ model: "nobody/nothing", messages: ask("x") }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    const state = (await (await fetch(`${mlx.url}/__sim/state`)).json()) as { state: { resident: string } }
    expect(state.state.resident).toBe("mlx-community/Llama-3.2-1B-Instruct-4bit")
  })

  it("drops the connection without a response for an invalid parameter", async () => {
    const err = await client(mlx.url, "unused").chat.completions.create({ model: "default_model", messages: ask("x"), top_p: 1.5 }).catch((e: unknown) => e)
    expect((err as Error).constructor.name).toBe("APIConnectionError")
  })
})
