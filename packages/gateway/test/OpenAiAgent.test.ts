/**
 * The official `openai` npm client, unchanged, doing what agents do through the gateway:
 * tool calls (whole and streamed, and the SDK's own tool loop sending results back),
 * JSON-schema output, reasoning, embeddings, and the 400 when no backend can call tools.
 */
import OpenAI from "openai"
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

const client = (r: Running) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: "unused", maxRetries: 0 })

const ask = { role: "user", content: "weather in Tokyo?" } as const

/** The SSE body as the JSON of each `data:` event (with `[DONE]` as the string). */
const sse = async (r: Running, body: Record<string, unknown>): Promise<Array<unknown>> => {
  const res = await fetch(`${r.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
  expect(res.status).toBe(200)
  return (await res.text()).split("\n\n").filter((frame) => frame.startsWith("data: ")).map((frame) => {
    const data = frame.slice("data: ".length)
    return data === "[DONE]" ? data : JSON.parse(data)
  })
}

describe("openai client -> gateway: agents", () => {
  it("tools, non-streamed: the call in message.tool_calls, content null, finish_reason tool_calls; the tools reach the backend", async () => {
    const r = await boot({ mlx: [{ toolCalls: [{ id: "call_1", name: "get_weather", arguments: `{"city":"Tokyo"}` }] }] })
    const answer = await client(r).chat.completions.create({
      model: "agent",
      messages: [ask],
      tools: [weather],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      parallel_tool_calls: false
    })
    const choice = answer.choices[0]!
    expect(choice.finish_reason).toBe("tool_calls")
    expect(choice.message.content).toBeNull()
    expect(choice.message.tool_calls).toEqual([{ id: "call_1", type: "function", function: { name: "get_weather", arguments: `{"city":"Tokyo"}` } }])
    const sent = r.scripted.mlx.requests[0]!
    expect(sent.tools).toEqual([{ name: "get_weather", description: "Weather in a city", parameters: weather.function.parameters }])
    expect(sent.toolChoice).toEqual({ _tag: "Named", name: "get_weather" })
    expect(sent.parallelToolCalls).toBe(false)
  })

  it("tools, streamed: OpenAI's exact chunks (header with index, id, type, name, empty arguments; then index + fragments); the SDK's stream helper assembles the calls", async () => {
    const script = {
      mlx: [{
        toolCalls: [
          { id: "call_a", name: "get_weather", arguments: [`{"ci`, `ty":"To`, `kyo"}`] },
          { id: "call_b", name: "get_weather", arguments: [`{"city":`, `"Paris"}`] }
        ]
      }]
    }
    const r = await boot(script)
    const frames = await sse(r, { model: "agent", messages: [ask], tools: [weather], stream: true })
    const deltas = frames.slice(0, -2).map((f) => (f as { choices: Array<{ delta: unknown }> }).choices[0]!.delta)
    expect(deltas).toEqual([
      { role: "assistant", content: null },
      { tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "get_weather", arguments: "" } }] },
      { tool_calls: [{ index: 0, function: { arguments: `{"ci` } }] },
      { tool_calls: [{ index: 0, function: { arguments: `ty":"To` } }] },
      { tool_calls: [{ index: 0, function: { arguments: `kyo"}` } }] },
      { tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "get_weather", arguments: "" } }] },
      { tool_calls: [{ index: 1, function: { arguments: `{"city":` } }] },
      { tool_calls: [{ index: 1, function: { arguments: `"Paris"}` } }] }
    ])
    expect((frames.at(-2) as { choices: Array<{ delta: unknown; finish_reason: string }> }).choices[0]).toMatchObject({ delta: {}, finish_reason: "tool_calls" })
    expect(frames.at(-1)).toBe("[DONE]")

    await running!.close()
    const again = await boot(script)
    const final = await client(again).chat.completions.stream({ model: "agent", messages: [ask], tools: [weather] }).finalChatCompletion()
    expect(final.choices[0]!.finish_reason).toBe("tool_calls")
    expect(final.choices[0]!.message.tool_calls).toEqual([
      { id: "call_a", type: "function", function: { name: "get_weather", arguments: `{"city":"Tokyo"}` } },
      { id: "call_b", type: "function", function: { name: "get_weather", arguments: `{"city":"Paris"}` } }
    ])
  })

  it("the tool-result turn: the SDK's runTools calls the tool and sends the result back; the backend sees the call and the result tied to it", async () => {
    const r = await boot({
      mlx: (request) =>
        request.messages.some((m) => m.role === "tool")
          ? { tokens: ["It is ", "11 degrees"] }
          : { toolCalls: [{ id: "call_7", name: "get_weather", arguments: `{"city":"Tokyo"}` }] }
    })
    const seen: Array<unknown> = []
    const runner = client(r).chat.completions.runTools({
      model: "agent",
      messages: [ask],
      tools: [{
        type: "function",
        function: {
          name: "get_weather",
          description: weather.function.description,
          parameters: { ...weather.function.parameters, required: ["city"] },
          parse: JSON.parse,
          function: (args: { city: string }) => {
            seen.push(args)
            return "11 degrees celsius"
          }
        }
      }]
    })
    expect(await runner.finalContent()).toBe("It is 11 degrees")
    expect(seen).toEqual([{ city: "Tokyo" }])
    const second = r.scripted.mlx.requests[1]!.messages
    expect(second.slice(1)).toEqual([
      { role: "assistant", content: "", toolCalls: [{ id: "call_7", name: "get_weather", arguments: `{"city":"Tokyo"}` }] },
      { role: "tool", content: "11 degrees celsius", toolCallId: "call_7", toolName: "get_weather" }
    ])
  })

  it("response_format json_schema reaches the backend as a JSON Schema with its name and strict; json_object as JSON", async () => {
    const r = await boot({ mlx: [{ tokens: [`{"city":`, `"Tokyo"}`] }] })
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false }
    const answer = await client(r).chat.completions.create({
      model: "agent",
      messages: [ask],
      response_format: { type: "json_schema", json_schema: { name: "place", schema, strict: true } }
    })
    expect(JSON.parse(answer.choices[0]!.message.content!)).toEqual({ city: "Tokyo" })
    expect(r.scripted.mlx.requests[0]!.responseFormat).toEqual({ _tag: "JsonSchema", name: "place", schema, strict: true })
    await client(r).chat.completions.create({ model: "agent", messages: [ask], response_format: { type: "json_object" } })
    expect(r.scripted.mlx.requests[1]!.responseFormat).toEqual({ _tag: "Json" })
  })

  it("json_schema: an answer that does not match falls back whole, and a streamed one ends in an error rather than a clean end", async () => {
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
    const response_format = { type: "json_schema" as const, json_schema: { name: "place", schema } }
    const r = await boot({ mlx: [{ tokens: [`{"town":"Tokyo"}`] }], ollama: [{ tokens: [`{"city":"Tokyo"}`] }] })
    const { data, response } = await client(r).chat.completions.create({ model: "agent", messages: [ask], response_format }).withResponse()
    expect(JSON.parse(data.choices[0]!.message.content!)).toEqual({ city: "Tokyo" })
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    const trace = (data as unknown as { local_router: { trace: { attempts: Array<{ backend: string; outcome: string }> } } }).local_router.trace
    expect(trace.attempts.map((a) => [a.backend, a.outcome])).toEqual([["mlx", "failed"], ["ollama", "answered"]])

    let text = ""
    const error = await (async () => {
      const stream = await client(r).chat.completions.create({ model: "agent", messages: [ask], response_format, stream: true })
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
    })().then(() => undefined, (e: unknown) => e)
    expect(text).toBe(`{"town":"Tokyo"}`)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as Error).message).toMatch(/schema/i)
  })

  it("reasoning: reasoning_effort reaches the backend; reasoning_content streams before the content and is on the whole message", async () => {
    const r = await boot({ mlx: [{ reasoning: ["Let me ", "think"], tokens: ["Sunny"] }] })
    const frames = await sse(r, { model: "agent", messages: [ask], reasoning_effort: "low", stream: true })
    const deltas = frames.slice(0, -2).map((f) => (f as { choices: Array<{ delta: unknown }> }).choices[0]!.delta)
    expect(deltas).toEqual([
      { role: "assistant", content: null },
      { reasoning_content: "Let me " },
      { reasoning_content: "think" },
      { content: "Sunny" }
    ])
    expect(r.scripted.mlx.requests[0]!.reasoning).toEqual({ _tag: "On", effort: "low" })
    const whole = await client(r).chat.completions.create({ model: "agent", messages: [ask], reasoning_effort: "none" })
    expect(whole.choices[0]!.message).toMatchObject({ content: "Sunny", reasoning_content: "Let me think" })
    expect(r.scripted.mlx.requests[1]!.reasoning).toEqual({ _tag: "Off" })
    // What clients of local servers send for Qwen3-style models.
    await client(r).chat.completions.create({ model: "agent", messages: [ask], chat_template_kwargs: { enable_thinking: false } } as never)
    expect(r.scripted.mlx.requests[2]!.reasoning).toEqual({ _tag: "Off" })
  })

  it("a failure in the middle of a streamed tool call is an error the SDK throws, never a finished call", async () => {
    const r = await boot({ mlx: [{ toolCalls: [{ id: "call_x", name: "get_weather", arguments: [`{"ci`] }], end: "Upstream" }] })
    const error = await client(r).chat.completions.stream({ model: "agent", messages: [ask], tools: [weather] }).finalChatCompletion().then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as Error).message).toMatch(/mlx failed after the answer had started \(Upstream\)/)
  })

  it("tools against a category whose only backend cannot call them: a 400 BadRequestError saying why it was skipped", async () => {
    const r = await boot()
    const error = await client(r).chat.completions.create({ model: "plain", messages: [ask], tools: [weather] }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/cloud.*no tool support/)
    expect(r.scripted.cloud.requests).toHaveLength(0)
    // Streamed, the same 400 before any byte of a stream.
    const streamed = await client(r).chat.completions.create({ model: "plain", messages: [ask], tools: [weather], stream: true }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(streamed).toBeInstanceOf(OpenAI.BadRequestError)
  })

  it("bad agent fields are 400s naming the field", async () => {
    const r = await boot()
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ tools: [{ type: "custom", custom: { name: "x" } }] }, /tools\[0\]\.type must be "function"/],
      [{ tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } }, /tool_choice names the function "nope", which is not in tools/],
      [{ response_format: { type: "json_schema", json_schema: { schema: {} } } }, /response_format\.json_schema\.name/],
      [{ response_format: { type: "yaml" } }, /response_format\.type must be/],
      [{ tool_choice: "required" }, /tool_choice "required" needs tools/],
      [{ reasoning_effort: "extreme" }, /reasoning_effort must be one of/],
      [{ reasoning: { effort: "turbo" } }, /reasoning\.effort must be one of/],
      [{ functions: [{ name: "f" }] }, /deprecated spelling: send tools/],
      [{ parallel_tool_calls: "yes" }, /parallel_tool_calls must be a boolean/],
      [{ messages: [{ role: "tool", content: "11C" }] }, /messages\[0\]\.tool_call_id/],
      [
        { messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{not json" } }] }] },
        /messages\[0\]\.tool_calls\[0\]\.function\.arguments must be the JSON text of an object/
      ]
    ]
    for (const [fields, message] of cases) {
      const error = await client(r).chat.completions.create({ model: "agent", messages: [ask], ...fields } as never).then(() => undefined, (e: unknown) => e)
      expect(error, JSON.stringify(fields)).toBeInstanceOf(OpenAI.BadRequestError)
      expect((error as Error).message).toMatch(message)
    }
    expect(r.scripted.mlx.requests).toHaveLength(0)
  })

  it("embeddings: the SDK's default (base64) decodes to the backend's vectors; float on request; dimensions pass; headers name the model that made them", async () => {
    const r = await boot()
    const { data: answer, response } = await client(r).embeddings.create({ model: "embed", input: ["sky", "grass"] }).withResponse()
    const made = r.scripted.ollama.embedRequests[0]!
    expect(made).toMatchObject({ model: "nomic-embed-text", input: ["sky", "grass"] })
    expect(answer.data.map((d) => d.index)).toEqual([0, 1])
    expect(answer.data[0]!.embedding).toHaveLength(8)
    expect(answer.usage).toEqual({ prompt_tokens: 8, total_tokens: 8 })
    expect(response.headers.get("x-local-router-backend")).toBe("ollama")
    expect(response.headers.get("x-local-router-model")).toBe("nomic-embed-text")
    const floats = await client(r).embeddings.create({ model: "embed", input: "sky", encoding_format: "float", dimensions: 3 })
    expect(floats.data[0]!.embedding).toHaveLength(3)
    expect(r.scripted.ollama.embedRequests[1]!.dimensions).toBe(3)
    // base64 is float32: the same vector to float32 precision.
    const again = await client(r).embeddings.create({ model: "embed", input: "sky" })
    const exact = await client(r).embeddings.create({ model: "embed", input: "sky", encoding_format: "float" })
    again.data[0]!.embedding.forEach((x, i) => expect(x).toBeCloseTo(exact.data[0]!.embedding[i]!, 6))
  })

  it("embeddings fall back within one vector space, and the headers say which model made the vectors", async () => {
    running = await start({}, { yaml, abilities: { ...agentAbilities, ollama: { ...agentAbilities.ollama, embed: [{ fail: "Unreachable" }] } } })
    const { response } = await client(running).embeddings.create({ model: "embed", input: "sky" }).withResponse()
    expect(response.headers.get("x-local-router-backend")).toBe("cloud")
    expect(response.headers.get("x-local-router-model")).toBe("nomic-embed-text-v1.5")
    expect(response.headers.get("x-local-router-attempts")).toBe("2")
  })

  it("embeddings: token-id input and a bad encoding_format are 400s", async () => {
    const r = await boot()
    const tokens = await client(r).embeddings.create({ model: "embed", input: [1, 2, 3] }).then(() => undefined, (e: unknown) => e)
    expect(tokens).toBeInstanceOf(OpenAI.BadRequestError)
    expect((tokens as Error).message).toMatch(/token ids is not supported/)
    const format = await fetch(`${r.url}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "embed", input: "x", encoding_format: "int8" }) })
    expect(format.status).toBe(400)
    expect(((await format.json()) as { error: { message: string } }).error.message).toMatch(/Supported values: \['float', 'base64'\]/)
  })

  it("a chat category asked for vectors, or an embed category asked to chat, is a 400 that says so", async () => {
    const r = await boot()
    const vectors = await client(r).embeddings.create({ model: "agent", input: "sky" }).then(() => undefined, (e: unknown) => e)
    expect(vectors).toBeInstanceOf(OpenAI.BadRequestError)
    expect((vectors as Error).message).toMatch(/embed/)
    const chat = await client(r).chat.completions.create({ model: "embed", messages: [ask] }).then(() => undefined, (e: unknown) => e)
    expect(chat).toBeInstanceOf(OpenAI.BadRequestError)
    expect((chat as Error).message).toMatch(/embed/)
    expect(r.scripted.ollama.embedRequests).toHaveLength(0)
  })

  it("/status plans an embed category as embeddings: its route is the embedding model, not a refusal", async () => {
    const r = await boot()
    const { router: status } = (await (await fetch(`${r.url}/status`)).json()) as { router: { routes: Array<{ category: string; input: string; answer?: { backend: string; model: string } }> } }
    expect(status.routes.find((route) => route.category === "embed")).toMatchObject({ input: "embed", answer: { backend: "ollama", model: "nomic-embed-text" } })
    expect(status.routes.find((route) => route.category === "agent")).toMatchObject({ input: "text", answer: { backend: "mlx", model: "m-mlx" } })
  })

  it("models list what each category can do", async () => {
    const r = await boot()
    const cards = new Map<string, unknown>()
    for await (const model of client(r).models.list()) cards.set(model.id, (model as unknown as { capabilities: unknown }).capabilities)
    expect(cards.get("agent")).toEqual({ text: true, images: false, tools: true, json_schema: true, reasoning: true, embeddings: false })
    expect(cards.get("plain")).toEqual({ text: true, images: true, tools: false, json_schema: false, reasoning: false, embeddings: false })
    expect(cards.get("embed")).toEqual({ text: false, images: false, tools: false, json_schema: false, reasoning: false, embeddings: true })
  })
})
