/**
 * End to end for agents: the official `openai` and `ollama` clients -> the gateway -> the real
 * MLX and Ollama backends -> sim-mlx and sim-ollama as real processes. Tool calls (and the
 * result turn), JSON-schema output, thinking, embeddings and capabilities survive both wire
 * translations, a tool call falls back from a dead server, and a cut in the middle of a tool
 * call reaches the client as an error.
 *
 * The simulators decide from the request alone (packages/simulators/README.md, "Agent
 * features"): a tool is called when its name is a word of the last user message, `key=value`
 * pins an argument, and a tool result is answered `Result of <tool>: <result>`.
 */
import { Ollama } from "ollama"
import OpenAI from "openai"
import { describe, expect, it } from "vitest"
import { weather } from "./AgentYaml.ts"
import * as SimulatedGateway from "./SimulatedGateway.ts"

const mlxModel = "mlx-community/Qwen3-8B-4bit"

const e2e = SimulatedGateway.use({
  mlx: ["--model", mlxModel],
  ollama: ["--models", "qwen3:8b,phi3.5:3.8b,nomic-embed-text"],
  routing: `defaults:
  timeouts: { connect: 5s, firstToken: 5s, idle: 5s, total: 30s }
  breaker: { failures: 100, cooldown: 1s }
priorities:
  text: [mlx, ollama]
  embed: [ollama]
categories:
  agent:
    input: text
    models: { mlx: ${mlxModel}, ollama: "qwen3:8b" }
  local:
    input: text
    models: { ollama: "qwen3:8b" }
  small:
    input: text
    models: { ollama: "phi3.5:3.8b" }
  quick:
    input: text
    models: { mlx: ${mlxModel}, ollama: "qwen3:8b" }
    timeouts: { firstToken: 600ms, idle: 600ms }
  ollamaFirst:
    input: text
    priority: [ollama, mlx]
    models: { mlx: ${mlxModel}, ollama: "qwen3:8b" }
  embed:
    input: embed
    models: { ollama: nomic-embed-text }
`
})

const openai = () => new OpenAI({ baseURL: `${e2e.url}/v1`, apiKey: "unused", maxRetries: 0 })
const ollama = () => new Ollama({ host: e2e.url })

const calls = (message: OpenAI.ChatCompletionMessage) =>
  (message.tool_calls ?? []).map((c) => c.type === "function" ? { name: c.function.name, arguments: JSON.parse(c.function.arguments) as unknown } : c)

describe("agents: clients -> gateway -> backends -> simulators", () => {
  it("openai client, tools: MLX calls the tool; the SDK's runTools sends the result back and gets the answer to it", async () => {
    const { data, response } = await openai().chat.completions
      .create({ model: "agent", messages: [{ role: "user", content: "use get_weather city=Tokyo" }], tools: [weather] })
      .withResponse()
    expect(response.headers.get("x-local-router-backend")).toBe("mlx")
    expect(data.choices[0]!.finish_reason).toBe("tool_calls")
    expect(calls(data.choices[0]!.message)).toEqual([{ name: "get_weather", arguments: { city: "Tokyo" } }])

    const final = await openai().chat.completions.runTools({
      model: "agent",
      messages: [{ role: "user", content: "use get_weather city=Paris" }],
      tools: [{
        type: "function",
        function: { name: "get_weather", description: "Weather in a city", parameters: weather.function.parameters, parse: JSON.parse, function: (args: { city: string }) => `9 degrees in ${args.city}` }
      }]
    }).finalContent()
    expect(final).toContain("Result of get_weather: 9 degrees in Paris")
  })

  it("openai client, tools streamed: Ollama's whole calls become OpenAI deltas the SDK assembles", async () => {
    const stream = openai().chat.completions.stream({ model: "local", messages: [{ role: "user", content: "get_weather city=Oslo please" }], tools: [weather] })
    const final = await stream.finalChatCompletion()
    expect(final.choices[0]!.finish_reason).toBe("tool_calls")
    expect(calls(final.choices[0]!.message)).toEqual([{ name: "get_weather", arguments: expect.objectContaining({ city: "Oslo" }) }])
    expect(final.choices[0]!.message.tool_calls![0]!.id).toMatch(/^call_[a-z0-9]{8}$/)
  })

  it("a tool call falls back from a dead MLX server to Ollama, invisibly", async () => {
    await e2e.sims.mlx.setFaults([{ kind: "dropConnection" }])
    const { data, response } = await openai().chat.completions
      .create({ model: "agent", messages: [{ role: "user", content: "use get_weather city=Lima" }], tools: [weather], stream: true })
      .withResponse()
    const parts: Array<string> = []
    for await (const chunk of data) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) parts.push(call.function?.arguments ?? "")
    }
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    expect(response.headers.get("x-local-router-attempts")).toBe("2")
    expect(JSON.parse(parts.join(""))).toMatchObject({ city: "Lima" })
  })

  it("openai client, response_format json_schema: MLX (no structured output) is skipped and Ollama's JSON matches the schema", async () => {
    const schema = { type: "object", properties: { city: { type: "string" }, degrees: { type: "integer", minimum: -50, maximum: 50 } }, required: ["city", "degrees"] }
    const { data, response } = await openai().chat.completions
      .create({ model: "agent", messages: [{ role: "user", content: "weather as JSON" }], response_format: { type: "json_schema", json_schema: { name: "weather", schema } } })
      .withResponse()
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    const parsed = JSON.parse(data.choices[0]!.message.content!) as { city: unknown; degrees: number }
    expect(typeof parsed.city).toBe("string")
    expect(Number.isInteger(parsed.degrees)).toBe(true)
    const trace = (data as unknown as { local_router: { trace: { attempts: Array<{ backend: string; outcome: string; reason?: string }> } } }).local_router.trace
    expect(trace.attempts[0]).toMatchObject({ backend: "mlx", outcome: "skipped" })
    expect(trace.attempts[0]!.reason).toMatch(/no JSON schema support/)
  })

  it("openai client, reasoning: MLX's reasoning arrives as reasoning_content before the answer", async () => {
    const frames: Array<{ reasoning?: string; content?: string }> = []
    const stream = await openai().chat.completions.create({ model: "agent", messages: [{ role: "user", content: "Think about rain" }], stream: true, reasoning_effort: "medium" })
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as { reasoning_content?: string; content?: string | null } | undefined
      if (delta?.reasoning_content) frames.push({ reasoning: delta.reasoning_content })
      if (delta?.content) frames.push({ content: delta.content })
    }
    const firstContent = frames.findIndex((f) => f.content !== undefined)
    expect(firstContent).toBeGreaterThan(0)
    expect(frames.slice(0, firstContent).every((f) => f.reasoning !== undefined)).toBe(true)
  })

  it("tools asked of a category whose only model cannot call them: 400 with the reason the server gave for the model", async () => {
    const error = await openai().chat.completions.create({ model: "small", messages: [{ role: "user", content: "get_weather" }], tools: [weather] }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as Error).message).toMatch(/phi3\.5:3\.8b.*(no tool support|does not support tools)/)
    const viaOllama = await ollama().chat({ model: "small", messages: [{ role: "user", content: "get_weather" }], tools: [weather] }).then(() => undefined, (e: unknown) => e)
    expect((viaOllama as { status_code?: number }).status_code).toBe(400)
  })

  it("ollama client: tools as whole calls, the result turn by tool_name, format schema, think", async () => {
    const first = await ollama().chat({ model: "local", messages: [{ role: "user", content: "get_weather city=Rome" }], tools: [weather], think: false, stream: false })
    const call = first.message.tool_calls![0]!
    expect(call.function).toMatchObject({ name: "get_weather", arguments: { city: "Rome" } })
    const second = await ollama().chat({
      model: "local",
      think: false,
      stream: false,
      tools: [weather],
      messages: [
        { role: "user", content: "get_weather city=Rome" },
        first.message,
        { role: "tool", tool_name: "get_weather", content: "21 degrees" }
      ]
    })
    expect(second.message.content).toBe("Result of get_weather: 21 degrees")

    const schema = { type: "object", properties: { age: { type: "integer", minimum: 0, maximum: 120 } }, required: ["age"] }
    const json = await ollama().chat({ model: "local", messages: [{ role: "user", content: "age?" }], format: schema, think: false, stream: false })
    expect(Number.isInteger((JSON.parse(json.message.content) as { age: number }).age)).toBe(true)

    const thinking: Array<string> = []
    let content = ""
    for await (const part of await ollama().chat({ model: "local", messages: [{ role: "user", content: "Why is the sky blue" }], think: true, stream: true })) {
      if (part.message.thinking) thinking.push(part.message.thinking)
      content += part.message.content
    }
    expect(thinking.length).toBeGreaterThan(0)
    expect(content.length).toBeGreaterThan(0)
  })

  it("embeddings: ollama's embed and the openai client get the model's vectors, and the headers name the model", async () => {
    const answer = await ollama().embed({ model: "embed", input: ["sky", "grass"] })
    expect(answer.embeddings.map((v) => v.length)).toEqual([768, 768])
    const { data, response } = await openai().embeddings.create({ model: "embed", input: ["sky"], dimensions: 256 }).withResponse()
    expect(data.data[0]!.embedding).toHaveLength(256)
    expect(response.headers.get("x-local-router-model")).toBe("nomic-embed-text")
    // The same text and model give the same vector through either dialect (to float32 precision, base64 being float32).
    const full = await openai().embeddings.create({ model: "embed", input: "sky" })
    full.data[0]!.embedding.forEach((x, i) => expect(x).toBeCloseTo(answer.embeddings[0]![i]!, 6))
  })

  it("show and tags: each category's capabilities as the Ollama server reports its models", async () => {
    expect((await ollama().show({ model: "small" })).capabilities).toEqual(["completion"])
    expect((await ollama().show({ model: "local" })).capabilities).toEqual(["completion", "tools", "thinking"])
    expect((await ollama().show({ model: "embed" })).capabilities).toEqual(["embedding"])
    const { models } = await ollama().list()
    expect(models.find((m) => m.name === "agent")).toMatchObject({ capabilities: ["completion", "tools", "thinking"] })
  })

  it("a cut in the middle of a streamed tool call is an error the client throws, never a finished call", async () => {
    await e2e.sims.ollama.setFaults([{ kind: "cutAfterTokens", tokens: 1, route: "/api/chat" }])
    const error = await openai().chat.completions
      .stream({
        model: "local",
        messages: [{ role: "user", content: "get_weather city=Bern then get_time" }],
        tools: [weather, { ...weather, function: { ...weather.function, name: "get_time" } }],
        // No thinking, so the one token before the cut is the first whole call.
        reasoning_effort: "none"
      })
      .finalChatCompletion()
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as Error).message).toMatch(/ollama failed after the answer had started/)
  })

  describe("faults in tool-call and reasoning streams", () => {
    const rejected = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as Error)

    it("MLX hanging before its first tool call: the idle deadline moves the call to Ollama, invisibly", async () => {
      await e2e.sims.mlx.setFaults([{ kind: "hangAfterTokens", tokens: 0 }])
      const { data, response } = await openai().chat.completions
        .create({ model: "quick", messages: [{ role: "user", content: "use get_weather city=Kyiv" }], tools: [weather], reasoning_effort: "none" })
        .withResponse()
      expect(response.headers.get("x-local-router-backend")).toBe("ollama")
      expect(calls(data.choices[0]!.message)).toEqual([{ name: "get_weather", arguments: expect.objectContaining({ city: "Kyiv" }) }])
    })

    it("MLX hanging after its reasoning began: the client gets an error after the reasoning it saw, never a clean end", async () => {
      await e2e.sims.mlx.setFaults([{ kind: "hangAfterTokens", tokens: 2 }])
      const seen: Array<string> = []
      const error = await rejected((async () => {
        const stream = await openai().chat.completions.create({ model: "quick", messages: [{ role: "user", content: "Think about snow" }], stream: true })
        for await (const chunk of stream) {
          const delta = chunk.choices[0]?.delta as { reasoning_content?: string } | undefined
          if (delta?.reasoning_content) seen.push(delta.reasoning_content)
        }
      })())
      expect(seen.length).toBe(2)
      expect(error).toBeInstanceOf(OpenAI.APIError)
      expect(error!.message).toMatch(/mlx failed after the answer had started \(Timeout\)/)
    })

    it("Ollama cutting its stream mid-thinking: the ollama client throws after the thinking it saw", async () => {
      await e2e.sims.ollama.setFaults([{ kind: "cutAfterTokens", tokens: 2, route: "/api/chat" }])
      const thinking: Array<string> = []
      const error = await rejected((async () => {
        for await (const part of await ollama().chat({ model: "local", messages: [{ role: "user", content: "Why is grass green" }], think: true, stream: true })) {
          if (part.message.thinking) thinking.push(part.message.thinking)
        }
      })())
      expect(thinking).toHaveLength(2)
      expect(error?.message).toMatch(/ollama failed after the answer had started/)
    })

    it("Ollama answering 503 to a tool request: the ollama client's call falls back to MLX before anything is sent", async () => {
      await e2e.sims.ollama.setFaults([{ kind: "status", status: 503, route: "/api/chat" }])
      await e2e.sims.mlx.clearRequests()
      const answer = await ollama().chat({ model: "ollamaFirst", messages: [{ role: "user", content: "get_weather city=Quito" }], tools: [weather], think: false, stream: false })
      const call = answer.message.tool_calls![0]! as { id?: string; function: { name: string; arguments: unknown } }
      expect(call.function).toMatchObject({ name: "get_weather", arguments: { city: "Quito" } })
      // mlx_lm's ids are uuid4s (Ollama's are call_xxxxxxxx): the call is MLX's.
      expect(call.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect((await e2e.sims.mlx.requests()).filter((r) => r.path === "/v1/chat/completions")).toHaveLength(1)
    })

    it("MLX sending an in-band error in the middle of a two-call turn: the openai client throws, and sees no finished turn", async () => {
      await e2e.sims.mlx.setFaults([{ kind: "errorBody", afterTokens: 1 }])
      const error = await rejected(
        openai().chat.completions.stream({
          model: "agent",
          messages: [{ role: "user", content: "get_weather city=Rome then get_time" }],
          tools: [weather, { ...weather, function: { ...weather.function, name: "get_time" } }],
          reasoning_effort: "none"
        }).finalChatCompletion()
      )
      expect(error).toBeInstanceOf(OpenAI.APIError)
      expect(error!.message).toMatch(/mlx failed after the answer had started/)
    })
  })
})
