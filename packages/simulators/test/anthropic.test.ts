/**
 * The official `@anthropic-ai/sdk` against sim-anthropic: messages, the streamed event
 * sequence, and the errors the router must classify (401, 429 with retry-after, 529).
 */
import Anthropic, { APIError, AuthenticationError, InternalServerError } from "@anthropic-ai/sdk"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Answer from "../src/Answer.ts"
import * as Simulator from "../src/Simulator.ts"
import { tinyPng } from "./Images.ts"

let sim: Simulator.Running
let client: Anthropic

beforeAll(async () => {
  sim = await Simulator.start("anthropic", { args: ["--api-key", "sk-ant-good"] })
  client = new Anthropic({ baseURL: sim.url, apiKey: "sk-ant-good", maxRetries: 0 })
})
afterAll(() => sim.stop())

describe("sim-anthropic with @anthropic-ai/sdk", () => {
  it("answers a message, and an image message names the image bytes", async () => {
    const png = tinyPng()
    const res = await client.messages.create({
      model: "claude-sim-1",
      max_tokens: 100,
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/png", data: png.toString("base64") } },
            { type: "text", text: "What is on this page?" }
          ]
        }
      ]
    })
    const expected = Answer.make({ prompt: "What is on this page?", images: [{ bytes: png.length, sha256: Answer.sha256(png) }] })
    expect(res.content).toEqual([{ type: "text", text: expected.text }])
    expect(res.stop_reason).toBe("end_turn")
    expect(res.usage.output_tokens).toBe(expected.tokens.length)
    const recorded = (await sim.requests()).at(-1)
    expect(recorded?.headers["x-api-key"]).toBeUndefined()
    expect(recorded?.headers["anthropic-version"]).toBeDefined()
  })

  it("streams the full event sequence, and the SDK assembles the final message", async () => {
    const stream = client.messages.stream({ model: "claude-sim-1", max_tokens: 3, messages: [{ role: "user", content: "[[tokens:10]] long" }] })
    const events: Array<string> = []
    const texts: Array<string> = []
    stream.on("streamEvent", (e) => events.push(e.type))
    stream.on("text", (t) => texts.push(t))
    const final = await stream.finalMessage()
    expect(events).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"])
    expect(texts).toHaveLength(3)
    expect(final.stop_reason).toBe("max_tokens")
    expect(final.usage.output_tokens).toBe(3)
  })

  it("raises 529 overloaded as an InternalServerError/APIError with status 529", async () => {
    await sim.setFaults([{ kind: "status", status: 529, count: 1 }])
    const err = await client.messages.create({ model: "claude-sim-1", max_tokens: 10, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(APIError)
    expect(err).toBeInstanceOf(InternalServerError)
    expect(err).toMatchObject({ status: 529, error: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } })
  })

  it("rejects a bad key with 401 authentication_error, and 429 carries retry-after", async () => {
    const bad = new Anthropic({ baseURL: sim.url, apiKey: "nope", maxRetries: 0 })
    const err = await bad.messages.create({ model: "m", max_tokens: 1, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthenticationError)
    expect(err).toMatchObject({ status: 401, error: { error: { type: "authentication_error" } } })
    await sim.setFaults([{ kind: "status", status: 429, retryAfter: 3, count: 1 }])
    const limited = await client.messages.create({ model: "m", max_tokens: 1, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)
    expect(limited).toMatchObject({ status: 429 })
    expect((limited as APIError).headers?.get("retry-after")).toBe("3")
  })

  it("reports a failure after the headers as an error event that the SDK throws", async () => {
    await sim.setFaults([{ kind: "errorBody", afterTokens: 1, count: 1 }])
    const stream = client.messages.stream({ model: "m", max_tokens: 50, messages: [{ role: "user", content: "x" }] })
    await expect(stream.finalMessage()).rejects.toThrow(/Overloaded/)
  })
})
