/**
 * A broken plugin never takes the router down: loaded from files next to a routing.yaml, a
 * plugin whose `make` fails or hangs past the deadline is marked failed with the reason (the
 * router skips it and says why in the trace), and one that throws or dies inside `generate`, or
 * ends its stream without Done, is treated like any misbehaving backend: the router falls back.
 * (Not-found, import failures, no definition and contract mismatches: packages/core/test/LiveRouting.test.ts
 * and InstalledPlugin.test.ts.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Backend, LiveRouting, Router } from "@local-router/core"
import { ScriptedBackend } from "@local-router/core/testing"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./Install.ts"

/** The backend the router falls back to. */
const steady = Backend.plugin({
  name: "steady",
  contract: Backend.CONTRACT_VERSION,
  options: Schema.Struct({}),
  make: ({ name }) => Effect.succeed(ScriptedBackend.make({ name, script: [{ tokens: ["steady", " answer"] }] }).backend)
})
const builtins = new Map<string, Backend.Definition>([["steady", steady as Backend.Definition]])

/** A plugin module whose `make` is the given JS source; `backend(name, generate)` builds its Backend. */
const plugin = (make: string) => `
import { Backend } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
const backend = (name, generate) => ({
  name, type: "broken", capabilities: { text: true, images: false, streaming: true, pull: false, tools: false, jsonSchema: false, reasoning: false, embeddings: false },
  probe: Effect.succeed(Backend.Probe.Ready({ models: [], loaded: [] })),
  models: Effect.succeed([]),
  ensureModel: () => Stream.empty,
  generate
})
export const definition = Backend.plugin({ name: "broken", contract: "2.0", version: "9.9.9", options: Schema.Struct({}), make: ${make} })
`

const plugins: Record<string, string> = {
  "make-fails.js": `() => Effect.fail(new Error("cannot open the model registry at /nonexistent"))`,
  "make-hangs.js": `() => Effect.never`,
  "generate-throws.js": `({ name }) => Effect.succeed(backend(name, () => { throw new Error("plugin bug: undefined is not a function") }))`,
  "generate-dies.js": `({ name }) => Effect.succeed(backend(name, (r) => Stream.concat(Stream.make(Backend.GenerateEvent.Start({ model: r.model })), Stream.die(new Error("plugin defect mid-stream")))))`,
  "no-done.js": `({ name }) => Effect.succeed(backend(name, (r) => Stream.make(Backend.GenerateEvent.Start({ model: r.model }), Backend.GenerateEvent.TextDelta({ text: "half an answ" }))))`,
  "start-only.js": `({ name }) => Effect.succeed(backend(name, (r) => Stream.make(Backend.GenerateEvent.Start({ model: r.model }))))`
}

/** A routing.yaml whose `fast` category tries the plugin `file`, then `steady`. */
const setUp = (file: string) =>
  Effect.gen(function*() {
    const dir = tempDir("failing-")
    fs.mkdirSync(path.join(dir, "backends"))
    fs.writeFileSync(path.join(dir, "backends", file), plugin(plugins[file]!))
    const config = path.join(dir, "routing.yaml")
    fs.writeFileSync(config, `backends:
  broken: { type: ./backends/${file} }
  steady: { type: steady }
priorities:
  text: [broken, steady]
categories:
  fast:
    input: text
    models: { broken: m, steady: m }
`)
    const live = yield* LiveRouting.make(config, { builtins, watch: false, makeTimeout: "500 millis" })
    return { live, router: yield* Router.make(live.snapshot) }
  })

const attemptOf = (answer: Router.Answer, backend: string) => answer.trace.attempts.find((a) => a.backend === backend)

describe("a broken plugin takes out only its own backend", () => {
  it.live("make fails: the backend is marked failed with the reason, and routing skips it saying why", () =>
    Effect.gen(function*() {
      const { live, router } = yield* setUp("make-fails.js")
      const slot = (yield* live.snapshot).backends.get("broken")
      expect(slot).toMatchObject({ _tag: "Failed", reason: "cannot open the model registry at /nonexistent" })
      const answer = yield* router.run({ category: "fast", prompt: "hi" })
      expect(answer).toMatchObject({ backend: "steady", text: "steady answer" })
      expect(attemptOf(answer, "broken")).toMatchObject({ outcome: "skipped", reason: "failed to load: cannot open the model registry at /nonexistent" })
    }))

  it.live("make hangs past the deadline: failed with a timeout reason, the rest of the config runs", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { live, router } = yield* setUp("make-hangs.js")
      expect(Date.now() - started).toBeLessThan(15_000)
      expect((yield* live.snapshot).backends.get("broken")).toMatchObject({ _tag: "Failed", reason: `backend "broken" did not start within 500ms` })
      const answer = yield* router.run({ category: "fast", prompt: "hi" })
      expect(answer.backend).toBe("steady")
      expect(attemptOf(answer, "broken")?.reason).toBe(`failed to load: backend "broken" did not start within 500ms`)
      expect((yield* live.plugins).find((p) => p.type === "./backends/make-hangs.js")).toMatchObject({ version: "9.9.9", error: undefined })
    }))

  it.live("generate throws: an Upstream failure of that backend, and the router falls back", () =>
    Effect.gen(function*() {
      const { router } = yield* setUp("generate-throws.js")
      const answer = yield* router.run({ category: "fast", prompt: "hi" })
      expect(answer.backend).toBe("steady")
      expect(attemptOf(answer, "broken")).toMatchObject({ outcome: "failed", reason: "Upstream" })
      expect(attemptOf(answer, "broken")?.message).toMatch(/crashed: plugin bug: undefined is not a function/)
    }))

  it.live("generate dies after Start: Upstream, and a streamed answer falls back before anything reached the caller", () =>
    Effect.gen(function*() {
      const { router } = yield* setUp("generate-dies.js")
      const events = yield* Stream.runCollect(router.stream({ category: "fast", prompt: "hi" }))
      expect(events[0]).toMatchObject({ _tag: "Routed", backend: "steady", attempt: 2 })
      const done = events.at(-1)
      expect(done?._tag).toBe("Done")
      if (done?._tag === "Done") expect(done.trace.attempts[0]).toMatchObject({ backend: "broken", outcome: "failed", reason: "Upstream" })
      expect(events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")).toBe("steady answer")
    }))

  it.live("a stream that ends without Done is StreamCut: the whole answer falls back, never half an answer", () =>
    Effect.gen(function*() {
      const { router } = yield* setUp("no-done.js")
      const answer = yield* router.run({ category: "fast", prompt: "hi" })
      expect(answer).toMatchObject({ backend: "steady", text: "steady answer" })
      expect(attemptOf(answer, "broken")).toMatchObject({ outcome: "failed", reason: "StreamCut" })
    }))

  it.live("a stream that ends after Start, before any token, falls back invisibly when streaming", () =>
    Effect.gen(function*() {
      const { router } = yield* setUp("start-only.js")
      const events = yield* Stream.runCollect(router.stream({ category: "fast", prompt: "hi" }))
      expect(events[0]).toMatchObject({ _tag: "Routed", backend: "steady" })
      const done = events.at(-1)
      if (done?._tag !== "Done") throw new Error("the stream did not end with Done")
      expect(done.trace.attempts[0]).toMatchObject({ backend: "broken", outcome: "failed", reason: "StreamCut" })
    }))
})
