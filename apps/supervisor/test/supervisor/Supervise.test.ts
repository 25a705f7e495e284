/** The `supervise:` block: defaults per backend type, located errors, binary lookup. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Binary from "../../src/supervisor/Binary.ts"
import * as Plans from "../../src/supervisor/Plans.ts"
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

const plan = (backends: string) => Plans.fromText(yaml(backends), "/Users/u/routing.yaml", loader)

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
      expect(error.message).toContain(`/Users/u/routing.yaml:8:18 backends.ollama.supervise.restart.limt: unknown key "limt" for a supervise block (did you mean "limit"?)`)
      expect(error.message).toMatch(/routing\.yaml:9:23 backends\.ollama\.supervise\.stop\.signal: expected one of SIGTERM, SIGINT/)
    }))

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
    expect(Either.isEither(Either.right(1))).toBe(true)
  })
})
