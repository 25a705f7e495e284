import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { Backend, LiveRouting, Router } from "../src/index.ts"
import { ScriptedBackend } from "../src/testing/index.ts"

// Temp dirs live inside the package so a plugin file there resolves `effect` like an installed one would.
const tmpRoot = path.join(import.meta.dirname, "..", ".tmp")
const tempDir = () => {
  fs.mkdirSync(tmpRoot, { recursive: true })
  return fs.mkdtempSync(path.join(tmpRoot, "live-"))
}

const scripted = Backend.plugin({
  name: "scripted",
  contract: Backend.CONTRACT_VERSION,
  version: "0.0.1",
  options: Schema.Struct({ reply: Schema.optionalKey(Schema.String), delayMs: Schema.optionalKey(Schema.Number) }),
  make: ({ name, options }) =>
    Effect.succeed(ScriptedBackend.make({ name, script: [{ tokens: (options.reply ?? "hi").split(" ").map((w, i) => (i ? ` ${w}` : w)), tokenDelayMs: options.delayMs ?? 0 }] }).backend)
})
const builtins = new Map<string, Backend.Definition>([["scripted", scripted as Backend.Definition]])

const configText = (reply: string, extra = "") => `backends:
  a: { type: scripted, reply: "${reply}"${extra} }
  b: { type: scripted, reply: "from b" }
priorities:
  text: [a, b]
categories:
  fast:
    input: text
    models: { a: m, b: m }
`

const nextResult = (live: LiveRouting.LiveRouting) =>
  live.results.pipe(Stream.filter((r) => r._tag !== "Unchanged"), Stream.runHead, Effect.flatMap(Effect.fromOption), Effect.timeout("5 seconds"))

describe("LiveRouting: hot reload on a real file", () => {
  it.live("a valid edit swaps in atomically; requests in flight finish on the config they started with", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = path.join(dir, "routing.yaml")
      fs.writeFileSync(file, configText("one two three", ", delayMs: 40"))
      const live = yield* LiveRouting.make(file, { builtins, debounce: "20 millis" })
      const router = yield* Router.make(live.snapshot)
      expect((yield* router.run({ category: "fast", prompt: "x" })).text).toBe("one two three")

      const inFlight = yield* Effect.forkChild(Stream.runCollect(router.stream({ category: "fast", prompt: "x" })))
      const applied = yield* Effect.forkChild(nextResult(live))
      yield* Effect.sleep("30 millis")
      fs.writeFileSync(file, configText("four"))
      const result = yield* Fiber.join(applied)
      expect(result).toMatchObject({ _tag: "Applied", version: 2, changed: ["a"] })

      const old = yield* Fiber.join(inFlight)
      const done = old.at(-1)
      expect(done?._tag === "Done" && done.trace.configVersion).toBe(1)
      expect(old.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")).toBe("one two three")
      const fresh = yield* router.run({ category: "fast", prompt: "x" })
      expect(fresh.text).toBe("four")
      expect(fresh.trace.configVersion).toBe(2)
    }))

  it.live("an invalid edit keeps the running config and reports where the error is", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = path.join(dir, "routing.yaml")
      fs.writeFileSync(file, configText("good"))
      const live = yield* LiveRouting.make(file, { builtins, debounce: "20 millis" })
      const router = yield* Router.make(live.snapshot)
      const rejected = yield* Effect.forkChild(nextResult(live))
      yield* Effect.sleep("10 millis")
      // Atomic save, the way editors do it: write a new file, rename over the old one.
      fs.writeFileSync(`${file}.tmp`, configText("bad").replace("input: text", "input: txet"))
      fs.renameSync(`${file}.tmp`, file)
      const result = yield* Fiber.join(rejected)
      expect(result._tag).toBe("Rejected")
      if (result._tag === "Rejected") expect(String(result.error.issues[0])).toMatch(/routing\.yaml:8:12 categories\.fast\.input: expected one of text, image, pdf/)
      expect((yield* router.run({ category: "fast", prompt: "x" })).text).toBe("good")
      expect(yield* live.lastError).toBeDefined()
      // A backend option the backend type does not know is also rejected, with its location.
      const again = yield* Effect.forkChild(nextResult(live))
      yield* Effect.sleep("10 millis")
      fs.writeFileSync(file, configText("good", ", replly: x"))
      const second = yield* Fiber.join(again)
      expect(second._tag === "Rejected" && second.error.message).toMatch(/routing\.yaml:2:\d+ backends\.a\.replly: unknown key "replly" for a scripted backend \(did you mean "reply"\?\)/)
    }))
})

describe("LiveRouting as a service", () => {
  it.effect("the layer provides it; changes give the version in force, then each applied one, with the same backend objects", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = path.join(dir, "routing.yaml")
      fs.writeFileSync(file, configText("one"))
      const context = yield* Layer.build(LiveRouting.layer(file, { builtins, watch: false }))
      const live = Context.get(context, LiveRouting.LiveRouting)
      const next = yield* Stream.toPull(live.changes)
      const [first] = yield* next
      const v1 = yield* live.snapshot
      expect(v1.entries.get("a")).toMatchObject({ entry: { name: "a", type: "scripted" }, options: { reply: "one" } })
      expect(v1.entries.get("a")?.slot).toBe(v1.backends.get("a"))
      fs.writeFileSync(file, configText("two"))
      expect(yield* live.reload).toMatchObject({ _tag: "Applied", version: 2, changed: ["a"] })
      const [second] = yield* next
      expect([first?.version, second?.version]).toEqual([1, 2])
      expect(second).toBe(yield* live.snapshot)
      // The unchanged backend is the very same object in both versions.
      expect(second?.backends.get("b")).toBe(v1.backends.get("b"))
      expect(second?.backends.get("a")).not.toBe(v1.backends.get("a"))
    }))
})

describe("BackendLoader: types by path and package, failing safely", () => {
  const pluginSource = (contract: string, prefix = "echo: ") => `
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
export const definition = {
  _tag: "BackendDefinition", name: "echo", contract: "${contract}", version: "1.2.3",
  options: Schema.Struct({}),
  make: ({ name }) => Effect.succeed({
    name, type: "echo", capabilities: { text: true, images: false, streaming: true, pull: false, tools: false, jsonSchema: false, reasoning: false, embeddings: false },
    probe: Effect.succeed({ _tag: "Ready", models: [], loaded: [] }),
    models: Effect.succeed([]),
    ensureModel: () => { throw new Error("no") },
    generate: (request) => {
      const { Stream } = globalThis.__effectStream
      return Stream.make({ _tag: "Start", model: request.model }, { _tag: "TextDelta", text: "${prefix}" + request.messages.at(-1).content }, { _tag: "Done", finishReason: "stop" })
    }
  })
}
`
  it.effect("a relative-path plugin loads; a missing package, a contract mismatch and a throwing module take out only their backend", () =>
    Effect.gen(function*() {
      const S = yield* Effect.promise(() => import("effect/Stream"))
      ;(globalThis as unknown as { __effectStream: unknown }).__effectStream = { Stream: S }
      const dir = tempDir()
      fs.mkdirSync(path.join(dir, "backends"))
      fs.writeFileSync(path.join(dir, "backends", "echo.js"), pluginSource("2.4"))
      fs.writeFileSync(path.join(dir, "backends", "future.js"), pluginSource("3.0"))
      fs.writeFileSync(path.join(dir, "backends", "old.js"), pluginSource("1.0"))
      fs.writeFileSync(path.join(dir, "backends", "throws.js"), `throw new Error("boom at import")`)
      fs.writeFileSync(path.join(dir, "backends", "empty.js"), `export const nothing = 1`)
      const file = path.join(dir, "routing.yaml")
      fs.writeFileSync(file, `backends:
  echo: { type: ./backends/echo.js }
  future: { type: ./backends/future.js }
  throws: { type: ./backends/throws.js }
  empty: { type: ./backends/empty.js }
  old: { type: ./backends/old.js }
  missing: { type: local-router-backend-nope }
priorities:
  text: [missing, future, old, throws, empty, echo]
categories:
  fast:
    input: text
    models: { missing: m, future: m, old: m, throws: m, empty: m, echo: m }
`)
      const live = yield* LiveRouting.make(file, { builtins, watch: false })
      const router = yield* Router.make(live.snapshot)
      const answer = yield* router.run({ category: "fast", prompt: "ping" })
      expect(answer).toMatchObject({ backend: "echo", text: "echo: ping" })
      const reasons = Object.fromEntries(answer.trace.attempts.map((a) => [a.backend, a.reason ?? a.outcome]))
      expect(reasons.missing).toMatch(/failed to load: backend package "local-router-backend-nope" not found; searched from .* npm install local-router-backend-nope/)
      expect(reasons.future).toMatch(/implements contract 3\.0, but this local-router implements 2\.0/)
      // A 1.x plugin's author is told what to change, not only that it does not fit.
      expect(reasons.old).toMatch(/plugin '\.\/backends\/old\.js' implements contract 1\.0; this local-router needs 2\.x \(2\.0\)/)
      expect(reasons.old).toMatch(/capabilities gained tools, jsonSchema, reasoning and embeddings/)
      expect(reasons.old).toMatch(/events gained ReasoningDelta and ToolCallStart\/ToolCallDelta\/ToolCallEnd/)
      expect(reasons.old).toMatch(/set contract: "2\.0".*see docs\/plugins\.md/)
      expect(reasons.throws).toMatch(/boom at import/)
      expect(reasons.empty).toMatch(/exports no backend definition/)
      const plugins = yield* live.plugins
      expect(plugins.find((p) => p.type === "./backends/echo.js")).toMatchObject({ version: "1.2.3", contract: "2.4" })
      expect(plugins.find((p) => p.type === "local-router-backend-nope")?.error).toMatch(/not found/)
    }))

  it.effect("a reload that adds a plugin, or follows an edit of one, runs the new code", () =>
    Effect.gen(function*() {
      const S = yield* Effect.promise(() => import("effect/Stream"))
      ;(globalThis as unknown as { __effectStream: unknown }).__effectStream = { Stream: S }
      const dir = tempDir()
      fs.mkdirSync(path.join(dir, "backends"))
      const echo = path.join(dir, "backends", "echo.js")
      fs.writeFileSync(echo, pluginSource("2.0", "v1: "))
      const file = path.join(dir, "routing.yaml")
      const config = (extra: string) => `backends:
  echo: { type: ./backends/echo.js }
${extra}priorities:
  text: [echo]
categories:
  fast: { input: text, models: { echo: m } }
`
      fs.writeFileSync(file, config(""))
      const live = yield* LiveRouting.make(file, { watch: false })
      const router = yield* Router.make(live.snapshot)
      expect((yield* router.run({ category: "fast", prompt: "ping" })).text).toBe("v1: ping")

      fs.writeFileSync(echo, pluginSource("2.0", "v2: "))
      const later = new Date(Date.now() + 5_000)
      fs.utimesSync(echo, later, later)
      fs.writeFileSync(path.join(dir, "backends", "other.js"), pluginSource("2.0", "other: "))
      fs.writeFileSync(file, config("  other: { type: ./backends/other.js }\n").replace("models: { echo: m }", "models: { echo: m, other: m }").replace("text: [echo]", "text: [other, echo]"))
      const result = yield* live.reload
      expect(result._tag).toBe("Applied")
      expect((yield* router.run({ category: "fast", prompt: "ping" })).text).toBe("other: ping")
      expect((yield* router.run({ pin: { backend: "echo", model: "m" }, prompt: "ping" })).text).toBe("v2: ping")
    }))
})
