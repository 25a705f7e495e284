/**
 * Faults in the middle of tool calls and reasoning, seen from the official clients: every
 * streamed piece (thinking word, argument fragment, whole Ollama/mlx call) counts as a token,
 * so a cut or a hang lands mid-call exactly where a test asks.
 */
import Anthropic from "@anthropic-ai/sdk"
import { Ollama } from "ollama"
import OpenAI from "openai"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as Agent from "../src/Agent.ts"
import * as Simulator from "../src/Simulator.ts"

let ollama: Simulator.Running
let mlx: Simulator.Running
let openai: Simulator.Running
let anthropic: Simulator.Running

beforeAll(async () => {
  ;[ollama, mlx, openai, anthropic] = await Promise.all([
    Simulator.start("ollama", { args: ["--models", "qwen3:8b"] }),
    Simulator.start("mlx", { args: ["--model", "mlx-community/Qwen3-8B-4bit"] }),
    Simulator.start("openai"),
    Simulator.start("anthropic")
  ])
})
afterEach(() => Promise.all([ollama, mlx, openai, anthropic].map((s) => s.clearFaults())))
afterAll(() => Promise.all([ollama, mlx, openai, anthropic].map((s) => s.stop())))

const weatherFn = { type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" }, note: { type: "string", minLength: 30 } }, required: ["city", "note"] } } }

describe("faults mid-tool-call and mid-reasoning", () => {
  it("Ollama: a cut after the thinking chunks and before the whole call ends the stream with no call and no done line", async () => {
    const prompt = "get_weather city=Oslo"
    const thinking = Agent.thinking(prompt).length
    await ollama.setFaults([{ kind: "cutAfterTokens", tokens: thinking }])
    const stream = await new Ollama({ host: ollama.url }).chat({ model: "qwen3:8b", messages: [{ role: "user", content: prompt }], tools: [weatherFn], stream: true })
    const seen: Array<string> = []
    const consume = async () => {
      for await (const c of stream) seen.push(c.message.tool_calls ? "call" : c.message.thinking ? "thinking" : c.done ? "done" : "other")
    }
    await expect(consume()).rejects.toThrow()
    expect(seen).toEqual(Array.from({ length: thinking }, () => "thinking"))
  })

  it("Ollama: an errorBody fault after the thinking is the in-band {error} line the client throws", async () => {
    const prompt = "get_weather city=Oslo"
    await ollama.setFaults([{ kind: "errorBody", afterTokens: 2, message: "runner died mid-call" }])
    const stream = await new Ollama({ host: ollama.url }).chat({ model: "qwen3:8b", messages: [{ role: "user", content: prompt }], tools: [weatherFn], stream: true })
    const consume = async () => {
      for await (const _ of stream) void _
    }
    await expect(consume()).rejects.toThrow("runner died mid-call")
  })

  it("OpenAI: a cut after the header and one argument fragment leaves the SDK with a broken stream and no finish", async () => {
    const prompt = "get_weather city=Rome"
    await openai.setFaults([{ kind: "cutAfterTokens", tokens: 2 }])
    const stream = await new OpenAI({ baseURL: `${openai.url}/v1`, apiKey: "k", maxRetries: 0 }).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: prompt }],
      tools: [weatherFn],
      stream: true
    })
    const deltas: Array<unknown> = []
    let finish: string | null | undefined
    const consume = async () => {
      for await (const c of stream) {
        for (const t of c.choices[0]?.delta.tool_calls ?? []) deltas.push(t)
        finish = c.choices[0]?.finish_reason ?? finish
      }
    }
    // A close-delimited cut may read as a clean end; either way the call is incomplete and unfinished.
    await consume().catch(() => undefined)
    expect(deltas).toHaveLength(2)
    expect(deltas[0]).toMatchObject({ index: 0, function: { name: "get_weather", arguments: "" } })
    expect(finish).toBeUndefined()
  })

  it("mlx: hangAfterTokens inside the reasoning holds the stream open with no tool call until the client gives up", async () => {
    await mlx.setFaults([{ kind: "hangAfterTokens", tokens: 1 }])
    const ctrl = new AbortController()
    const res = await fetch(`${mlx.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stream: true, tools: [weatherFn], messages: [{ role: "user", content: "get_weather" }] }),
      signal: ctrl.signal
    })
    const reader = res.body?.getReader()
    let text = ""
    const timer = setTimeout(() => ctrl.abort(), 300)
    const read = async () => {
      for (;;) {
        const r = await reader?.read()
        if (r === undefined || r.done) return
        text += Buffer.from(r.value).toString()
      }
    }
    await expect(read()).rejects.toThrow()
    clearTimeout(timer)
    expect(text).toContain('"reasoning"')
    expect(text).not.toContain("tool_calls")
  })

  it("Anthropic: a cut inside the tool_use block's input_json_delta fragments; and an error event mid-thinking", async () => {
    const client = new Anthropic({ baseURL: anthropic.url, apiKey: "k", maxRetries: 0 })
    await anthropic.setFaults([{ kind: "cutAfterTokens", tokens: 3, count: 1 }])
    const tool: Anthropic.Tool = { name: "get_weather", input_schema: weatherFn.function.parameters as Anthropic.Tool.InputSchema }
    const stream = client.messages.stream({ model: "m", max_tokens: 1000, tools: [tool], messages: [{ role: "user", content: "get_weather city=Rome" }] })
    const partial: Array<string> = []
    stream.on("streamEvent", (e) => {
      if (e.type === "content_block_delta" && e.delta.type === "input_json_delta") partial.push(e.delta.partial_json)
    })
    await expect(stream.finalMessage()).rejects.toThrow()
    expect(partial).toHaveLength(3)
    expect(partial[0]).toBe("")

    await anthropic.setFaults([{ kind: "errorBody", afterTokens: 2, count: 1 }])
    const thinking = client.messages.stream({ model: "m", max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "x" }] })
    await expect(thinking.finalMessage()).rejects.toThrow(/Overloaded/)
  })
})
