/**
 * The llama.cpp backend against sim-llamacpp (a fake llama-server run as a real process on an
 * OS-assigned port): core's contract, and what this backend knows that the generic
 * OpenAI-compatible path does not — loading is Busy, the one model is checked, slots and
 * props feed the probe, the in-stream error line fails the answer, and the supervise defaults.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type Backend, Events } from "@local-router/core"
import { contractSuite } from "@local-router/core/testing"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createServer } from "node:net"
import { definition, LlamaCppBackend, LlamaCppOptions, ServerState } from "../src/index.js"

const gguf = "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"

let sim: Simulator.Running

beforeAll(async () => {
  sim = await Simulator.start("llamacpp", { args: ["--model", gguf, "--parallel", "2", "--ctx-size", "64", "--no-context-shift"], readyTimeoutMs: 30_000 })
})
afterAll(async () => {
  await sim.stop()
})

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const contextOf = (url: string, raw: Record<string, unknown> = {}): Backend.MakeContext<LlamaCppOptions.Options> => ({
  name: "llama",
  url,
  apiKey: undefined,
  apiKeyEnv: undefined,
  options: Schema.decodeUnknownSync(LlamaCppOptions.LlamaCppOptions)(raw),
  configDir: process.cwd()
})

const make = (url: string, raw: Record<string, unknown> = {}) => definition.make(contextOf(url, raw))

const ask = (model: string, content = "Say hello"): Backend.GenerateRequest => ({ model, messages: [{ role: "user", content }] })

const collect = (backend: Backend.Backend, request: Backend.GenerateRequest) => Stream.runCollect(Events.stream(backend.generate(request)))

contractSuite("llamacpp", {
  make: Effect.suspend(() => make(sim.url)),
  model: "qwen2.5-0.5b-instruct-q4_k_m",
  missingModel: "llama-3.1-70b-instruct",
  makeUnreachable: Effect.promise(freePort).pipe(Effect.flatMap((port) => make(`http://127.0.0.1:${port}`)))
})

describe("llama.cpp backend", () => {
  it.effect("answers to the model by its path, file name or name without .gguf; any other name is ModelMissing, not a silent wrong model", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      expect(yield* backend.models).toEqual([gguf, "qwen2.5-0.5b-instruct-q4_k_m.gguf", "qwen2.5-0.5b-instruct-q4_k_m"])
      for (const name of [gguf, "qwen2.5-0.5b-instruct-q4_k_m.gguf"]) expect((yield* collect(backend, ask(name))).at(-1)?._tag).toBe("Done")
      const error = yield* Effect.flip(collect(backend, ask("phi3.5:3.8b")))
      expect(error.reason).toBe("ModelMissing")
      expect(error.message).toContain(`runs ${gguf}, not phi3.5:3.8b`)
    }))

  it.live("a server still loading its model probes Busy (not dead) and fails a request Overloaded", () =>
    Effect.gen(function*() {
      const loading = yield* Effect.acquireRelease(
        Effect.promise(() => Simulator.start("llamacpp", { args: ["--load-ms", "60000"], readyTimeoutMs: 30_000 })),
        (s) => Effect.promise(() => s.stop())
      )
      const backend = yield* make(loading.url)
      const probe = yield* backend.probe
      expect(probe._tag).toBe("Busy")
      expect(probe._tag === "Busy" && probe.detail).toMatch(/loading its model/)
      const error = yield* Effect.flip(collect(backend, ask(gguf)))
      expect([error.reason, error.status]).toEqual(["Overloaded", 503])
      expect(error.message).toMatch(/still loading its model/)
    }))

  it.live("the probe reads /slots: every slot generating is Busy (requests queue), a free slot is Ready with the loaded model", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      expect(yield* backend.probe).toMatchObject({ _tag: "Ready", loaded: [gguf] })
      yield* Effect.promise(() => sim.setFaults([{ kind: "slowTokens", ms: 200 }]))
      yield* Effect.addFinalizer(() => Effect.promise(() => sim.clearFaults()))
      const answers = yield* Effect.forkChild(Effect.all([collect(backend, ask(gguf, "[[tokens:5]] one")), collect(backend, ask(gguf, "[[tokens:5]] two"))], { concurrency: 2 }))
      const busy = yield* backend.probe.pipe(
        Effect.tap((p) => (p._tag === "Busy" ? Effect.void : Effect.sleep("20 millis"))),
        Effect.repeat({ until: (p) => p._tag === "Busy" }),
        Effect.timeout("10 seconds")
      )
      expect(busy._tag === "Busy" && busy.detail).toMatch(/all 2 slots are generating/)
      yield* Fiber.await(answers)
    }))

  it.effect("/props gives the model file and context per slot", () =>
    Effect.gen(function*() {
      const state = yield* definitionState(sim.url)
      expect(state).toMatchObject({ _tag: "Ready", model: gguf, modelPath: gguf, contextSize: 32, slots: { total: 2, processing: 0 } })
    }))

  it.effect("an error inside the stream (llama-server's `error:` line) fails the answer instead of ending it empty", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(" ")
      const error = yield* Effect.flip(collect(backend, ask(gguf, long)))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toMatch(/exceeds the available context size/)
    }))

  it("supervises as `llama-server -m <gguf> --host 127.0.0.1 --port N` with the entry's alias, context and slots", () => {
    const defaults = definition.supervise!(contextOf("http://127.0.0.1:8091/v1", { model: gguf, alias: "qwen", contextSize: 8192, parallel: 4 }))
    expect(defaults.command).toBe("llama-server")
    expect(defaults.args).toEqual(["-m", gguf, "--host", "127.0.0.1", "--port", "8091", "--alias", "qwen", "-c", "8192", "-np", "4"])
    const embedding = definition.supervise!(contextOf("http://127.0.0.1:8092", { model: gguf, embeddings: true }))
    expect(embedding.args).toEqual(["-m", gguf, "--host", "127.0.0.1", "--port", "8092", "--embeddings"])
  })

  it.effect("declares every agent feature llama-server has (contract 2.0)", () =>
    Effect.map(make(sim.url), (backend) => {
      expect(definition.contract).toBe("2.0")
      expect(backend.capabilities).toMatchObject({ text: true, tools: true, jsonSchema: true, reasoning: true, embeddings: true })
      expect(typeof backend.embed).toBe("function")
    }))

  it.effect("modelCapabilities reads /props for the model it runs (images from modalities.vision); another model is ModelMissing", () =>
    Effect.gen(function*() {
      const backend = yield* make(sim.url)
      expect(yield* backend.modelCapabilities!(gguf)).toMatchObject({ images: false })
      expect((yield* Effect.flip(backend.modelCapabilities!("phi3.5:3.8b"))).reason).toBe("ModelMissing")
    }))

  it("propsCapabilities: vision and the template's tool support, only where /props says them", () => {
    expect(ServerState.propsCapabilities({ modalities: { vision: true, audio: false }, chat_template_caps: { supports_tools: false } })).toEqual({ images: true, tools: false })
    expect(ServerState.propsCapabilities({ model_path: gguf })).toEqual({})
    expect(ServerState.propsCapabilities(undefined)).toEqual({})
  })
})

const definitionState = (url: string) =>
  Effect.flatMap(make(url), () =>
    ServerState.read({ backend: "llama", origin: LlamaCppBackend.originOf(url), client: { backend: "llama", baseUrl: `${LlamaCppBackend.originOf(url)}/v1` } }))

// Contract 2.0 against a llama-server that runs a thinking model with --embeddings.
const qwen3 = "/models/Qwen3-8B-Q4_K_M.gguf"
let agentSim: Simulator.Running
beforeAll(async () => {
  agentSim = await Simulator.start("llamacpp", { args: ["--model", qwen3, "--embeddings", "--tokens", "5"], readyTimeoutMs: 30_000 })
})
afterAll(async () => {
  await agentSim.stop()
})

contractSuite("llamacpp (agent)", {
  make: Effect.suspend(() => make(agentSim.url)),
  model: "Qwen3-8B-Q4_K_M",
  missingModel: "llama-3.1-70b-instruct",
  tools: { model: "Qwen3-8B-Q4_K_M" },
  reasoning: { model: "Qwen3-8B-Q4_K_M" },
  jsonSchema: { model: "Qwen3-8B-Q4_K_M" },
  embed: { model: "Qwen3-8B-Q4_K_M" }
})

describe("llama.cpp backend: contract 2.0 on the wire", () => {
  const weather = { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
  const time = { name: "get_time", description: "Time", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
  const lastBody = Effect.promise(async () => (await agentSim.requests()).filter((r) => r.path === "/v1/chat/completions").at(-1)?.body as Record<string, any>)

  it.effect("tool calls stream as header + fragments with llama-server's 32-character ids; a named tool goes alone as `required` (it reads tool_choice as a string only)", () =>
    Effect.gen(function*() {
      const backend = yield* make(agentSim.url)
      const request: Backend.GenerateRequest = {
        model: "Qwen3-8B-Q4_K_M",
        messages: [{ role: "user", content: "get_weather and get_time city=Oslo" }],
        tools: [weather, time],
        reasoning: { _tag: "Off" }
      }
      const events = yield* collect(backend, request)
      const starts = events.filter((e) => e._tag === "ToolCallStart")
      expect(starts.map((e) => e.name)).toEqual(["get_weather", "get_time"])
      for (const start of starts) expect(start.id).toMatch(/^[0-9A-Za-z]{32}$/)
      expect(events.at(-1)).toMatchObject({ _tag: "Done", finishReason: "tool_calls" })
      expect((yield* lastBody)["chat_template_kwargs"]).toEqual({ enable_thinking: false })
      const named = yield* collect(backend, { ...request, toolChoice: { _tag: "Named", name: "get_time" } })
      expect(named.filter((e) => e._tag === "ToolCallStart").map((e) => e.name)).toEqual(["get_time"])
      const body = yield* lastBody
      expect(body["tool_choice"]).toBe("required")
      expect(body["tools"].map((t: { function: { name: string } }) => t.function.name)).toEqual(["get_time"])
    }))

  it.effect("reasoning_content streams as reasoning; effort goes as reasoning_effort", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* make(agentSim.url), { model: qwen3, messages: [{ role: "user", content: "Why?" }], reasoning: { _tag: "On", effort: "high" } })
      expect(events.some((e) => e._tag === "ReasoningDelta")).toBe(true)
      expect((yield* lastBody)["reasoning_effort"]).toBe("high")
    }))

  it.effect("embeddings: 896-dim normalised vectors; a server started without --embeddings answers 501, which fails that request only", () =>
    Effect.gen(function*() {
      const result = yield* (yield* make(agentSim.url)).embed!({ model: qwen3, input: ["a", "b"] })
      expect(result.vectors.map((v) => v.length)).toEqual([896, 896])
      expect(Math.hypot(...result.vectors[0]!)).toBeCloseTo(1, 4)
      const plain = yield* make(sim.url)
      const error = yield* Effect.flip(plain.embed!({ model: gguf, input: ["a"] }))
      expect([error.reason, error.status]).toEqual(["Upstream", 501])
      expect(error.message).toContain("--embeddings")
      expect((yield* collect(plain, ask(gguf))).at(-1)?._tag).toBe("Done")
    }))

  it.effect("a stream cut right after a tool call's header is StreamCut: the call started, never ended, no Done", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => agentSim.setFaults([{ kind: "cutAfterTokens", tokens: 1 }]))
      yield* Effect.addFinalizer(() => Effect.promise(() => agentSim.clearFaults()))
      const seen: Array<Backend.GenerateEvent> = []
      const error = yield* Stream.runForEach(
        Events.stream((yield* make(agentSim.url)).generate({
          model: qwen3,
          messages: [{ role: "user", content: "use get_weather city=Oslo" }],
          tools: [weather],
          reasoning: { _tag: "Off" }
        })),
        (e) => Effect.sync(() => seen.push(e))
      ).pipe(Effect.flip)
      expect(error.reason).toBe("StreamCut")
      expect(seen.filter((e) => e._tag === "ToolCallStart")).toHaveLength(1)
      expect(seen.some((e) => e._tag === "ToolCallEnd" || e._tag === "Done")).toBe(false)
    }))

  it.effect("/props: the running model's template takes tools", () =>
    Effect.gen(function*() {
      expect(yield* (yield* make(agentSim.url)).modelCapabilities!(qwen3)).toMatchObject({ images: false, tools: true })
    }))
})
