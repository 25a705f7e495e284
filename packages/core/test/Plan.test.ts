import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { CircuitBreaker, Plan, Router, RoutingConfig } from "../src/index.ts"
import { ScriptedBackend } from "../src/testing/index.ts"

const yaml = `backends:
  mlx: { type: scripted, timeouts: { idle: 700ms } }
  ollama: { type: scripted }
  cloud: { type: scripted }
  vision: { type: scripted }
  off: { type: scripted, enabled: false }
  broken: { type: scripted }
  absent: { type: scripted }
defaults:
  timeouts: { connect: 1s, firstToken: 2s, idle: 500ms, total: 10s }
priorities:
  text: [mlx, off, broken, absent, ollama, cloud]
  image: [mlx, vision, cloud]
categories:
  default:
    input: text
    models: { ollama: "phi3.5:3.8b" }
  fast:
    input: text
    models: { mlx: m-mlx, off: m-off, broken: m-broken, absent: m-absent, ollama: "phi3.5:3.8b", cloud: gpt }
  tiny:
    input: text
    models: { ollama: "tinyllama:1.1b-chat", cloud: gpt }
  vision:
    input: image
    models: { mlx: m-mlx, vision: moondream, cloud: gpt }
  slow:
    input: text
    priority: [cloud, mlx]
    timeouts: { firstToken: 9s }
    models: { mlx: m-mlx, cloud: gpt }
`
const config = Result.getOrThrow(RoutingConfig.parse(yaml, "routing.yaml"))

const ready = (name: string, capabilities: { readonly text: boolean; readonly images: boolean }, timeouts = {}): Router.Slot =>
  Router.Slot.Ready({ backend: ScriptedBackend.make({ name, script: [{}], capabilities }).backend, timeouts })

const snapshot: Router.Snapshot = {
  version: 7,
  config,
  backends: new Map<string, Router.Slot>([
    // mlx's definition brings its own deadlines (a big model is slow to its first token).
    ["mlx", ready("mlx", { text: true, images: false }, { firstToken: 3_000, total: 20_000 })],
    ["ollama", ready("ollama", { text: true, images: false })],
    ["cloud", ready("cloud", { text: true, images: true })],
    ["vision", ready("vision", { text: false, images: true })],
    ["off", ready("off", { text: true, images: false })],
    ["broken", Router.Slot.Failed({ reason: "cannot find package 'local-router-broken'", code: "NotFound" })]
    // absent: no slot at all (its load has not finished)
  ])
}

const image = { data: new Uint8Array([1, 2, 3]), mime: "image/png" }

/** A candidate as a user reads it in a trace: backend, model, and "try" or why it is skipped. */
const row = (c: Plan.Candidate) => [c.backend, c.model, c._tag === "Try" ? "try" : c.reason]

const plan = (request: Router.Request) => Result.getOrThrow(Plan.forRequest(snapshot, request))

describe("Plan.forRequest: the candidates a request walks (pure, table-tested)", () => {
  const cases: ReadonlyArray<[string, Router.Request, ReadonlyArray<ReadonlyArray<string | undefined>>]> = [
    ["a category tries its priority list in order; backends without its model are skipped", { category: "tiny", prompt: "hi" }, [
      ["mlx", undefined, "no model for this category"],
      ["off", undefined, "no model for this category"],
      ["broken", undefined, "no model for this category"],
      ["absent", undefined, "no model for this category"],
      ["ollama", "tinyllama:1.1b-chat", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["disabled, failed-to-load and not-yet-loaded backends are skipped, each saying why", { category: "fast", prompt: "hi" }, [
      ["mlx", "m-mlx", "try"],
      ["off", "m-off", "disabled in routing.yaml"],
      ["broken", "m-broken", "failed to load: cannot find package 'local-router-broken'"],
      ["absent", "m-absent", "not loaded"],
      ["ollama", "phi3.5:3.8b", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["an image is never planned for a backend without image input", { category: "vision", messages: [{ role: "user", content: "what is this?", images: [image] }] }, [
      ["mlx", "m-mlx", "no image input"],
      ["vision", "moondream", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["an image-only backend is skipped for a request without an image", { category: "vision", prompt: "describe nothing" }, [
      ["mlx", "m-mlx", "try"],
      ["vision", "moondream", "needs an image"],
      ["cloud", "gpt", "try"]
    ]],
    ["a category's own priority list overrides its input kind's", { category: "slow", prompt: "hi" }, [
      ["cloud", "gpt", "try"],
      ["mlx", "m-mlx", "try"]
    ]],
    ["no category means the `default` category", { prompt: "hi" }, [
      ["mlx", undefined, "no model for this category"],
      ["off", undefined, "no model for this category"],
      ["broken", undefined, "no model for this category"],
      ["absent", undefined, "no model for this category"],
      ["ollama", "phi3.5:3.8b", "try"],
      ["cloud", undefined, "no model for this category"]
    ]],
    ["a pinned backend/model is the only candidate, with any model name", { pin: { backend: "cloud", model: "gpt-4o" }, prompt: "hi" }, [
      ["cloud", "gpt-4o", "try"]
    ]],
    ["a pinned backend that is disabled is skipped, not tried", { pin: { backend: "off", model: "x" }, prompt: "hi" }, [
      ["off", "x", "disabled in routing.yaml"]
    ]],
    ["a pinned backend that failed to load says why", { pin: { backend: "broken", model: "x" }, prompt: "hi" }, [
      ["broken", "x", "failed to load: cannot find package 'local-router-broken'"]
    ]],
    ["a pinned backend is still never sent an image it cannot take", { pin: { backend: "ollama", model: "llava:7b" }, messages: [{ role: "user", content: "", images: [image] }] }, [
      ["ollama", "llava:7b", "no image input"]
    ]]
  ]
  for (const [name, request, candidates] of cases) {
    it(name, () => expect(plan(request).candidates.map(row)).toEqual(candidates))
  }

  const refusals: ReadonlyArray<[string, Router.Request, string, RegExp | undefined, ReadonlyArray<string> | undefined]> = [
    ["an unknown category lists the known ones, with a suggestion", { category: "fats", prompt: "hi" }, "UnknownCategory", /unknown category "fats" \(did you mean "fast"\?\); categories are: default, fast, tiny, vision, slow/, ["default", "fast", "tiny", "vision", "slow"]],
    ["an unknown pinned backend lists the known ones, with a suggestion", { pin: { backend: "clod", model: "x" }, prompt: "hi" }, "UnknownBackend", /unknown backend "clod" \(did you mean "cloud"\?\)/, ["mlx", "ollama", "cloud", "vision", "off", "broken", "absent"]],
    ["a request with no prompt at all", { category: "fast" }, "InvalidRequest", /no prompt/, undefined],
    ["an empty prompt is no prompt", { category: "fast", prompt: "" }, "InvalidRequest", /no prompt/, undefined],
    ["a system prompt alone is no prompt", { category: "fast", system: "be brief" }, "InvalidRequest", /no prompt/, undefined],
    ["an assistant turn alone is no prompt", { category: "fast", messages: [{ role: "assistant", content: "hello" }] }, "InvalidRequest", /no prompt/, undefined],
    ["no prompt is refused before the category is even looked up", { category: "fats" }, "InvalidRequest", /no prompt/, undefined]
  ]
  for (const [name, request, reason, message, known] of refusals) {
    it(`refused: ${name}`, () => {
      const error = Result.getOrThrow(Result.flip(Plan.forRequest(snapshot, request)))
      expect(error.reason).toBe(reason)
      if (message) expect(error.message).toMatch(message)
      expect(error.known).toEqual(known)
      expect(error.trace).toMatchObject({ attempts: [], configVersion: 7 })
    })
  }

  it("an image alone, without text, is a prompt", () =>
    expect(plan({ category: "vision", messages: [{ role: "user", content: "", images: [image] }] }).candidates.map(row)[1]).toEqual(["vision", "moondream", "try"]))

  it("the messages sent are the system prompt, then the conversation, then the prompt", () =>
    expect(plan({ category: "fast", system: "be brief", messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }], prompt: "c" }).messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "a" },
      { role: "assistant", content: "b" },
      { role: "user", content: "c" }
    ]))

  const deadlines: ReadonlyArray<[string, Router.Request, string, Record<string, number>]> = [
    ["a backend with nothing of its own gets the defaults", { category: "fast", prompt: "hi" }, "ollama", { connect: 1_000, firstToken: 2_000, idle: 500, total: 10_000 }],
    ["a backend's definition overrides the defaults, and its routing.yaml entry overrides both", { category: "fast", prompt: "hi" }, "mlx", { connect: 1_000, firstToken: 3_000, idle: 700, total: 20_000 }],
    ["the category's own deadlines override everything", { category: "slow", prompt: "hi" }, "mlx", { connect: 1_000, firstToken: 9_000, idle: 700, total: 20_000 }],
    ["the category's deadlines apply to every backend it tries", { category: "slow", prompt: "hi" }, "cloud", { connect: 1_000, firstToken: 9_000, idle: 500, total: 10_000 }]
  ]
  for (const [name, request, backend, timeouts] of deadlines) {
    it(`deadlines: ${name}`, () => {
      const candidate = plan(request).candidates.find((c) => c.backend === backend)
      expect(candidate?._tag === "Try" ? candidate.timeouts : undefined).toEqual(timeouts)
    })
  }
})

describe("Plan.admit: the circuit's say when the walk reaches a candidate", () => {
  const { State } = CircuitBreaker
  const cases: ReadonlyArray<[string, CircuitBreaker.State, number, string | undefined]> = [
    ["a closed circuit lets it through", State.Closed({ failures: 1 }), 5_000, undefined],
    ["an open circuit skips it", State.Open({ until: 30_000 }), 5_000, "circuit open"],
    ["an open circuit past its cool-down lets one trial through", State.Open({ until: 30_000 }), 30_000, undefined],
    ["while that trial is in flight, others skip it", State.HalfOpen({ trialInFlight: true }), 31_000, "circuit open"],
    ["opened by the server's Retry-After, the skip says so and how long is left", State.Open({ until: 40_000, retryAfterMs: 30_000 }), 28_000, "circuit open: the server asked to retry after 30s (Retry-After), 12s left"],
    ["under a second left is said in milliseconds", State.Open({ until: 40_000, retryAfterMs: 1_500 }), 39_750, "circuit open: the server asked to retry after 1.5s (Retry-After), 250ms left"],
    ["once the Retry-After has passed, it is tried again", State.Open({ until: 40_000, retryAfterMs: 30_000 }), 40_000, undefined]
  ]
  for (const [name, state, now, skip] of cases) {
    it(name, () => expect(Plan.admit(state, now).skip).toEqual(skip))
  }

  it("letting the trial through marks it in flight, so the next request skips", () => {
    const { circuit } = Plan.admit(State.Open({ until: 1_000 }), 1_000)
    expect(Plan.admit(circuit, 1_001).skip).toBe("circuit open")
  })
})

describe("Plan.forRequest with capabilities: the type's defaults, routing.yaml's declarations and the server's report", () => {
  const agentYaml = `backends:
  mlx: { type: scripted, capabilities: { tools: true, reasoning: true } }
  ollama: { type: scripted }
  cloud: { type: scripted }
  emb: { type: scripted }
  emb2: { type: scripted }
  other: { type: scripted }
priorities:
  text: [mlx, ollama, cloud]
  embed: [emb, other, emb2]
categories:
  agent:
    input: text
    models: { mlx: m-mlx, ollama: "qwen3:8b", cloud: gpt }
  looky:
    input: text
    models:
      mlx: { model: m-mlx, capabilities: { reasoning: false } }
      ollama: { model: "llava:7b", capabilities: { jsonSchema: true } }
  embed:
    input: embed
    models: { emb: { model: nomic-embed-text, space: nomic }, other: all-minilm, emb2: { model: nomic.gguf, space: nomic } }
  embed-by-name:
    input: embed
    priority: [other, emb]
    models: { emb: all-minilm, other: all-minilm }
`
  const agentConfig = Result.getOrThrow(RoutingConfig.parse(agentYaml, "routing.yaml"))
  const slot = (name: string, capabilities: Partial<import("../src/Backend.ts").Capabilities>, embed = false): Router.Slot =>
    Router.Slot.Ready({ backend: ScriptedBackend.make({ name, script: [{}], capabilities, ...(embed ? { embed: [{}] } : {}) }).backend, timeouts: {} })
  const agentSnapshot: Router.Snapshot = {
    version: 3,
    config: agentConfig,
    backends: new Map<string, Router.Slot>([
      ["mlx", slot("mlx", {})],
      ["ollama", slot("ollama", { images: true })],
      ["cloud", slot("cloud", { images: true, tools: true, jsonSchema: true, reasoning: true })],
      ["emb", slot("emb", {}, true)],
      ["other", slot("other", {}, true)]
      // emb2: not loaded
    ])
  }
  /** What ollama's /api/show says; ollama's report for llava is unknown (the server did not answer). */
  const reports: Plan.Reports = (backend, model) =>
    backend !== "ollama"
      ? undefined
      : model === "qwen3:8b"
      ? { _tag: "Reported", capabilities: { tools: true, jsonSchema: true, reasoning: true } }
      : { _tag: "Unknown", why: "ollama could not say what llava:7b supports (connection refused)" }
  const rows = (request: Router.Request) => Result.getOrThrow(Plan.forRequest(agentSnapshot, request, reports)).candidates.map(row)
  const tools = [{ name: "f", parameters: { type: "object" } }]
  const image = { data: new Uint8Array([1]), mime: "image/png" }

  const cases: ReadonlyArray<[string, Router.Request, ReadonlyArray<ReadonlyArray<string | undefined>>]> = [
    ["plain text needs nothing beyond text", { category: "agent", prompt: "hi" }, [
      ["mlx", "m-mlx", "try"],
      ["ollama", "qwen3:8b", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["tools: the backend's declaration, the server's report and the type's defaults all say yes", { category: "agent", prompt: "hi", tools }, [
      ["mlx", "m-mlx", "try"],
      ["ollama", "qwen3:8b", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["a JSON Schema: mlx declares no JSON schema support", { category: "agent", prompt: "hi", responseFormat: { _tag: "JsonSchema", name: "x", schema: {} } }, [
      ["mlx", "m-mlx", "m-mlx: no JSON schema support"],
      ["ollama", "qwen3:8b", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["plain text format needs nothing", { category: "agent", prompt: "hi", responseFormat: { _tag: "Text" } }, [
      ["mlx", "m-mlx", "try"],
      ["ollama", "qwen3:8b", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["reasoning off needs nothing; on needs reasoning", { category: "looky", prompt: "hi", reasoning: { _tag: "On" } }, [
      ["mlx", "m-mlx", "m-mlx: no reasoning support"],
      ["ollama", "llava:7b", "llava:7b: no reasoning support (ollama could not say what llava:7b supports (connection refused); used routing.yaml's declarations and the scripted defaults)"],
      ["cloud", undefined, "no model for this category"]
    ]],
    ["an unknown report leaves the model entry's declaration and the defaults", { category: "looky", prompt: "hi", responseFormat: { _tag: "Json" } }, [
      ["mlx", "m-mlx", "m-mlx: no JSON schema support"],
      ["ollama", "llava:7b", "try"],
      ["cloud", undefined, "no model for this category"]
    ]],
    ["an image and tools: each skip names the first thing missing", { category: "agent", messages: [{ role: "user", content: "what?", images: [image] }], tools }, [
      ["mlx", "m-mlx", "no image input"],
      ["ollama", "qwen3:8b", "try"],
      ["cloud", "gpt", "try"]
    ]],
    ["tool choice none needs no tools", { category: "looky", prompt: "hi", tools, toolChoice: { _tag: "None" } }, [
      ["mlx", "m-mlx", "try"],
      ["ollama", "llava:7b", "try"],
      ["cloud", undefined, "no model for this category"]
    ]],
    ["a tool result turn is a prompt", { category: "agent", messages: [{ role: "assistant", content: "", toolCalls: [{ id: "1", name: "f", arguments: "{}" }] }, { role: "tool", content: "42", toolCallId: "1" }], tools }, [
      ["mlx", "m-mlx", "try"],
      ["ollama", "qwen3:8b", "try"],
      ["cloud", "gpt", "try"]
    ]]
  ]
  for (const [name, request, candidates] of cases) {
    it(name, () => expect(rows(request)).toEqual(candidates))
  }

  it("a candidate planned on declarations because its server could not say carries that as detail", () => {
    const ollama = Result.getOrThrow(Plan.forRequest(agentSnapshot, { category: "looky", prompt: "hi", responseFormat: { _tag: "Json" } }, reports)).candidates[1]!
    expect(ollama._tag === "Try" ? [ollama.capabilities.jsonSchema, ollama.detail] : []).toEqual([
      true,
      "ollama could not say what llava:7b supports (connection refused); used routing.yaml's declarations and the scripted defaults"
    ])
  })

  it("skips say their kind: config, health or capability", () => {
    const plan = Result.getOrThrow(Plan.forRequest(agentSnapshot, { category: "looky", prompt: "hi", reasoning: { _tag: "On" } }, reports))
    expect(plan.candidates.map((c) => (c._tag === "Skip" ? c.kind : "try"))).toEqual(["capability", "capability", "config"])
  })

  const embedRows = (request: Router.EmbedInput) => {
    const plan = Result.getOrThrow(Plan.forEmbed(agentSnapshot, request))
    return { space: plan.space, rows: plan.candidates.map(row) }
  }
  const embedCases: ReadonlyArray<[string, Router.EmbedInput, { space: string | undefined; rows: ReadonlyArray<ReadonlyArray<string | undefined>> }]> = [
    ["the first candidate's space; another model is skipped; one of the space that is down stays in the plan", { category: "embed", input: ["a"] }, {
      space: "nomic",
      rows: [
        ["emb", "nomic-embed-text", "try"],
        ["other", "all-minilm", "makes vectors of another space (all-minilm) than this category's (nomic); declare the same space: on both models if they make the same vectors"],
        ["emb2", "nomic.gguf", "not loaded"]
      ]
    }],
    ["without space:, the same model name is the same space", { category: "embed-by-name", input: ["a"] }, {
      space: "all-minilm",
      rows: [
        ["other", "all-minilm", "try"],
        ["emb", "all-minilm", "try"]
      ]
    }],
    ["the default category is `embed`; a pinned model is its own space", { pin: { backend: "mlx", model: "m-mlx" }, input: ["a"] }, {
      space: "m-mlx",
      rows: [["mlx", "m-mlx", "m-mlx: no embeddings support"]]
    }]
  ]
  for (const [name, request, expected] of embedCases) {
    it(`embed: ${name}`, () => expect(embedRows(request)).toEqual(expected))
  }

  const embedRefusals: ReadonlyArray<[string, Router.EmbedInput, string, RegExp]> = [
    ["nothing to embed", { input: [] }, "InvalidRequest", /nothing to embed/],
    ["a text category", { category: "agent", input: ["a"] }, "InvalidRequest", /category "agent" is for text input, not embeddings/],
    ["an unknown category", { category: "embd", input: ["a"] }, "UnknownCategory", /did you mean "embed"/],
    ["an unknown backend", { pin: { backend: "nope", model: "x" }, input: ["a"] }, "UnknownBackend", /unknown backend "nope"/]
  ]
  for (const [name, request, reason, message] of embedRefusals) {
    it(`embed refused: ${name}`, () => {
      const error = Result.getOrThrow(Result.flip(Plan.forEmbed(agentSnapshot, request)))
      expect([error.reason, error.message]).toEqual([reason, expect.stringMatching(message)])
    })
  }

  it("a chat request to an embed category is refused", () => {
    const error = Result.getOrThrow(Result.flip(Plan.forRequest(agentSnapshot, { category: "embed", prompt: "hi" })))
    expect(error.reason).toBe("InvalidRequest")
  })
})
