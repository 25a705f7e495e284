/**
 * Config fuzz: hundreds of malformed routing.yaml files, generated from the repo's own, each
 * rejected with file, line and column (and the line a person must edit, where the mutation
 * pins it), never a stack trace, never an inline secret quoted back; and a running
 * local-router that is handed each of them as a hot reload keeps answering on the old config.
 */
import { describe, expect, it } from "@effect/vitest"
import { BackendLoader, type ConfigError, LiveRouting, Router } from "@local-router/core"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { builtins } from "../../src/Builtins.ts"
import { pointAt } from "../../src/demo/SimulatedSetup.ts"
import { type Family, generate, type Variant } from "./ConfigVariants.ts"

const repo = path.resolve(import.meta.dirname, "../../../..")
const base = fs.readFileSync(path.join(repo, "routing.yaml"), "utf8")
const variants = generate(base)
const FILE = "/Users/someone/.config/local-router/routing.yaml"

/** What is wrong with how a variant was rejected; empty when the rejection is right. */
const problemsWith = (variant: Variant, error: ConfigError.ConfigError, file: string): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const lineCount = variant.text.split("\n").length
  const everything = `${error.message}\n${JSON.stringify(error)}`
  if (error.reason !== "Invalid" || error.issues.length === 0) problems.push(`no located issue: ${error.message.slice(0, 200)}`)
  for (const issue of error.issues) {
    if (issue.file !== file) problems.push(`issue names file ${issue.file}`)
    if (!(Number.isInteger(issue.line) && issue.line >= 1 && issue.line <= lineCount + 1)) problems.push(`line ${issue.line} outside the file (${lineCount} lines)`)
    if (!(Number.isInteger(issue.column) && issue.column >= 1)) problems.push(`column ${issue.column}`)
    if (issue.message.length > 600) problems.push(`a ${issue.message.length}-character message`)
  }
  if (variant.line !== undefined && !error.issues.some((i) => i.line === variant.line)) {
    problems.push(`expected an issue on line ${variant.line}; got ${error.issues.map((i) => `${i.line}:${i.column} ${i.message.slice(0, 80)}`).join(" | ")}`)
  }
  if (/^\s+at\s.*(:\d+:\d+|\(native\))/m.test(everything)) problems.push("a stack trace in the error")
  if (variant.secret !== undefined && everything.includes(variant.secret)) problems.push("the inline secret is quoted in the error")
  return problems
}

const families: ReadonlyArray<Family> = ["wrong-type", "unknown-key", "duplicate", "bad-yaml", "reference", "huge", "secret"]

describe("config fuzz: malformed routing.yaml files are rejected with their location", () => {
  it("the generator makes at least 200 variants, in every family", () => {
    const counts = Object.fromEntries(families.map((f) => [f, variants.filter((v) => v.family === f).length]))
    console.log(`config fuzz: ${variants.length} variants ${JSON.stringify(counts)}`)
    expect(variants.length).toBeGreaterThanOrEqual(200)
    for (const family of families) expect(counts[family], family).toBeGreaterThan(0)
    expect(new Set(variants.map((v) => v.text)).size).toBe(variants.length)
  })

  for (const family of families) {
    it.effect(`${family}: every variant is a ConfigError with file:line:col, no stack trace, no secret`, () =>
      Effect.gen(function*() {
        const failures: Array<string> = []
        for (const variant of variants.filter((v) => v.family === family)) {
          const result = yield* Effect.result(BackendLoader.check(variant.text, FILE, { builtins }))
          if (Result.isSuccess(result)) failures.push(`${variant.name}: accepted`)
          else for (const p of problemsWith(variant, result.failure, FILE)) failures.push(`${variant.name}: ${p}`)
        }
        expect(failures).toEqual([])
      }))
  }
})

describe("config fuzz: hot reload of every malformed variant keeps the old config answering", () => {
  let ollama: Simulator.Running
  let dir: string
  beforeAll(async () => {
    ollama = await Simulator.start("ollama", { readyTimeoutMs: 30_000 })
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lr-fuzz-"))
  }, 60_000)
  afterAll(async () => {
    await ollama?.stop()
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  /** The repo's config with Ollama at the simulator, so `tiny` (Ollama first) answers. */
  const running = () => pointAt(base, { ollama: ollama.url })

  it.live("each variant as an edit is rejected with its location, the running config still answers, a good edit then applies", () => {
    const logged: Array<string> = []
    return Effect.gen(function*() {
      const good = running()
      const file = path.join(dir, "routing.yaml")
      fs.writeFileSync(file, good)
      const live = yield* LiveRouting.make(file, { builtins, watch: false })
      const router = yield* Router.make(live.snapshot)
      const before = yield* router.run({ category: "tiny", prompt: "Say hello" })
      expect(before).toMatchObject({ backend: "ollama", model: "tinyllama:1.1b-chat" })

      const failures: Array<string> = []
      const edits = generate(good)
      for (const variant of edits) {
        fs.writeFileSync(file, variant.text)
        const result = yield* live.reload
        if (result._tag !== "Rejected") failures.push(`${variant.name}: ${result._tag}`)
        else for (const p of problemsWith(variant, result.error, file)) failures.push(`${variant.name}: ${p}`)
      }
      expect(failures).toEqual([])
      expect(edits.length).toBeGreaterThanOrEqual(200)

      const after = yield* router.run({ category: "tiny", prompt: "Say hello" })
      expect(after).toMatchObject({ backend: "ollama", model: "tinyllama:1.1b-chat", text: before.text })
      expect(after.trace.configVersion).toBe(1)
      expect(yield* live.lastError).toBeDefined()
      // The warning a person sees for each rejected edit never carries an inline secret either.
      expect(logged.filter((line) => line.includes("edit rejected")).length).toBe(edits.length)
      const secrets = edits.flatMap((v) => (v.secret ? [v.secret] : []))
      expect(logged.filter((line) => secrets.some((s) => line.includes(s)))).toEqual([])

      // The rejections were not a reload that never happens: a good edit applies at once.
      fs.writeFileSync(file, good.replace(`ollama: "tinyllama:1.1b-chat"`, `ollama: "phi3.5:3.8b"`))
      expect(yield* live.reload).toMatchObject({ _tag: "Applied", version: 2 })
      expect(yield* router.run({ category: "tiny", prompt: "Say hello" })).toMatchObject({ backend: "ollama", model: "phi3.5:3.8b" })
    }).pipe(Effect.provide(Logger.layer([Logger.make(({ message }) => logged.push(String(message)))])))
  }, 120_000)

  it.live("saved by an editor (write a new file, rename it over), a sample of variants is rejected by the watcher and the old config answers", () =>
    Effect.gen(function*() {
      const good = running()
      const file = path.join(dir, "watched.yaml")
      fs.writeFileSync(file, good)
      const live = yield* LiveRouting.make(file, { builtins, debounce: "20 millis" })
      const router = yield* Router.make(live.snapshot)
      const edits = generate(good)
      const sample = families.map((f) => edits.find((v) => v.family === f && v.line !== undefined) ?? edits.find((v) => v.family === f)!)
      for (const variant of sample) {
        const previous = yield* live.lastError
        fs.writeFileSync(`${file}.tmp`, variant.text)
        fs.renameSync(`${file}.tmp`, file)
        // The watcher's verdict: a new rejection, polled with a deadline.
        const error = yield* live.lastError.pipe(
          Effect.filterOrFail((e): e is ConfigError.ConfigError => e !== undefined && e !== previous),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout("10 seconds")
        )
        expect(problemsWith(variant, error, file), variant.name).toEqual([])
        const answer = yield* router.run({ category: "tiny", prompt: "Say hello" })
        expect(answer, variant.name).toMatchObject({ backend: "ollama", model: "tinyllama:1.1b-chat" })
        expect(answer.trace.configVersion).toBe(1)
      }
    }).pipe(Effect.provide(Logger.layer([]))), 60_000)
})
