/**
 * End to end: the official clients -> the gateway -> the real Ollama and MLX backends -> the
 * simulators running as real processes. Proves the gateway's translation survives real
 * wire protocols on both sides, and that fallback and mid-stream failures look right.
 */
import { definition as mlx } from "@local-router/backend-mlx"
import { definition as ollamaBackend } from "@local-router/backend-ollama"
import { type Backend, LiveRouting, Router } from "@local-router/core"
import { Answer, Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Ollama } from "ollama"
import OpenAI from "openai"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { Gateway } from "../src/index.ts"

const builtins = new Map<string, Backend.Definition>([
  ["mlx", mlx as Backend.Definition],
  ["ollama", ollamaBackend as Backend.Definition]
])

const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

let sims: { mlx: Simulator.Running; ollama: Simulator.Running }
let scope: Scope.Closeable
let url: string
let dir: string

beforeAll(async () => {
  const [mlxSim, ollamaSim] = await Promise.all([Simulator.start("mlx", { args: ["--model", "mlx-community/Phi-3.5-mini-instruct-4bit"] }), Simulator.start("ollama")])
  sims = { mlx: mlxSim, ollama: ollamaSim }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-e2e-"))
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, `backends:
  mlx: { type: mlx, url: "${mlxSim.url}" }
  ollama: { type: ollama, url: "${ollamaSim.url}" }
defaults:
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
`)
  scope = Effect.runSync(Scope.make())
  url = await Effect.runPromise(Effect.gen(function*() {
    const live = yield* LiveRouting.make(file, { builtins, watch: false })
    const router = yield* Router.make(live.snapshot)
    const gateway = yield* Gateway.make({ port: 0, router, routing: live })
    return gateway.url
  }).pipe(Scope.provide(scope)))
}, 60_000)

afterEach(async () => {
  await Promise.all([sims.mlx.clearFaults(), sims.ollama.clearFaults()])
})

afterAll(async () => {
  if (scope) await Effect.runPromise(Scope.close(scope, Exit.void))
  await Promise.all([sims?.mlx.stop(), sims?.ollama.stop()])
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

const openai = () => new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
const ollama = () => new Ollama({ host: url })

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
    await sims.mlx.setFaults([{ kind: "status", status: 503 }])
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
    const seen = await sims.ollama.requests()
    expect(JSON.stringify(seen.at(-1))).toContain(sha)
  })

  it("ollama client, streaming: the simulator cutting the stream after two tokens is an error, never a clean end", async () => {
    await sims.ollama.setFaults([{ kind: "cutAfterTokens", tokens: 2 }])
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
    await sims.ollama.setFaults([{ kind: "refuseModel", model: "tinyllama:1.1b-chat" }])
    const error = await openai().chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }] }).catch((e) => e)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect(error.status).toBe(502)
    expect(error.error.local_router.attempts.at(-1)).toMatchObject({ backend: "ollama", outcome: "failed", reason: "ModelMissing" })
  })
})
