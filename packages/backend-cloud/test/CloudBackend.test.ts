/**
 * The cloud backend against sim-openai (also in OpenRouter mode) and sim-anthropic, real
 * processes on OS-assigned ports: the core contract for each provider, the wire each one
 * expects, every failure mapping, and the API key that must never leak.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { type Backend, type BackendError, RoutingConfig } from "@local-router/core"
import { Generated, contractSuite } from "@local-router/core/testing"
import { type Fault, Simulator } from "@local-router/simulators"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { createServer } from "node:net"
import * as path from "node:path"
import { CloudBackend, CloudOptions, definition } from "../src/index.ts"

const { collect, failureOf } = Generated

const openAiKey = "sk-proj-SIMULATED-openai-key-0123456789"
const openRouterKey = "sk-or-v1-SIMULATED-openrouter-key-0123456789"
const anthropicKey = "sk-ant-api03-SIMULATED-anthropic-key-0123456789"

/** A 1x1 PNG. */
const png = Uint8Array.from(Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64"))

let openai: Simulator.Running
let openrouter: Simulator.Running
let anthropic: Simulator.Running

beforeAll(async () => {
  ;[openai, openrouter, anthropic] = await Promise.all([
    Simulator.start("openai", { args: ["--api-key", openAiKey, "--tokens", "5"] }),
    Simulator.start("openai", { args: ["--openrouter", "--api-key", openRouterKey, "--tokens", "5"] }),
    Simulator.start("anthropic", { args: ["--api-key", anthropicKey, "--models", "claude-sonnet-4-5,claude-haiku-4-5", "--tokens", "5"] })
  ])
})
afterAll(async () => {
  await Promise.all([openai.stop(), openrouter.stop(), anthropic.stop()])
})
beforeEach(async () => {
  await Promise.all([openai, openrouter, anthropic].flatMap((sim) => [sim.clearFaults(), sim.clearRequests()]))
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

const contextOf = (
  url: string | undefined,
  raw: Record<string, unknown>,
  key: string | undefined,
  apiKeyEnv: string | undefined
): Backend.MakeContext<CloudOptions.CloudOptions> => ({
  name: "cloud-test",
  url,
  apiKey: key === undefined ? undefined : Redacted.make(key),
  apiKeyEnv,
  options: Schema.decodeUnknownSync(CloudOptions.CloudOptions)(raw),
  configDir: process.cwd()
})

/** `key: null` makes the backend as if the key's variable were unset. */
const makeOpenAi = (raw: Record<string, unknown> = {}, key: string | null = openAiKey) =>
  definition.make(contextOf(openai.url, { provider: "openai", ...raw }, key ?? undefined, "CLOUD_TEST_KEY"))
const makeOpenRouter = (raw: Record<string, unknown> = {}, key: string | null = openRouterKey) =>
  definition.make(contextOf(`${openrouter.url}/api/v1`, { provider: "openrouter", ...raw }, key ?? undefined, "CLOUD_TEST_KEY"))
const makeAnthropic = (raw: Record<string, unknown> = {}, key: string | null = anthropicKey) =>
  definition.make(contextOf(anthropic.url, { provider: "anthropic", ...raw }, key ?? undefined, "CLOUD_TEST_KEY"))

const unreachable = (provider: CloudOptions.Provider, key: string) =>
  Effect.promise(freePort).pipe(Effect.flatMap((port) => definition.make(contextOf(`http://127.0.0.1:${port}`, { provider }, key, "CLOUD_TEST_KEY"))))

const ask = (model: string, content = "Say hello", extra: Partial<Backend.GenerateRequest> = {}): Backend.GenerateRequest => ({
  model,
  messages: [{ role: "user", content }],
  ...extra
})

const faults = (sim: () => Simulator.Running, list: ReadonlyArray<Fault>) => Effect.promise(() => sim().setFaults(list))
const requestsOf = (sim: () => Simulator.Running) => Effect.promise(() => sim().requests())

const noLeak = (error: BackendError.BackendError, key: string) =>
  expect(JSON.stringify(error) + error.message + String(error)).not.toContain(key)

contractSuite("cloud (openai)", {
  make: Effect.suspend(() => makeOpenAi()),
  model: "gpt-4o-mini",
  missingModel: "gpt-does-not-exist",
  makeUnreachable: unreachable("openai", openAiKey),
  image: { model: "gpt-4o-mini", image: { data: png, mime: "image/png" } },
  secret: Redacted.make(openAiKey)
})

contractSuite("cloud (openrouter)", {
  make: Effect.suspend(() => makeOpenRouter()),
  model: "openai/gpt-4o-mini",
  missingModel: "nobody/no-such-model",
  makeUnreachable: unreachable("openrouter", openRouterKey),
  image: { model: "openai/gpt-4o-mini", image: { data: png, mime: "image/png" } },
  secret: Redacted.make(openRouterKey)
})

contractSuite("cloud (anthropic)", {
  make: Effect.suspend(() => makeAnthropic()),
  model: "claude-sonnet-4-5",
  missingModel: "claude-does-not-exist",
  makeUnreachable: unreachable("anthropic", anthropicKey),
  image: { model: "claude-sonnet-4-5", image: { data: png, mime: "image/png" } },
  secret: Redacted.make(anthropicKey)
})

describe("cloud: the API key", () => {
  it.effect("a missing key fails generate with Auth naming the variable, and sends nothing", () =>
    Effect.gen(function*() {
      for (const make of [makeOpenAi, makeOpenRouter, makeAnthropic]) {
        const backend = yield* make({}, null)
        const { error, seen } = yield* failureOf(backend, ask("gpt-4o-mini"))
        expect(error.reason).toBe("Auth")
        expect(error.backend).toBe("cloud-test")
        expect(error.message).toContain("CLOUD_TEST_KEY")
        expect(seen).toHaveLength(0)
        expect((yield* Effect.flip(backend.models)).reason).toBe("Auth")
        const probe = yield* backend.probe
        expect(probe._tag).toBe("Unreachable")
        expect(JSON.stringify(probe)).toContain("CLOUD_TEST_KEY")
      }
      for (const sim of [openai, openrouter, anthropic]) expect(yield* Effect.promise(() => sim.requests())).toHaveLength(0)
    }))

  it.effect("without apiKey in routing.yaml, the message says what to add", () =>
    Effect.gen(function*() {
      const backend = yield* definition.make(contextOf(undefined, { provider: "anthropic" }, undefined, undefined))
      const { error } = yield* failureOf(backend, ask("claude-sonnet-4-5"))
      expect(error.reason).toBe("Auth")
      expect(error.message).toContain("apiKey: env:ANTHROPIC_API_KEY")
    }))

  it.effect("a rejected key is Auth for each provider, and the key is in no error", () =>
    Effect.gen(function*() {
      const wrong = "sk-WRONG-but-secret-9876543210"
      const cases = [
        yield* makeOpenAi({}, wrong),
        yield* makeOpenRouter({}, wrong),
        yield* makeAnthropic({}, wrong)
      ]
      for (const backend of cases) {
        const { error } = yield* failureOf(backend, ask("gpt-4o-mini"))
        expect(error.reason).toBe("Auth")
        expect(error.status).toBe(401)
        noLeak(error, wrong)
        const probe = yield* backend.probe
        expect(probe._tag).toBe("Unreachable")
        expect(JSON.stringify(probe)).not.toContain(wrong)
      }
    }))
})

describe("cloud (openai): wire and failures", () => {
  it.effect("sends Bearer auth, max_completion_tokens, images as data URLs, and asks for usage", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenAi()
      const events = yield* collect(backend, {
        model: "gpt-4o-mini",
        messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is this?", images: [{ data: png, mime: "image/png" }] }],
        options: { maxTokens: 50, temperature: 0.2 }
      })
      expect(events.map((e) => e._tag).slice(-2)).toEqual(["Usage", "Done"])
      expect(events.filter((e) => e._tag === "TextDelta").length).toBeGreaterThan(0)
      const [request] = yield* requestsOf(() => openai)
      expect(request?.body).toMatchObject({ max_completion_tokens: 50, temperature: 0.2, stream: true, stream_options: { include_usage: true } })
      expect(request?.images).toEqual([
        expect.objectContaining({ prefix: "data:image/png;base64,", sha256: createHash("sha256").update(png).digest("hex") })
      ])
    }))

  it.effect("429 with Retry-After is Overloaded carrying retryAfterMs", () =>
    Effect.gen(function*() {
      yield* faults(() => openai, [{ kind: "status", status: 429, retryAfter: 7 }])
      const { error } = yield* failureOf(yield* makeOpenAi(), ask("gpt-4o-mini"))
      expect(error.reason).toBe("Overloaded")
      expect(error.retryAfterMs).toBe(7000)
      expect(error.message).toContain("Rate limit reached")
    }))

  it.effect("429 insufficient_quota is Auth: billing, not busy", () =>
    Effect.gen(function*() {
      yield* faults(() => openai, [{ kind: "status", status: 429, code: "insufficient_quota" }])
      const { error } = yield* failureOf(yield* makeOpenAi(), ask("gpt-4o-mini"))
      expect(error.reason).toBe("Auth")
      expect(error.message).toContain("quota")
    }))

  it.effect("500 is Upstream, 503 is Overloaded", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenAi()
      yield* faults(() => openai, [{ kind: "status", status: 500 }])
      expect((yield* failureOf(backend, ask("gpt-4o-mini"))).error.reason).toBe("Upstream")
      yield* faults(() => openai, [{ kind: "status", status: 503 }])
      expect((yield* failureOf(backend, ask("gpt-4o-mini"))).error.reason).toBe("Overloaded")
    }))

  it.effect("an error inside the stream after tokens is Upstream, never a clean end", () =>
    Effect.gen(function*() {
      yield* faults(() => openai, [{ kind: "errorBody", afterTokens: 2, message: "The server had an error" }])
      const { error, seen } = yield* failureOf(yield* makeOpenAi(), ask("gpt-4o-mini"))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("The server had an error")
      expect(seen.filter((e) => e._tag === "TextDelta")).toHaveLength(2)
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("a cut stream is StreamCut; a malformed chunk is Upstream", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenAi()
      yield* faults(() => openai, [{ kind: "cutAfterTokens", tokens: 3 }])
      expect((yield* failureOf(backend, ask("gpt-4o-mini"))).error.reason).toBe("StreamCut")
      yield* faults(() => openai, [{ kind: "malformedJson" }])
      expect((yield* failureOf(backend, ask("gpt-4o-mini"))).error.reason).toBe("Upstream")
    }))

  it.live("interrupting a request whose headers never come ends it promptly", () =>
    Effect.gen(function*() {
      yield* faults(() => openai, [{ kind: "hangBeforeHeaders" }])
      const fiber = yield* Effect.forkChild(collect(yield* makeOpenAi(), ask("gpt-4o-mini")))
      yield* requestsOf(() => openai).pipe(Effect.repeat({ until: (r) => r.length > 0, schedule: Schedule.spaced("20 millis") }))
      yield* Fiber.interrupt(fiber).pipe(Effect.timeout(Duration.seconds(5)))
      expect((yield* Fiber.await(fiber))._tag).toBe("Failure")
    }))

  it.effect("probe lists the models without spending tokens", () =>
    Effect.gen(function*() {
      const probe = yield* (yield* makeOpenAi()).probe
      expect(probe).toMatchObject({ _tag: "Ready", models: ["gpt-4o-mini", "gpt-4o"] })
      const requests = yield* requestsOf(() => openai)
      expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v1/models"])
    }))
})

describe("cloud (openrouter): wire and failures", () => {
  it.effect("sends the attribution headers and skips OPENROUTER PROCESSING comments", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenRouter({ referer: "https://example.org/app", title: "local-router tests" })
      const events = yield* collect(backend, ask("openai/gpt-4o-mini", "Say hello", { options: { maxTokens: 40 } }))
      expect(events.at(-1)?._tag).toBe("Done")
      const [request] = yield* requestsOf(() => openrouter)
      expect(request?.path).toBe("/api/v1/chat/completions")
      expect(request?.headers["http-referer"]).toBe("https://example.org/app")
      expect(request?.headers["x-title"]).toBe("local-router tests")
      expect(request?.body).toMatchObject({ max_tokens: 40 })
    }))

  it.effect("an error after generation started (HTTP 200, finish_reason error) is Upstream", () =>
    Effect.gen(function*() {
      yield* faults(() => openrouter, [{ kind: "errorBody", afterTokens: 1, message: "Provider disconnected" }])
      const { error, seen } = yield* failureOf(yield* makeOpenRouter(), ask("openai/gpt-4o-mini"))
      expect(error.reason).toBe("Upstream")
      expect(error.message).toContain("Provider disconnected")
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("402 (no credits) is Auth; 502 is Upstream; 429 is Overloaded", () =>
    Effect.gen(function*() {
      const backend = yield* makeOpenRouter()
      for (const [status, reason] of [[402, "Auth"], [502, "Upstream"], [429, "Overloaded"]] as const) {
        yield* faults(() => openrouter, [{ kind: "status", status }])
        expect((yield* failureOf(backend, ask("openai/gpt-4o-mini"))).error.reason).toBe(reason)
      }
    }))
})

describe("cloud (anthropic): wire and failures", () => {
  it.effect("system apart, images as base64 source blocks, x-api-key and anthropic-version, a token limit always", () =>
    Effect.gen(function*() {
      const backend = yield* makeAnthropic()
      const events = yield* collect(backend, {
        model: "claude-sonnet-4-5",
        messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is this?", images: [{ data: png, mime: "image/png" }] }],
        options: { temperature: 0.5, stop: ["END"] }
      })
      const deltas = events.filter((e) => e._tag === "TextDelta").length
      expect(events.map((e) => e._tag)).toEqual(["Start", ...Array(deltas).fill("TextDelta"), "Usage", "Done"])
      expect(events.at(-2)).toMatchObject({ usage: { outputTokens: deltas } })
      expect(events.at(-1)).toMatchObject({ finishReason: "stop" })
      const [request] = yield* requestsOf(() => anthropic)
      expect(request?.path).toBe("/v1/messages")
      expect(request?.headers["anthropic-version"]).toBe("2023-06-01")
      expect(request?.body).toMatchObject({
        model: "claude-sonnet-4-5",
        system: "Be brief.",
        max_tokens: 4096,
        temperature: 0.5,
        stop_sequences: ["END"],
        stream: true,
        messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png" } }, { type: "text", text: "What is this?" }] }]
      })
      expect(request?.images).toEqual([expect.objectContaining({ prefix: "", sha256: createHash("sha256").update(png).digest("hex") })])
    }))

  it.effect("max_tokens reached finishes with `length`", () =>
    Effect.gen(function*() {
      const events = yield* collect(yield* makeAnthropic(), ask("claude-sonnet-4-5", "hi", { options: { maxTokens: 2 } }))
      expect(events.at(-1)).toMatchObject({ finishReason: "length" })
    }))

  it.effect("529 is Overloaded; 429 is Overloaded with retryAfterMs", () =>
    Effect.gen(function*() {
      const backend = yield* makeAnthropic()
      yield* faults(() => anthropic, [{ kind: "status", status: 529 }])
      const e529 = (yield* failureOf(backend, ask("claude-sonnet-4-5"))).error
      expect(e529.reason).toBe("Overloaded")
      expect(e529.message).toContain("overloaded_error")
      yield* faults(() => anthropic, [{ kind: "status", status: 429, retryAfter: 12 }])
      const e429 = (yield* failureOf(backend, ask("claude-sonnet-4-5"))).error
      expect(e429.reason).toBe("Overloaded")
      expect(e429.retryAfterMs).toBe(12_000)
    }))

  it.effect("`event: error` mid-stream (overloaded_error) is Overloaded after the tokens that arrived", () =>
    Effect.gen(function*() {
      yield* faults(() => anthropic, [{ kind: "errorBody", afterTokens: 2 }])
      const { error, seen } = yield* failureOf(yield* makeAnthropic(), ask("claude-sonnet-4-5"))
      expect(error.reason).toBe("Overloaded")
      expect(seen.filter((e) => e._tag === "TextDelta")).toHaveLength(2)
      expect(seen.some((e) => e._tag === "Done")).toBe(false)
    }))

  it.effect("a stream cut before message_stop is StreamCut; a malformed message_stop is Upstream", () =>
    Effect.gen(function*() {
      const backend = yield* makeAnthropic()
      yield* faults(() => anthropic, [{ kind: "cutAfterTokens", tokens: 2 }])
      expect((yield* failureOf(backend, ask("claude-sonnet-4-5"))).error.reason).toBe("StreamCut")
      yield* faults(() => anthropic, [{ kind: "malformedJson" }])
      expect((yield* failureOf(backend, ask("claude-sonnet-4-5"))).error.reason).toBe("Upstream")
    }))

  it.effect("500 is Upstream", () =>
    Effect.gen(function*() {
      yield* faults(() => anthropic, [{ kind: "status", status: 500 }])
      expect((yield* failureOf(yield* makeAnthropic(), ask("claude-sonnet-4-5"))).error.reason).toBe("Upstream")
    }))
})

describe("cloud: definition and options", () => {
  it("is a contract 2 plugin whose options name the provider", () => {
    expect(definition.name).toBe("cloud")
    expect(definition.contract).toBe("2.0")
    const decode = Schema.decodeUnknownExit(CloudOptions.CloudOptions)
    expect(Exit.isSuccess(decode({ provider: "openrouter", referer: "https://x", title: "x" }))).toBe(true)
    expect(Exit.isFailure(decode({ provider: "gemini" }))).toBe(true)
    expect(Exit.isFailure(decode({}))).toBe(true)
  })

  it("url overrides: OpenAI-compatible bases get /v1 when given a bare origin; Anthropic's drops it", () => {
    expect(CloudBackend.openAiBaseOf("http://127.0.0.1:9000")).toBe("http://127.0.0.1:9000/v1")
    expect(CloudBackend.openAiBaseOf("https://openrouter.ai/api/v1/")).toBe("https://openrouter.ai/api/v1")
    expect(CloudBackend.anthropicBaseOf("https://api.anthropic.com/v1")).toBe("https://api.anthropic.com")
  })
})

describe("cloud: the repo's routing.yaml", () => {
  it.effect("its cloud entries are valid options for this backend", () =>
    Effect.gen(function*() {
      const file = path.resolve(import.meta.dirname, "../../../routing.yaml")
      const config = yield* RoutingConfig.load(file, { optionsSchemaFor: (type) => (type === "cloud" ? definition.options : undefined) })
      const entries = Object.values(config.backends).filter((b) => b.type === "cloud")
      expect(entries.length).toBeGreaterThan(0)
      for (const entry of entries) expect(Exit.isSuccess(Schema.decodeUnknownExit(CloudOptions.CloudOptions)(entry.options))).toBe(true)
    }))
})
