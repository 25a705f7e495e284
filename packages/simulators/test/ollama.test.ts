/**
 * sim-ollama against the official `ollama` npm client: what a backend built on that client
 * would see from a real `ollama serve`.
 */
import { Ollama } from "ollama"
import OpenAI, { BadRequestError } from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"
import { tinyPng } from "./Images.ts"

let sim: Simulator.Running
let client: Ollama

beforeAll(async () => {
  sim = await Simulator.start("ollama", { args: ["--pull-ms", "100", "--pull-tick-ms", "10", "--load-ms", "30"] })
  client = new Ollama({ host: sim.url })
})
afterAll(() => sim.stop())

describe("sim-ollama with the ollama client", () => {
  it("lists the default installed models with details", async () => {
    const { models } = await client.list()
    expect(models.map((m) => m.name)).toEqual(["phi3.5:3.8b", "moondream:latest", "llava:7b", "tinyllama:1.1b-chat"])
    expect(models[0]?.details.family).toBe("phi3")
    expect(models[0]?.digest).toMatch(/^[0-9a-f]{64}$/)
  })

  it("streams a chat one token per chunk, ending with done metrics, and loads the model into /api/ps", async () => {
    const prompt = "Why is the sky blue?"
    const expected = Answer.make({ prompt })
    const stream = await client.chat({ model: "phi3.5:3.8b", messages: [{ role: "user", content: prompt }], stream: true, keep_alive: "10m" })
    const parts: Array<string> = []
    let last: Record<string, unknown> = {}
    for await (const chunk of stream) {
      if (!chunk.done) parts.push(chunk.message.content)
      last = chunk as unknown as Record<string, unknown>
    }
    expect(parts).toEqual(expected.tokens)
    expect(last["done_reason"]).toBe("stop")
    expect(last["eval_count"]).toBe(expected.tokens.length)
    for (const k of ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"]) expect(last[k]).toBeGreaterThan(0)
    // The first request paid the cold load (30 ms) before the headers.
    expect(last["load_duration"] as number).toBeGreaterThanOrEqual(25e6)
    const { models } = await client.ps()
    const phi = models.find((m) => m.name === "phi3.5:3.8b")
    const expires = new Date(phi?.expires_at as unknown as string).getTime()
    expect(expires - Date.now()).toBeGreaterThan(9 * 60_000)
    expect(expires - Date.now()).toBeLessThanOrEqual(10 * 60_000)
  })

  it("generates from an image and names the bytes it received", async () => {
    const png = tinyPng()
    const res = await client.generate({ model: "moondream", prompt: "What is this?", images: [png] })
    expect(res.response).toContain(`[image ${Answer.sha256(png).slice(0, 12)} ${png.length}b]`)
    expect(res.done).toBe(true)
    const recorded = (await sim.requests()).filter((r) => r.path === "/api/generate").at(-1)
    expect(recorded?.images).toEqual([{ at: "images[0]", prefix: "", bytes: png.length, sha256: Answer.sha256(png) }])
  })

  it("pulls with progress until success, then lists the model; delete removes it", async () => {
    const statuses: Array<string> = []
    let sawProgress = false
    const progress = await client.pull({ model: "all-minilm", stream: true })
    for await (const p of progress) {
      statuses.push(p.status)
      if (p.total > 0 && p.completed > 0 && p.completed < p.total) sawProgress = true
    }
    expect(statuses[0]).toBe("pulling manifest")
    expect(statuses.some((s) => /^pulling [0-9a-f]{12}$/.test(s))).toBe(true)
    expect(statuses.slice(-3)).toEqual(["verifying sha256 digest", "writing manifest", "success"])
    expect(sawProgress).toBe(true)
    expect((await client.list()).models.map((m) => m.name)).toContain("all-minilm:latest")

    await expect(client.delete({ model: "all-minilm" })).resolves.toEqual({ status: "success" })
    expect((await client.list()).models.map((m) => m.name)).not.toContain("all-minilm:latest")
  })

  it("rejects a missing model with ResponseError 404 before any stream starts", async () => {
    const err = await client.chat({ model: "llama3:70b", messages: [{ role: "user", content: "hi" }], stream: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: "ResponseError", status_code: 404, error: "model 'llama3:70b' not found" })
  })

  it("fails a pull of a model the registry does not have inside the stream", async () => {
    const progress = await client.pull({ model: "no-such-model", stream: true })
    const consume = async () => {
      for await (const _ of progress) void _
    }
    await expect(consume()).rejects.toThrow("pull model manifest: file does not exist")
  })

  it("resumes an interrupted pull from the bytes already downloaded", async () => {
    // Cut after the manifest line and two progress lines of the main layer.
    await sim.setFaults([{ kind: "cutAfterTokens", tokens: 3, route: "/api/pull", count: 1 }])
    const first = await client.pull({ model: "llama3.2:1b", stream: true })
    const seen: Array<number> = []
    const drain = async () => {
      for await (const p of first) if (p.completed) seen.push(p.completed)
    }
    await expect(drain()).rejects.toThrow()
    const had = seen.at(-1) ?? 0
    expect(had).toBeGreaterThan(0)

    const second = await client.pull({ model: "llama3.2:1b", stream: true })
    const firstCompleted: Array<number> = []
    for await (const p of second) if (p.completed && firstCompleted.length === 0) firstCompleted.push(p.completed)
    expect(firstCompleted[0]).toBe(had)
    expect((await client.list()).models.map((m) => m.name)).toContain("llama3.2:1b")
  })

  it("serves the OpenAI-compatible /v1 surface: data-URL images accepted, http image URLs rejected with 400", async () => {
    const openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "ollama", maxRetries: 0 })
    const png = tinyPng(3, 3, [9, 9, 9])
    const url = `data:image/png;base64,${png.toString("base64")}`
    const res = await openai.chat.completions.create({
      model: "llava:7b",
      messages: [{ role: "user", content: [{ type: "text", text: "describe" }, { type: "image_url", image_url: { url } }] }]
    })
    expect(res.system_fingerprint).toBe("fp_ollama")
    expect(res.choices[0]?.message.content).toContain(`[image ${Answer.sha256(png).slice(0, 12)} ${png.length}b]`)
    const err = await openai.chat.completions
      .create({ model: "llava:7b", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png" } }] }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BadRequestError)
    expect((err as BadRequestError).message).toContain("image URLs are not currently supported")
    const models = await openai.models.list()
    expect(models.data.map((m) => m.id)).toContain("llava:7b")
  })
})
