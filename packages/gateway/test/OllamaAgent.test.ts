/**
 * The official `ollama` npm client, unchanged, doing what agents and RAG apps do through the
 * gateway: tools (whole calls with object arguments, ids and function.index, the result turn
 * matched by tool_name), format (json and a schema), think, embed and the older embeddings,
 * show and tags with capabilities, and the 400 when no backend can call tools.
 */
import { Ollama } from "ollama"
import { afterEach, describe, expect, it } from "vitest"
import { agentAbilities, weather, yaml } from "./AgentYaml.ts"
import { type Running, type Scripts, start } from "./TestGateway.ts"

let running: Running | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
})

const boot = async (scripts: Scripts = {}) => {
  running = await start(scripts, { yaml, abilities: agentAbilities })
  return running
}

const client = (r: Running) => new Ollama({ host: r.url })

const ask = { role: "user", content: "weather in Tokyo and Paris?" }

const rejection = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (e) {
    return e as Error & { status_code?: number; error?: string }
  }
  throw new Error("expected a rejection")
}

const twoCalls = {
  toolCalls: [
    { id: "call_a", name: "get_weather", arguments: [`{"city":`, `"Tokyo"}`] },
    { id: "call_b", name: "get_weather", arguments: `{"city":"Paris"}` }
  ]
}

describe("ollama client -> gateway: agents", () => {
  it("tools, whole: calls with object arguments, id and function.index; done_reason stop as Ollama says it; the tools reach the backend", async () => {
    const r = await boot({ mlx: [twoCalls] })
    const answer = await client(r).chat({ model: "agent", messages: [ask], tools: [weather], stream: false })
    expect(answer.message.content).toBe("")
    expect(answer.message.tool_calls).toEqual([
      { id: "call_a", function: { index: 0, name: "get_weather", arguments: { city: "Tokyo" } } },
      { id: "call_b", function: { index: 1, name: "get_weather", arguments: { city: "Paris" } } }
    ])
    expect(answer.done_reason).toBe("stop")
    expect(r.scripted.mlx.requests[0]!.tools).toEqual([{ name: "get_weather", description: "Weather in a city", parameters: weather.function.parameters }])
  })

  it("tools, streamed: each call arrives whole on its own line, never as fragments", async () => {
    const r = await boot({ mlx: [twoCalls] })
    const parts = []
    for await (const part of await client(r).chat({ model: "agent", messages: [ask], tools: [weather], stream: true })) parts.push(part)
    const calls = parts.flatMap((p) => p.message.tool_calls ?? [])
    expect(calls).toEqual([
      { id: "call_a", function: { index: 0, name: "get_weather", arguments: { city: "Tokyo" } } },
      { id: "call_b", function: { index: 1, name: "get_weather", arguments: { city: "Paris" } } }
    ])
    expect(parts.filter((p) => (p.message.tool_calls ?? []).length > 0)).toHaveLength(2)
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: "stop" })
  })

  it("a call whose arguments are not a JSON object cannot be said to an Ollama client: an explicit error, streamed or whole, never a string or an empty object", async () => {
    const r = await boot({ mlx: [{ reasoning: ["hm"], toolCalls: [{ id: "call_x", name: "get_weather", arguments: [`{"city":`] }] }] })
    const parts: Array<{ message: { thinking?: string; tool_calls?: Array<unknown> }; done: boolean }> = []
    const error = await rejection((async () => {
      for await (const part of await client(r).chat({ model: "agent", messages: [ask], tools: [weather], stream: true })) parts.push(part)
    })())
    expect(parts.map((p) => p.message.thinking)).toEqual(["hm"])
    expect(parts.some((p) => p.done || (p.message.tool_calls ?? []).length > 0)).toBe(false)
    expect(error.message).toBe(`mlx's tool call get_weather has arguments that are not a JSON object: {"city":`)
    const whole = await rejection(client(r).chat({ model: "agent", messages: [ask], tools: [weather], stream: false }))
    expect(whole.status_code).toBe(502)
    expect(whole.message).toMatch(/get_weather has arguments that are not a JSON object/)
  })

  it("the tool-result turn: results named by tool_name (no ids, as Ollama's clients send them) are tied to their calls in order", async () => {
    const r = await boot({ mlx: [{ tokens: ["Tokyo 11, Paris 9"] }] })
    const answer = await client(r).chat({
      model: "agent",
      stream: false,
      tools: [weather],
      messages: [
        ask,
        {
          role: "assistant",
          content: "",
          tool_calls: [
            { function: { name: "get_weather", arguments: { city: "Tokyo" } } },
            { function: { name: "get_weather", arguments: { city: "Paris" } } }
          ]
        },
        { role: "tool", tool_name: "get_weather", content: "11 degrees" },
        { role: "tool", tool_name: "get_weather", content: "9 degrees" }
      ]
    })
    expect(answer.message.content).toBe("Tokyo 11, Paris 9")
    expect(r.scripted.mlx.requests[0]!.messages.slice(1)).toEqual([
      {
        role: "assistant",
        content: "",
        toolCalls: [
          { id: "call_1_0", name: "get_weather", arguments: `{"city":"Tokyo"}` },
          { id: "call_1_1", name: "get_weather", arguments: `{"city":"Paris"}` }
        ]
      },
      { role: "tool", content: "11 degrees", toolName: "get_weather", toolCallId: "call_1_0" },
      { role: "tool", content: "9 degrees", toolName: "get_weather", toolCallId: "call_1_1" }
    ])
  })

  it("format: a JSON Schema and \"json\" reach the backend; an invalid one is Ollama's own 400", async () => {
    const r = await boot({ mlx: [{ tokens: [`{"age": 22}`] }] })
    const schema = { type: "object", properties: { age: { type: "integer" } }, required: ["age"] }
    const answer = await client(r).chat({ model: "agent", messages: [ask], format: schema, stream: false })
    expect(JSON.parse(answer.message.content)).toEqual({ age: 22 })
    expect(r.scripted.mlx.requests[0]!.responseFormat).toEqual({ _tag: "JsonSchema", name: "schema", schema })
    await client(r).generate({ model: "agent", prompt: "age?", format: "json", stream: false })
    expect(r.scripted.mlx.requests[1]!.responseFormat).toEqual({ _tag: "Json" })
    const bad = await rejection(client(r).chat({ model: "agent", messages: [ask], format: "yaml" }))
    expect(bad.status_code).toBe(400)
    expect(bad.message).toBe(`invalid format: "yaml"; expected "json" or a valid JSON Schema object`)
  })

  it("think: thinking streams in message.thinking before the content, generate's in thinking; levels and false reach the backend", async () => {
    const r = await boot({ mlx: [{ reasoning: ["Let me ", "count"], tokens: ["There are 3"] }] })
    const parts = []
    for await (const part of await client(r).chat({ model: "agent", messages: [ask], think: true, stream: true })) parts.push(part.message)
    expect(parts.slice(0, 3)).toEqual([
      { role: "assistant", content: "", thinking: "Let me " },
      { role: "assistant", content: "", thinking: "count" },
      { role: "assistant", content: "There are 3" }
    ])
    expect(r.scripted.mlx.requests[0]!.reasoning).toEqual({ _tag: "On" })
    const whole = await client(r).generate({ model: "agent", prompt: "how many?", think: "high", stream: false })
    expect(whole).toMatchObject({ response: "There are 3", thinking: "Let me count" })
    expect(r.scripted.mlx.requests[1]!.reasoning).toEqual({ _tag: "On", effort: "high" })
    await client(r).chat({ model: "agent", messages: [ask], think: false, stream: false })
    expect(r.scripted.mlx.requests[2]!.reasoning).toEqual({ _tag: "Off" })
    const bad = await rejection(client(r).chat({ model: "agent", messages: [ask], think: "extreme" as never }))
    expect(bad.message).toMatch(/invalid think value: "extreme"/)
  })

  it("tools against a category whose only backend cannot call them: a 400 with why it was skipped", async () => {
    const r = await boot()
    const error = await rejection(client(r).chat({ model: "plain", messages: [ask], tools: [weather] }))
    expect(error.status_code).toBe(400)
    expect(error.message).toMatch(/cloud skipped \(small-model: no tool support\)/)
  })

  it("embed: vectors per input from the embed category, dimensions passed; the older embeddings; an empty input loads", async () => {
    const r = await boot()
    const answer = await client(r).embed({ model: "embed", input: ["sky", "grass"] })
    expect(answer.embeddings).toHaveLength(2)
    expect(answer.embeddings[0]).toHaveLength(8)
    expect(answer.model).toBe("embed")
    expect(answer.prompt_eval_count).toBe(8)
    expect(r.scripted.ollama.embedRequests[0]).toMatchObject({ model: "nomic-embed-text", input: ["sky", "grass"] })
    const short = await client(r).embed({ model: "embed", input: "sky", dimensions: 3 })
    expect(short.embeddings[0]).toHaveLength(3)
    const legacy = await client(r).embeddings({ model: "embed", prompt: "sky" })
    expect(legacy.embedding).toEqual(answer.embeddings[0])
    const empty = await client(r).embed({ model: "embed", input: [] })
    expect(empty.embeddings).toEqual([])
    expect(r.scripted.ollama.embedRequests).toHaveLength(3)
  })

  it("show: a category's capabilities in Ollama's words; a pinned model; an unknown name is a 404", async () => {
    const r = await boot()
    const agent = await client(r).show({ model: "agent" })
    expect(agent.capabilities).toEqual(["completion", "tools", "thinking"])
    expect(agent.details.family).toBe("local-router")
    expect((agent.model_info as unknown as Record<string, unknown>)["local_router.backends"]).toEqual(["mlx/m-mlx", "ollama/qwen3:8b"])
    expect((await client(r).show({ model: "embed" })).capabilities).toEqual(["embedding"])
    expect((await client(r).show({ model: "plain:latest" })).capabilities).toEqual(["completion", "vision"])
    expect((await client(r).show({ model: "mlx/m-mlx" })).capabilities).toEqual(["completion", "tools", "thinking"])
    const unknown = await rejection(client(r).show({ model: "llama3" }))
    expect(unknown.status_code).toBe(404)
  })

  it("tags list each name with its capabilities", async () => {
    const r = await boot()
    const { models } = await client(r).list()
    const caps = Object.fromEntries(models.map((m) => [m.name, (m as unknown as { capabilities: Array<string> }).capabilities]))
    expect(caps.agent).toEqual(["completion", "tools", "thinking"])
    expect(caps.embed).toEqual(["embedding"])
    expect(caps["ollama/nomic-embed-text"]).toEqual(["completion", "tools", "thinking", "embedding"])
  })
})
