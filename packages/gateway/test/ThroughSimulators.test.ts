/**
 * End to end: the official clients -> the gateway -> the real Ollama and MLX backends -> the
 * simulators running as real processes. Proves the gateway's translation survives real
 * wire protocols on both sides, and that fallback and mid-stream failures look right.
 */
import { Answer } from "@local-router/simulators"
import { createHash } from "node:crypto"
import { Ollama } from "ollama"
import OpenAI from "openai"
import { describe, expect, it } from "vitest"
import * as SimulatedGateway from "./SimulatedGateway.ts"

const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

const e2e = SimulatedGateway.use({
  mlx: ["--model", "mlx-community/Phi-3.5-mini-instruct-4bit"],
  ollama: [],
  routing: `defaults:
  timeouts: { connect: 5s, firstToken: 5s, idle: 5s, total: 30s }
priorities:
  text: [mlx, ollama]
  image: [ollama]
categories:
  fast:
    input: text
    models: { mlx: mlx-community/Phi-3.5-mini-instruct-4bit, ollama: "phi3.5:3.8b" }
  tiny:
    input: text
    models: { ollama: "tinyllama:1.1b-chat" }
  vision:
    input: image
    models: { ollama: "llava:7b" }
`
})

const openai = () => new OpenAI({ baseURL: `${e2e.url}/v1`, apiKey: "unused", maxRetries: 0 })
const ollama = () => new Ollama({ host: e2e.url })

describe("clients -> gateway -> backends -> simulators", () => {
  it("openai client: MLX answers the simulator's exact text", async () => {
    const { data, response } = await openai().chat.completions
      .create({ model: "fast", messages: [{ role: "user", content: "Say hello" }] })
      .withResponse()
    expect(data.choices[0]!.message.content).toBe(Answer.make({ prompt: "Say hello" }).text)
    expect(response.headers.get("x-local-router-backend")).toBe("mlx")
    expect(response.headers.get("x-local-router-model")).toBe("mlx-community/Phi-3.5-mini-instruct-4bit")
  })

  it("openai client, streaming: MLX answering 503 is replaced by Ollama before the first token", async () => {
    await e2e.sims.mlx.setFaults([{ kind: "status", status: 503 }])
    const { data: stream, response } = await openai().chat.completions
      .create({ model: "fast", messages: [{ role: "user", content: "Tell me more" }], stream: true })
      .withResponse()
    let text = ""
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
    expect(text).toBe(Answer.make({ prompt: "Tell me more" }).text)
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    expect(response.headers.get("x-local-router-attempts")).toBe("2")
  })

  it("ollama client: a PNG reaches the Ollama simulator intact through the vision category", async () => {
    const answer = await ollama().chat({ model: "vision", messages: [{ role: "user", content: "What is this?", images: [new Uint8Array(png)] }] })
    const sha = createHash("sha256").update(png).digest("hex")
    expect(answer.message.content).toContain(sha.slice(0, 12))
    const seen = await e2e.sims.ollama.requests()
    expect(JSON.stringify(seen.at(-1))).toContain(sha)
  })

  it("ollama client, streaming: the simulator cutting the stream after two tokens is an error, never a clean end", async () => {
    await e2e.sims.ollama.setFaults([{ kind: "cutAfterTokens", tokens: 2 }])
    const parts: Array<string> = []
    const error = await (async () => {
      try {
        for await (const part of await ollama().chat({ model: "tiny", messages: [{ role: "user", content: "Count" }], stream: true })) {
          parts.push(part.message.content)
        }
      } catch (e) {
        return e as Error
      }
    })()
    expect(parts).toEqual(Answer.make({ prompt: "Count" }).tokens.slice(0, 2))
    expect(error?.message).toMatch(/ollama failed after the answer had started/)
  })

  it("an Ollama model the server does not have: the router's error reaches the openai client as a 502 with the attempts", async () => {
    await e2e.sims.ollama.setFaults([{ kind: "refuseModel", model: "tinyllama:1.1b-chat" }])
    const error = await openai().chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }] }).catch((e) => e)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(error.status).toBe(502)
    expect(error.error.local_router.attempts.at(-1)).toMatchObject({ backend: "ollama", outcome: "failed", reason: "ModelMissing" })
  })
})
