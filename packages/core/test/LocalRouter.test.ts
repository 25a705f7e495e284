import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Backend, LocalRouter, RouteError } from "../src/index.ts"
import { ScriptedBackend } from "../src/testing/index.ts"

const scripted = Backend.plugin({
  name: "scripted",
  contract: Backend.CONTRACT_VERSION,
  options: Schema.Struct({ fail: Schema.optionalKey(Schema.Literal("Unreachable")) }),
  make: ({ name, options }) =>
    Effect.succeed(
      ScriptedBackend.make({
        name,
        script: [options.fail ? { fail: options.fail } : { tokens: ["plain", " async"] }],
        embed: [options.fail ? { fail: options.fail } : { dimensions: 5 }]
      }).backend
    )
})

const setup = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lr-facade-"))
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, `backends:
  down: { type: scripted, fail: Unreachable }
  up: { type: scripted }
priorities:
  text: [down, up]
  embed: [down, up]
categories:
  embed: { input: embed, models: { down: { model: e, space: s }, up: { model: e2, space: s } } }
  default: { input: text, models: { down: m, up: m } }
  broken: { input: text, models: { down: m } }
`)
  return LocalRouter.create({ config: file, builtins: new Map([["scripted", scripted as Backend.Definition]]), watch: false })
}

describe("the plain async facade", () => {
  it("runLocalLlm(prompt, category) answers with the trace, like the old run_local_llm", async () => {
    const router = await setup()
    const answer = await router.runLocalLlm("hello", "default")
    expect(answer).toMatchObject({ text: "plain async", backend: "up" })
    expect(answer.trace.attempts.map((a) => a.outcome)).toEqual(["failed", "answered"])
    const events = []
    for await (const event of router.runLocalLlm({ prompt: "hello", category: "default", stream: true })) events.push(event._tag)
    expect(events).toEqual(["Routed", "TextDelta", "TextDelta", "Usage", "Done"])
    await router.close()
  })

  it("rejects with the RouteError itself, so callers can switch on its reason", async () => {
    const router = await setup()
    const error = await router.runLocalLlm("hello", "broken").catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RouteError.RouteError)
    expect((error as RouteError.RouteError).reason).toBe("AllFailed")
    const unknown = await router.runLocalLlm("hello", "nope").catch((e: unknown) => e)
    expect((unknown as RouteError.RouteError).reason).toBe("UnknownCategory")
    await router.close()
  })

  it("embedLocal(texts, category) gives one vector per text, saying which backend and model made them", async () => {
    const router = await setup()
    const result = await router.embedLocal(["one", "two"])
    expect(result).toMatchObject({ backend: "up", model: "e2", space: "s" })
    expect(result.vectors.map((v) => v.length)).toEqual([5, 5])
    expect((await router.embedLocal("one", "embed")).vectors[0]).toEqual(result.vectors[0])
    const error = await router.embedLocal({ input: ["x"], category: "default" }).catch((e: unknown) => e)
    expect((error as RouteError.RouteError).reason).toBe("InvalidRequest")
    await router.close()
  })

  it("a missing config rejects with a ConfigError naming where it looked", async () => {
    const error = await LocalRouter.create({ config: "/nonexistent/routing.yaml" }).catch((e: unknown) => e)
    expect((error as { _tag: string })._tag).toBe("ConfigError")
  })
})
