/**
 * The loading path, end to end: routing.yaml says `type: moondream`, core's loader finds this
 * package's definition (registered as a built-in), validates its options, makes the backend,
 * and the Router sends an image category to it while skipping it for text.
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

const png = Uint8Array.from(Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64"))

// Definition<MoondreamOptions> is not assignable to core's Definition<unknown> (make's
// parameter is contravariant); the cast is what an application registering built-ins writes.
const builtins = new Map<string, BackendLoader.Builtin>([["moondream", definition as unknown as Backend.Definition]])

let sim: Simulator.Running
beforeAll(async () => {
  sim = await Simulator.start("moondream")
})
afterAll(async () => {
  await sim.stop()
})

const routing = (extra: string) => `
backends:
  moondream:
    type: moondream
    url: "${sim.url}/v1"
    home: ${JSON.stringify(mkdtempSync(join(tmpdir(), "moondream-plugin-home-")))}
${extra}
priorities:
  text: [moondream]
  image: [moondream]
categories:
  vision:
    input: image
    models:
      moondream: moondream-2
  fast:
    input: text
    models:
      moondream: moondream-2
`

const file = () => join(mkdtempSync(join(tmpdir(), "moondream-plugin-")), "routing.yaml")

describe("moondream named in routing.yaml", () => {
  it.live("loads by type; the router captions an image through it and skips it for text", () =>
    Effect.gen(function*() {
      const checked = yield* BackendLoader.check(routing("    requestTimeout: 2m"), file(), { builtins })
      const entry = checked.config.backends["moondream"]
      const loaded = checked.types.get("moondream")
      if (!entry || !loaded || Result.isFailure(loaded)) return expect.unreachable("moondream did not load")
      const slot = yield* BackendLoader.make(entry, loaded.success, checked.config, yield* Effect.scope)
      expect(slot._tag).toBe("Ready")
      const router = yield* Router.make(Effect.succeed({ version: 1, config: checked.config, backends: new Map([["moondream", slot]]) }))
      const answer = yield* router.run({
        category: "vision",
        messages: [{ role: "user", content: "", images: [{ data: png, mime: "image/png" }] }],
        task: { _tag: "Caption", length: "short" }
      })
      expect(answer.backend).toBe("moondream")
      expect(answer.text.length).toBeGreaterThan(0)
      const [call] = yield* Effect.promise(() => sim.requests())
      expect(call).toMatchObject({ path: "/v1/caption", body: { length: "short", timeout: 120 } })

      const text = yield* Effect.flip(router.run({ category: "fast", prompt: "Hello" }))
      expect(text.trace.attempts).toMatchObject([{ backend: "moondream", outcome: "skipped", reason: "needs an image" }])
    }))

  it.effect("an unknown option is an error at its line, with a suggestion", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(BackendLoader.check(routing("    requestTimout: 2m"), file(), { builtins }))
      expect(error.message).toMatch(/routing\.yaml:7:\d+ .*requestTimout.*did you mean "requestTimeout"/)
    }))
})
