/**
 * The loading path, end to end: routing.yaml says `type: ollama`, core's loader finds this
 * package's definition (registered as a built-in, the way the application registers it),
 * validates the entry's own options with this package's schema (file:line:col on a mistake),
 * makes the backend, and the Router answers a category through it from sim-ollama.
 *
 * (Resolving the package by name, `type: ollama`, works under plain
 * Node; under vitest core's loader fails to import a .ts file by URL, reported to core.)
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type Backend, BackendLoader, Router } from "@local-router/core"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { definition } from "../src/index.ts"

// Definition<OllamaOptions> is not assignable to core's Definition<unknown> (make's parameter
// is contravariant); the cast is what an application registering built-ins writes today.
const builtins = new Map<string, BackendLoader.Builtin>([["ollama", definition as unknown as Backend.Definition]])

let sim: Simulator.Running
beforeAll(async () => {
  sim = await Simulator.start("ollama")
})
afterAll(async () => {
  await sim.stop()
})

const routing = (keepAlive: string) => `
backends:
  local-ollama:
    type: ollama
    url: "${sim.url}"
    keepAlive: ${keepAlive}
priorities:
  text: [local-ollama]
categories:
  fast:
    input: text
    models:
      local-ollama: "phi3.5:3.8b"
`

const file = () => join(mkdtempSync(join(tmpdir(), "ollama-plugin-")), "routing.yaml")

describe("ollama named in routing.yaml", () => {
  it.live("loads by type, and the router answers a category through it", () =>
    Effect.gen(function*() {
      const checked = yield* BackendLoader.check(routing('"10m"'), file(), { builtins })
      const entry = checked.config.backends["local-ollama"]
      const loaded = checked.types.get("ollama")
      expect(entry).toBeDefined()
      expect(loaded && Result.isFailure(loaded) ? loaded.failure.message : "loaded").toBe("loaded")
      if (!entry || !loaded || Result.isFailure(loaded)) return
      expect(loaded.success.definition.name).toBe("ollama")
      const slot = yield* BackendLoader.make(entry, loaded.success, checked.config, yield* Effect.scope)
      expect(slot._tag).toBe("Ready")
      const router = yield* Router.make(Effect.succeed({ version: 1, config: checked.config, backends: new Map([["local-ollama", slot]]) }))
      const answer = yield* router.run({ category: "fast", prompt: "Say hello" })
      expect(answer.backend).toBe("local-ollama")
      expect(answer.text.length).toBeGreaterThan(0)
      const [chat] = (yield* Effect.promise(() => sim.requests())).filter((r) => r.path === "/api/chat")
      expect(chat?.body).toMatchObject({ model: "phi3.5:3.8b", keep_alive: "10m" })
    }))

  it.effect("a keepAlive Ollama would reject is an error at its line in routing.yaml", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(BackendLoader.check(routing('"300"'), file(), { builtins }))
      expect(error.message).toContain("routing.yaml:6:16 backends.local-ollama.keepAlive: expected a duration")
    }))
})
