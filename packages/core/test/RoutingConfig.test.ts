import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { JsonSchema, RoutingConfig } from "../src/index.ts"

const repoRoot = path.resolve(import.meta.dirname, "../../..")

const base = `backends:
  mlx: { type: mlx, url: "http://127.0.0.1:11435" }
  ollama: { type: ollama, url: "http://127.0.0.1:11434" }
  cloud: { type: cloud, provider: openai, apiKey: env:OPENAI_API_KEY }
priorities:
  text: [mlx, ollama, cloud]
  image: [ollama, cloud]
categories:
  fast:
    input: text
    models: { mlx: m1, ollama: "phi3.5:3.8b", cloud: gpt-4o-mini }
  vision:
    input: image
    models:
      ollama: moondream
`

const errorsOf = (text: string) => {
  const result = RoutingConfig.parse(text, "routing.yaml")
  if (Result.isSuccess(result)) throw new Error("expected the config to be rejected")
  return result.failure
}

/** Line and column (1-based) of the first occurrence of `needle` in `text`. */
const positionOf = (text: string, needle: string) => {
  const offset = text.indexOf(needle)
  if (offset < 0) throw new Error(`needle not in case: ${needle}`)
  const before = text.slice(0, offset).split("\n")
  return { line: before.length, column: before.at(-1)!.length + 1 }
}

interface Case {
  readonly name: string
  readonly text: string
  /** Text at the reported position. */
  readonly at: string
  readonly path: string
  readonly message: RegExp
}

const edit = (from: string, to: string) => {
  if (!base.includes(from)) throw new Error(`not in base: ${from}`)
  return base.replace(from, to)
}

const cases: ReadonlyArray<Case> = [
  { name: "bad model name", text: edit(`ollama: "phi3.5:3.8b"`, `ollama: "phi 3.5"`), at: `"phi 3.5"`, path: "categories.fast.models.ollama", message: /expected a model name like "phi3\.5:3\.8b"/ },
  { name: "model as number", text: edit(`cloud: gpt-4o-mini }`, `cloud: 42 }`), at: `42`, path: "categories.fast.models.cloud", message: /model name/ },
  { name: "unknown top-level key with did-you-mean", text: base.replace("categories:", "categoris: {}\ncategories:"), at: "categoris", path: "categoris", message: /unknown key "categoris" \(did you mean "categories"\?\)/ },
  { name: "unknown category key", text: edit("    input: text\n", "    input: text\n    modles: {}\n"), at: "modles", path: "categories.fast.modles", message: /did you mean "models"/ },
  { name: "unknown priorities key", text: edit("  image: [ollama, cloud]", "  imgae: [ollama, cloud]"), at: "imgae", path: "priorities.imgae", message: /did you mean "image"/ },
  { name: "unknown timeouts key", text: edit("    input: text\n", "    input: text\n    timeouts: { firstTokn: 5s }\n"), at: "firstTokn", path: "categories.fast.timeouts.firstTokn", message: /did you mean "firstToken"/ },
  { name: "unknown key far from any", text: edit("    input: text\n", "    input: text\n    zzzzzz: 1\n"), at: "zzzzzz", path: "categories.fast.zzzzzz", message: /unknown key "zzzzzz" \(expected one of: description, input, models, priority, timeouts\)/ },
  { name: "bad input kind", text: edit("    input: text\n", "    input: txt\n"), at: "txt", path: "categories.fast.input", message: /expected one of text, image, pdf, embed/ },
  { name: "embed category without priorities.embed", text: edit("    input: image\n", "    input: embed\n"), at: "embed", path: "categories.vision.input", message: /no priority list for input "embed": add priorities\.embed/ },
  { name: "capability flag not a boolean", text: edit("type: ollama,", "type: ollama, capabilities: { tools: yes },"), at: "yes", path: "backends.ollama.capabilities.tools", message: /expected boolean, actual "yes"/ },
  { name: "unknown capability", text: edit("type: ollama,", "type: ollama, capabilities: { embedings: true },"), at: "embedings", path: "backends.ollama.capabilities.embedings", message: /unknown key "embedings" \(did you mean "embeddings"\?\)/ },
  { name: "model entry with an unknown key", text: edit("      ollama: moondream\n", "      ollama: { model: moondream, spce: v1 }\n"), at: "spce", path: "categories.vision.models.ollama.spce", message: /unknown key "spce" \(did you mean "space"\?\)/ },
  { name: "model entry without its model", text: edit("      ollama: moondream\n", "      ollama: { space: v1 }\n"), at: "{ space: v1 }", path: "categories.vision.models.ollama", message: /missing required key "model"/ },
  { name: "model entry capability misspelt", text: edit("      ollama: moondream\n", "      ollama: { model: moondream, capabilities: { tool: true } }\n"), at: "tool:", path: "categories.vision.models.ollama.capabilities.tool", message: /did you mean "tools"/ },
  { name: "missing input", text: edit("    input: text\n", ""), at: "models: { mlx", path: "categories.fast", message: /missing required key "input"/ },
  { name: "missing models", text: edit("    models:\n      ollama: moondream\n", ""), at: "input: image", path: "categories.vision", message: /missing required key "models"/ },
  { name: "missing backends", text: base.replace(/^backends:\n(  .*\n){3}/, ""), at: "priorities", path: "", message: /missing required key "backends"/ },
  { name: "missing type", text: edit(`mlx: { type: mlx, url`, `mlx: { url`), at: `{ url: "http://127.0.0.1:11435"`, path: "backends.mlx", message: /missing required key "type"/ },
  { name: "type is a number", text: edit("type: mlx,", "type: 3,"), at: "3,", path: "backends.mlx.type", message: /expected a backend type/ },
  { name: "bad url", text: edit(`url: "http://127.0.0.1:11435"`, `url: "127.0.0.1:11435"`), at: `"127.0.0.1:11435"`, path: "backends.mlx.url", message: /expected an http\(s\) URL/ },
  { name: "inline api key", text: edit("apiKey: env:OPENAI_API_KEY", "apiKey: sk-live-123456"), at: "sk-live-123456", path: "backends.cloud.apiKey", message: /secret reference like env:/ },
  { name: "inline token in a backend option", text: edit("provider: openai,", "provider: openai, token: abc123,"), at: "abc123", path: "backends.cloud.token", message: /secrets are never written inline/ },
  { name: "priority names unknown backend", text: edit("text: [mlx, ollama, cloud]", "text: [mlx, olama, cloud]"), at: "olama", path: "priorities.text[1]", message: /unknown backend "olama" \(did you mean "ollama"\?\)/ },
  { name: "priority lists a backend twice", text: edit("text: [mlx, ollama, cloud]", "text: [mlx, ollama, mlx]"), at: "mlx]", path: "priorities.text[2]", message: /listed twice/ },
  { name: "category model for unknown backend", text: edit("      ollama: moondream\n", "      ollama: moondream\n      moondream: moondream-2\n"), at: "moondream: moondream-2", path: "categories.vision.models.moondream", message: /unknown backend "moondream"/ },
  { name: "category priority override names unknown backend", text: edit("    input: text\n", "    input: text\n    priority: [cloud, nope]\n"), at: "nope", path: "categories.fast.priority[1]", message: /unknown backend "nope"/ },
  { name: "category with no backend to try", text: edit("      ollama: moondream\n", "      mlx: some-model\n"), at: "mlx: some-model", path: "categories.vision.models", message: /no backend to try/ },
  { name: "input kind without priorities", text: edit("    input: image\n", "    input: pdf\n"), at: "pdf", path: "categories.vision.input", message: /no priority list for input "pdf"/ },
  { name: "bad duration", text: edit("    input: text\n", "    input: text\n    timeouts: { total: soon }\n"), at: "soon", path: "categories.fast.timeouts.total", message: /expected a duration with its unit: ms, s, m or h \(e\.g\. "30s"/ },
  { name: "duration without a unit", text: edit("    input: text\n", "    input: text\n    timeouts: { firstToken: 30 }\n"), at: "30 }", path: "categories.fast.timeouts.firstToken", message: /expected a duration with its unit: ms, s, m or h \(e\.g\. "30s", "500ms", "2m", "1h"\)/ },
  { name: "breaker cooldown without a unit", text: base.replace("backends:", "defaults:\n  breaker: { cooldown: 30000 }\nbackends:"), at: "30000", path: "defaults.breaker.cooldown", message: /expected a duration with its unit/ },
  { name: "negative duration", text: edit("    input: text\n", "    input: text\n    timeouts: { idle: -5 }\n"), at: "-5", path: "categories.fast.timeouts.idle", message: /expected a duration/ },
  { name: "breaker failures not an integer", text: base.replace("backends:", "defaults:\n  breaker: { failures: 1.5 }\nbackends:"), at: "1.5", path: "defaults.breaker.failures", message: /integer/ },
  { name: "enabled not a boolean", text: edit("type: ollama,", "type: ollama, enabled: maybe,"), at: "maybe", path: "backends.ollama.enabled", message: /boolean/ },
  { name: "priorities not a list", text: edit("text: [mlx, ollama, cloud]", "text: mlx"), at: "mlx\n", path: "priorities.text", message: /ReadonlyArray|array|expected/ },
  { name: "category is a string", text: edit("  vision:\n    input: image\n    models:\n      ollama: moondream\n", "  vision: ollama\n"), at: "ollama\n", path: "categories.vision", message: /expected/ },
  { name: "bad backend name", text: edit("  mlx: {", "  9mlx: {"), at: "9mlx", path: "backends.9mlx", message: /invalid name "9mlx": expected letters, digits/ },
  { name: "version 2", text: `version: 2\n${base}`, at: "2", path: "version", message: /expected 1/ },
  { name: "YAML syntax: bad indentation", text: edit("    input: text\n", "   input: text\n"), at: "text\n    models", path: "", message: /YAML syntax/ },
  { name: "YAML syntax: unclosed flow map", text: edit(`cloud: gpt-4o-mini }`, `cloud: gpt-4o-mini`), at: "", path: "", message: /YAML syntax/ },
  { name: "YAML: duplicate category", text: `${base}  fast:\n    input: text\n    models: { ollama: x }\n`, at: "fast:\n    input: text\n    models: { ollama: x }", path: "", message: /YAML syntax: Map keys must be unique/ },
  { name: "YAML: tab indentation", text: edit("    input: text\n", "\tinput: text\n"), at: "", path: "", message: /YAML syntax/ },
  { name: "gateway token written inline", text: base.replace("backends:", "server:\n  token: hunter2\nbackends:"), at: "hunter2", path: "server.token", message: /secret reference like env:/ },
  { name: "server port out of range", text: base.replace("backends:", "server: { port: 70000 }\nbackends:"), at: "70000", path: "server.port", message: /between|65535/ },
  { name: "server origins not a list", text: base.replace("backends:", "server: { origins: http://localhost:3000 }\nbackends:"), at: "http://localhost:3000", path: "server.origins", message: /expected/ },
  { name: "server header timeout not a duration", text: base.replace("backends:", "server: { limits: { headersTimeout: soon } }\nbackends:"), at: "soon", path: "server.limits.headersTimeout", message: /duration|expected/ },
  { name: "server header cap too small", text: base.replace("backends:", "server: { limits: { maxHeaderBytes: 10 } }\nbackends:"), at: "10", path: "server.limits.maxHeaderBytes", message: /between|1024/ },
  { name: "empty file", text: "", at: "", path: "", message: /the file is empty/ },
  { name: "a list instead of a map", text: "- backends\n- priorities\n", at: "- backends", path: "", message: /expected/ }
]

describe("routing.yaml errors name file, line, column, field and what was expected", () => {
  it("has at least 30 malformed cases", () => expect(cases.length).toBeGreaterThanOrEqual(30))

  for (const c of cases) {
    it(c.name, () => {
      const error = errorsOf(c.text)
      expect(error.reason).toBe("Invalid")
      const issue = error.issues.find((i) => c.message.test(i.message))
      expect(issue, `issues were:\n${error.message}`).toBeDefined()
      expect(issue!.path).toBe(c.path)
      expect(issue!.file).toBe("routing.yaml")
      if (c.at) {
        const expected = positionOf(c.text, c.at)
        expect({ line: issue!.line, column: issue!.column }).toEqual(expected)
      } else {
        expect(issue!.line).toBeGreaterThan(0)
      }
      expect(String(issue)).toMatch(/^routing\.yaml:\d+:\d+ /)
      // Never a stack trace.
      expect(error.message).not.toMatch(/\n\s+at /)
    })
  }

  it("never repeats an inline secret in the error", () => {
    const error = errorsOf(edit("apiKey: env:OPENAI_API_KEY", "apiKey: sk-live-SECRET-987"))
    expect(error.message).not.toContain("SECRET-987")
    expect(JSON.stringify(error)).not.toContain("SECRET-987")
  })

  it("reports every problem at once, in file order", () => {
    const error = errorsOf(edit("text: [mlx, ollama, cloud]", "text: [mlx, olama, cloud]").replace("input: image", "input: imag"))
    expect(error.issues.length).toBe(1) // schema errors first: the reference check runs on a valid shape
    const both = errorsOf(edit("text: [mlx, ollama, cloud]", "text: [mlx, olama, clod]"))
    expect(both.issues.map((i) => i.path)).toEqual(["priorities.text[1]", "priorities.text[2]"])
  })

  it("validates a backend type's own options when the type is known", () => {
    const Options = Schema.Struct({ provider: Schema.Literals(["openai", "anthropic", "openrouter"]) })
    const result = RoutingConfig.parse(edit("provider: openai", "providr: openai"), "routing.yaml", {
      optionsSchemaFor: (type) => (type === "cloud" ? Options : undefined)
    })
    expect(Result.isFailure(result)).toBe(true)
    const messages = Result.isFailure(result) ? result.failure.issues.map(String) : []
    expect(messages.join("\n")).toMatch(/routing\.yaml:4:\d+ backends\.cloud\.providr: unknown key "providr" for a cloud backend \(did you mean "provider"\?\)/)
  })
})

describe("routing.yaml, valid", () => {
  it("capabilities per backend and per model, embed categories with priorities.embed and vector spaces", () => {
    const text = edit("type: ollama,", "type: ollama, capabilities: { tools: true, reasoning: false },")
      .replace("  image: [ollama, cloud]", "  image: [ollama, cloud]\n  embed: [ollama, mlx]")
      .replace("      ollama: moondream\n", "      ollama: { model: llava:7b, capabilities: { tools: false } }\n") +
      "  embed:\n    input: embed\n    models:\n      ollama: { model: nomic-embed-text, space: nomic }\n      mlx: nomic-embed-text-v1.5\n"
    const config = Result.getOrThrow(RoutingConfig.parse(text, "routing.yaml"))
    expect(config.backends.ollama!.capabilities).toEqual({ tools: true, reasoning: false })
    expect(config.backends.mlx!.capabilities).toEqual({})
    // The capabilities key is routing.yaml's, not the backend type's own options.
    expect(config.backends.ollama!.options).toEqual({})
    expect(config.categories.vision).toMatchObject({ models: { ollama: "llava:7b" }, capabilities: { ollama: { tools: false } } })
    expect(config.priorities.embed).toEqual(["ollama", "mlx"])
    expect(config.categories.embed).toMatchObject({
      input: "embed",
      models: { ollama: "nomic-embed-text", mlx: "nomic-embed-text-v1.5" },
      spaces: { ollama: "nomic", mlx: "nomic-embed-text-v1.5" },
      priority: ["ollama", "mlx"]
    })
  })


  it("server: browser origins (old cors.origins spelling added to them) and connection limits in milliseconds", () => {
    const text = base.replace(
      "backends:",
      "server:\n  origins: [\"https://chat.example.com\"]\n  cors: { origins: [\"http://app.test:8080\"] }\n  limits: { headersTimeout: 5s, requestTimeout: 2m, maxConnectionsPerClient: 16 }\nbackends:"
    )
    const { server } = Result.getOrThrow(RoutingConfig.parse(text, "routing.yaml"))
    expect(server.origins).toEqual(["https://chat.example.com", "http://app.test:8080"])
    expect(server.limits).toEqual({ headersTimeoutMs: 5_000, requestTimeoutMs: 120_000, maxConnectionsPerClient: 16 })
    expect(Result.getOrThrow(RoutingConfig.parse(base, "routing.yaml")).server).toMatchObject({ origins: [], limits: {} })
  })

  it("resolves categories to ordered routes, skipping backends without a model", () => {
    const config = Result.getOrThrow(RoutingConfig.parse(base, "routing.yaml"))
    const vision = config.categories.vision!
    expect(RoutingConfig.routeOf(config, vision)).toEqual([
      { backend: "ollama", model: "moondream", skip: undefined },
      { backend: "cloud", model: undefined, skip: "no model for this category" }
    ])
    expect(config.backends.cloud!.apiKeyEnv).toBe("OPENAI_API_KEY")
    expect(config.backends.cloud!.options).toEqual({ provider: "openai" })
    expect(config.defaults.timeouts.connect).toBe(30_000)
  })

  it.effect("loads the repo's routing.yaml: the original system's setup", () =>
    Effect.gen(function*() {
      const config = yield* RoutingConfig.load(path.join(repoRoot, "routing.yaml"))
      const route = (name: string) =>
        RoutingConfig.routeOf(config, config.categories[name]!).filter((s) => !s.skip).map((s) => `${s.backend}:${s.model}`)
      expect(route("fast")).toEqual(["mlx:mlx-community/Phi-3.5-mini-instruct-4bit", "ollama:phi3.5:3.8b", "cloud:gpt-4o-mini"])
      expect(route("default")[1]).toBe("ollama:phi3.5:3.8b")
      expect(route("tiny")).toEqual(["ollama:tinyllama:1.1b-chat", "cloud:gpt-4o-mini"])
      expect(route("code")[0]).toMatch(/^mlx:.*Qwen2\.5-Coder-32B/)
      expect(route("reasoning")[0]).toMatch(/^mlx:.*DeepSeek-R1-Distill-Llama-70B/)
      expect(route("vision")).toEqual(["moondream:moondream-2", "ollama:moondream", "cloud:gpt-4o-mini"])
      expect(route("vision_pdf")).toEqual(["ollama:llava:7b", "cloud:gpt-4o-mini"])
      expect(config.categories.code!.timeouts.firstToken).toBe(120_000)
    }))

  it("the committed JSON Schema is the one generated from the Effect Schema, and routing.yaml points at it", () => {
    const committed = fs.readFileSync(path.join(repoRoot, "packages/core/routing.schema.json"), "utf8")
    expect(committed).toBe(JsonSchema.render())
    const head = fs.readFileSync(path.join(repoRoot, "routing.yaml"), "utf8").split("\n")[0]
    expect(head).toBe("# yaml-language-server: $schema=./packages/core/routing.schema.json")
  })
})

describe("where the config comes from", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "lr-home-"))
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "lr-cwd-"))
  const userFile = path.join(home, ".config", "local-router", "routing.yaml")
  fs.mkdirSync(path.dirname(userFile), { recursive: true })
  fs.writeFileSync(userFile, base)

  it.effect("--config, then LOCAL_ROUTER_CONFIG, then ./routing.yaml, then ~/.config/local-router/routing.yaml", () =>
    Effect.gen(function*() {
      expect(yield* RoutingConfig.locate({ cwd, home, env: {} })).toBe(userFile)
      fs.writeFileSync(path.join(cwd, "routing.yaml"), base)
      expect(yield* RoutingConfig.locate({ cwd, home, env: {} })).toBe(path.join(cwd, "routing.yaml"))
      expect(yield* RoutingConfig.locate({ cwd, home, env: { LOCAL_ROUTER_CONFIG: userFile } })).toBe(userFile)
      expect(yield* RoutingConfig.locate({ cwd, home, env: { LOCAL_ROUTER_CONFIG: userFile }, flag: "routing.yaml" }))
        .toBe(path.join(cwd, "routing.yaml"))
      const missing = yield* Effect.flip(RoutingConfig.locate({ cwd, home, env: {}, flag: "nope.yaml" }))
      expect(missing.reason).toBe("NotFound")
      expect(missing.message).toContain("nope.yaml")
    }))
})

describe("backend types that name nothing installed (config check's typeProblem)", () => {
  const known = ["mlx", "ollama", "moondream", "cloud", "local-router-backend-llamacpp"]

  it("a near miss of a built-in or an installed plugin is said as a typo, never as a package to install", () => {
    const otherwise = "backend package not found; install it with: local-router plugin add olama"
    expect(RoutingConfig.unknownTypeMessage("olama", known, otherwise)).toBe(`unknown backend type "olama" (did you mean "ollama"?)`)
    expect(RoutingConfig.unknownTypeMessage("mxl", known, otherwise)).toBe(`unknown backend type "mxl" (did you mean "mlx"?)`)
    expect(RoutingConfig.unknownTypeMessage("local-router-backend-lamacpp", known, otherwise))
      .toBe(`unknown backend type "local-router-backend-lamacpp" (did you mean "local-router-backend-llamacpp"?)`)
    // Nothing near: the loader's own account stands.
    expect(RoutingConfig.unknownTypeMessage("local-router-backend-vllm", known, otherwise)).toBe(otherwise)
  })

  it("is reported at the backend's type, with file, line and column; without it, any type parses", () => {
    const text = edit("ollama: { type: ollama,", "ollama: { type: olama,")
    expect(Result.isSuccess(RoutingConfig.parse(text, "routing.yaml"))).toBe(true)
    const checked = RoutingConfig.parse(text, "routing.yaml", {
      typeProblem: (type) => type === "olama" ? RoutingConfig.unknownTypeMessage(type, known, "not found") : undefined
    })
    if (Result.isSuccess(checked)) throw new Error("expected the unknown type to be refused")
    expect(checked.failure.issues.map(String)).toEqual([
      `routing.yaml:${positionOf(text, "olama,").line}:${positionOf(text, "olama,").column} backends.ollama.type: unknown backend type "olama" (did you mean "ollama"?)`
    ])
  })
})
