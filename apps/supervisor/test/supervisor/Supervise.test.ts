/** The `supervise:` block: defaults per backend type, located errors, binary lookup. */
import { describe, expect, it } from "@effect/vitest"
import { ModelName } from "@local-router/backend-ollama"
import { Backend } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Binary from "../../src/supervisor/Binary.ts"
import * as Plans from "../../src/supervisor/Plans.ts"
import * as Server from "../../src/supervisor/Server.ts"
import { loader, tempDir } from "./Fixture.ts"

const yaml = (backends: string) => `
version: 1
backends:
${backends}
priorities:
  text: [ollama]
categories:
  fast:
    input: text
    models: { ollama: "phi3.5:3.8b" }
  tiny:
    input: text
    models: { ollama: "tinyllama:1.1b-chat" }
`

const file = path.join(tempDir(), "routing.yaml")
const plan = (backends: string) => Effect.suspend(() => {
  fs.writeFileSync(file, yaml(backends))
  return Plans.load(file, loader)
})

describe("supervise: block", () => {
  it.effect("ships defaults for ollama serve, mlx_lm.server and Moondream Station", () =>
    Effect.gen(function*() {
      const { servers } = yield* plan(`
  ollama: { type: ollama, url: "http://127.0.0.1:11434" }
  mlx: { type: mlx, url: "http://127.0.0.1:11435", model: mlx-community/Phi-3.5-mini-instruct-4bit }
  moondream: { type: moondream, url: "http://127.0.0.1:2020/v1" }
  remote: { type: ollama, url: "http://10.0.0.5:11434" }
  off: { type: ollama, url: "http://127.0.0.1:11500", supervise: { enabled: false } }`)
      const by = Object.fromEntries(servers.map((s) => [s.plan.name, s.plan]))
      expect(Object.keys(by)).toEqual(["ollama", "mlx", "moondream"])
      expect(by.ollama).toMatchObject({
        command: "ollama",
        args: ["serve"],
        env: { OLLAMA_HOST: "127.0.0.1:11434" },
        port: 11434,
        adopt: true,
        models: ["phi3.5:3.8b", "tinyllama:1.1b-chat"],
        stop: { signal: "SIGTERM", grace: 10_000 }
      })
      expect(by.mlx).toMatchObject({
        command: "mlx_lm.server",
        args: ["--host", "127.0.0.1", "--port", "11435", "--model", "mlx-community/Phi-3.5-mini-instruct-4bit"]
      })
      expect(by.moondream).toMatchObject({ command: "moondream-station", stdin: "pipe", stop: { signal: "SIGINT" }, port: 2020 })
    }))

  it.effect("a block overrides the defaults; durations and sizes are written like the rest of routing.yaml", () =>
    Effect.gen(function*() {
      const { servers } = yield* plan(`
  ollama:
    type: ollama
    url: "http://127.0.0.1:11999"
    supervise:
      command: /opt/homebrew/bin/ollama
      env: { OLLAMA_KEEP_ALIVE: 30m }
      restart: { backoffMax: 2m, limit: 3 }
      stop: { grace: 5s }
      pull: { minFreeDisk: 500MB }`)
      expect(servers[0]!.plan).toMatchObject({
        command: "/opt/homebrew/bin/ollama",
        env: { OLLAMA_HOST: "127.0.0.1:11999", OLLAMA_KEEP_ALIVE: "30m" },
        restart: { backoffMin: 250, backoffMax: 120_000, window: 60_000, limit: 3 },
        stop: { grace: 5_000 },
        pull: { minFreeDisk: 500e6 }
      })
    }))

  it.effect("a mistake in the block is reported with file:line:col and a did-you-mean", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(plan(`
  ollama:
    type: ollama
    supervise:
      restart: { limt: 3 }
      stop: { signal: SIGSTOP }`))
      expect(error.message).toContain(`${file}:8:18 backends.ollama.supervise.restart.limt: unknown key "limt" for a supervise block (did you mean "limit"?)`)
      expect(error.message).toMatch(/routing\.yaml:9:23 backends\.ollama\.supervise\.stop\.signal: expected one of SIGTERM, SIGINT/)
    }))

  it.effect("a plugin's defaults come from its definition; one without them is supervised only when its block says how", () =>
    Effect.gen(function*() {
      const plugin = (name: string, supervise?: Backend.Definition["supervise"]) =>
        Backend.plugin({
          name,
          contract: Backend.CONTRACT_VERSION,
          options: Schema.Struct({}),
          make: () => Effect.die("not made in this test"),
          ...(supervise ? { supervise } : {})
        }) as Backend.Definition
      const builtins = new Map([
        ...loader.builtins,
        ["rich", plugin("rich", () => ({
          command: "rich-server",
          args: ["--port", "{port}"],
          port: 7777,
          readiness: { deadline: 300_000 },
          health: { interval: 10_000 }
        }))],
        ["bare", plugin("bare")]
      ])
      fs.writeFileSync(file, `
backends:
  rich: { type: rich }
  tuned: { type: rich, url: "http://127.0.0.1:7000", supervise: { readiness: { deadline: 5s } } }
  bare: { type: bare, url: "http://127.0.0.1:7001" }
  told: { type: bare, url: "http://127.0.0.1:7002", supervise: { command: bare-server } }
priorities:
  text: [rich]
categories:
  fast: { input: text, models: { rich: m } }
`)
      const { servers } = yield* Plans.load(file, { ...loader, builtins })
      const by = Object.fromEntries(servers.map((s) => [s.plan.name, s.plan]))
      expect(Object.keys(by)).toEqual(["rich", "tuned", "told"])
      expect(by.rich).toMatchObject({
        command: "rich-server",
        args: ["--port", "7777"],
        port: 7777,
        readiness: { deadline: 300_000, interval: 100 },
        health: { interval: 10_000, failures: 3 }
      })
      expect(by.tuned).toMatchObject({ port: 7000, args: ["--port", "7000"], readiness: { deadline: 5_000 } })
      expect(by.told).toMatchObject({ command: "bare-server", args: [], port: 7002, stdin: "pipe", stop: { signal: "SIGTERM" } })
      // Without `normalizeModel`, names compare exactly.
      const told = servers.find((s) => s.plan.name === "told")!
      expect(Server.modelsOf(["m", "M2"], Backend.Probe.Ready({ models: ["M", "M2"], loaded: [] }), told.normalizeModel)).toEqual({ present: ["M2"], missing: ["m"], loaded: [] })
      const ollama = (yield* plan(`  ollama: { type: ollama }`)).servers[0]!
      expect(ollama.plan.port).toBe(11434)
      expect(Server.modelsOf(["Moondream", "phi3.5:3.8b"], Backend.Probe.Ready({ models: ["moondream:latest"], loaded: [] }), ollama.normalizeModel))
        .toEqual({ present: ["Moondream"], missing: ["phi3.5:3.8b"], loaded: [] })
    }))

  describe("loaded: only what the server reports in memory, named as routing.yaml names it", () => {
    const ollama = ModelName.normalise
    it.each([
      ["Ollama's /api/ps lists one of two present models", ["phi3.5:3.8b", "Moondream"], ["phi3.5:3.8b", "moondream:latest"], ["moondream:latest"], ["Moondream"]],
      ["nothing in memory (or a server that cannot tell, as mlx_lm.server)", ["phi3.5:3.8b"], ["phi3.5:3.8b"], [], []],
      ["a loaded model routing.yaml does not name is not shown", ["phi3.5:3.8b"], ["phi3.5:3.8b", "llama3:8b"], ["llama3:8b"], []],
      ["a model reported loaded but not listed is not present, so not loaded", ["phi3.5:3.8b"], [], ["phi3.5:3.8b"], []]
    ])("%s", (_name, wanted, listed, inMemory, loaded) => {
      expect(Server.modelsOf(wanted, Backend.Probe.Ready({ models: listed, loaded: inMemory }), ollama)?.loaded).toEqual(loaded)
    })
    it("a server that is not Ready has no models at all (not \"none loaded\")", () => {
      expect(Server.modelsOf(["m"], Backend.Probe.Busy({ detail: "loading" }), (m) => m)).toBeUndefined()
    })
  })

  describe("canPull: a pull API, or a pull.command to run instead", () => {
    const backend = (pull: boolean) => ({ capabilities: { text: true, images: false, streaming: true, pull } }) as Backend.Backend
    it.each([
      ["Ollama (pull API)", undefined, backend(true), true],
      ["Moondream Station (no pull API, no command)", undefined, backend(false), false],
      ["mlx with pull.command", ["huggingface-cli", "download", "{model}"], backend(false), true],
      ["a type that cannot be loaded here, no command", undefined, undefined, false]
    ] as const)("%s", (_name, command, made, expected) => {
      expect(Server.canPull({ pull: { onStart: true, command, minFreeDisk: 0 } }, made)).toBe(expected)
    })
  })

  it("binaries are found on PATH, then in the usual Mac places; a missing one names where it looked", () => {
    const home = tempDir()
    const bin = path.join(home, ".local", "bin")
    fs.mkdirSync(bin, { recursive: true })
    fs.writeFileSync(path.join(bin, "mlx_lm.server"), "#!/bin/sh\n", { mode: 0o755 })
    const env = { PATH: "/usr/bin:/bin", HOME: home }
    expect(Binary.find("mlx_lm.server", env)).toEqual({ _tag: "Found", path: path.join(bin, "mlx_lm.server") })
    const missing = Binary.find("ollama", env)
    expect(missing._tag).toBe("Missing")
    expect(missing._tag === "Missing" && missing.searched).toEqual(["/usr/bin", "/bin", "/opt/homebrew/bin", "/usr/local/bin", bin])
    expect(Binary.find("sh", env)._tag).toBe("Found")
    expect(Result.isResult(Result.succeed(1))).toBe(true)
  })
})
