/**
 * Plugins built on another Effect: one on Effect 3 hands the router Effects it cannot run, so it
 * is refused before it is imported, with a message that says why and what to do.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Backend, BackendLoader } from "../src/index.ts"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "lr-loader-"))

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
}

/** A plugin module that imports nothing: whether it loads depends only on what the loader checks. */
const pluginSource = `export const definition = {
  _tag: "BackendDefinition",
  name: "old",
  contract: "${Backend.CONTRACT_VERSION}",
  version: "0.9.0",
  options: undefined,
  make: () => { throw new Error("make is not called here") }
}
`

/** A plugin package `name` under `dir`/node_modules, with its manifest's extra fields. */
const installPlugin = (dir: string, name: string, manifest: Record<string, unknown> = {}) => {
  const root = path.join(dir, "node_modules", name)
  write(path.join(root, "package.json"), JSON.stringify({ name, version: "0.9.0", type: "module", main: "index.js", ...manifest }))
  write(path.join(root, "index.js"), pluginSource)
  return root
}

const installEffect = (dir: string, version: string) =>
  write(path.join(dir, "node_modules", "effect", "package.json"), JSON.stringify({ name: "effect", version }))

const effect3Message = (type: string, found: string) =>
  new RegExp(
    `^plugin '${type.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}' is built on Effect 3 \\(${found.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\); ` +
      `this local-router needs plugins built on Effect 4 \\(effect 4\\.x\\) and contract ${Backend.CONTRACT_VERSION.replace(".", "\\.")}: move it to effect 4`
  )

describe("BackendLoader: plugins built on Effect 3", () => {
  it.effect("a package whose own effect is 3.x is refused before it is imported, saying so plainly", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const root = installPlugin(dir, "local-router-backend-old", { dependencies: { effect: "3.22.4" } })
      installEffect(root, "3.22.4")
      const error = yield* Effect.flip(BackendLoader.resolve("local-router-backend-old", dir))
      expect(error.reason).toBe("ContractMismatch")
      expect(error.type).toBe("local-router-backend-old")
      expect(error.message).toMatch(effect3Message("local-router-backend-old", "effect 3.22.4 found in its dependencies"))
    }))

  it.effect("a plugin file that would load a hoisted effect 3.x is refused too", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      installEffect(dir, "3.22.4")
      write(path.join(dir, "backends", "old.js"), pluginSource)
      const error = yield* Effect.flip(BackendLoader.resolve("./backends/old.js", dir))
      expect(error.message).toMatch(effect3Message("./backends/old.js", "effect 3.22.4 found in its dependencies"))
    }))

  it.effect("a package that asks for effect 3 (and has none installed of its own) is refused, naming the field", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      installPlugin(dir, "local-router-backend-peer", { peerDependencies: { effect: "^3.10.0" } })
      const error = yield* Effect.flip(BackendLoader.resolve("local-router-backend-peer", dir))
      expect(error.message).toMatch(effect3Message("local-router-backend-peer", "effect ^3.10.0 in its package.json peerDependencies"))
    }))

  it.effect("a plugin on effect 4 loads; so does one whose range allows 4", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const root = installPlugin(dir, "local-router-backend-new", { dependencies: { effect: "4.1.5" } })
      installEffect(root, "4.1.5")
      const loaded = yield* BackendLoader.resolve("local-router-backend-new", dir)
      expect(loaded.definition.version).toBe("0.9.0")
      expect(loaded.from).toBe(path.join(fs.realpathSync(root), "index.js"))
      installPlugin(dir, "local-router-backend-either", { peerDependencies: { effect: "^3.10.0 || ^4.0.0" } })
      expect((yield* BackendLoader.resolve("local-router-backend-either", dir)).definition.name).toBe("old")
    }))

  it.effect("routing.yaml check: the Effect 3 plugin's type carries the error; the file itself is valid", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const root = installPlugin(dir, "local-router-backend-old", { dependencies: { effect: "^3.22.4" } })
      installEffect(root, "3.22.4")
      const file = path.join(dir, "routing.yaml")
      const checked = yield* BackendLoader.check(
        `backends:
  old: { type: local-router-backend-old }
priorities:
  text: [old]
categories:
  fast: { input: text, models: { old: m } }
`,
        file
      )
      const loaded = checked.types.get("local-router-backend-old")!
      expect(Result.isFailure(loaded)).toBe(true)
      if (Result.isFailure(loaded)) expect(loaded.failure.message).toMatch(/is built on Effect 3 \(effect 3\.22\.4 found in its dependencies\)/)
    }))
})

describe("BackendLoader.effect3Of", () => {
  it("reads the effect a file would load, else its package.json's ranges", () => {
    const dir = tempDir()
    const file = path.join(dir, "pkg", "index.js")
    write(file, "")
    expect(BackendLoader.effect3Of(file)).toBeUndefined()
    for (const range of ["^3.22.4", "~3.10", "3.x", "3", ">=3.1.0 <4.0.0", "^3.10 || ^3.22"]) {
      write(path.join(dir, "pkg", "package.json"), JSON.stringify({ dependencies: { effect: range } }))
      expect(BackendLoader.effect3Of(file), range).toBe(`effect ${range} in its package.json dependencies`)
    }
    for (const range of ["^4.1.5", "4.x", "^3.10 || ^4", ">=3.1.0", "workspace:*"]) {
      write(path.join(dir, "pkg", "package.json"), JSON.stringify({ dependencies: { effect: range } }))
      expect(BackendLoader.effect3Of(file), range).toBeUndefined()
    }
    installEffect(path.join(dir, "pkg"), "4.1.5")
    write(path.join(dir, "pkg", "package.json"), JSON.stringify({ dependencies: { effect: "^3.22.4" } }))
    // What it would actually load wins over what its manifest says.
    expect(BackendLoader.effect3Of(file)).toBeUndefined()
  })
})

describe("BackendLoader.contractMismatch: what a plugin's author reads", () => {
  it("a 1.x plugin is told what 2.0 changed and what to do", () => {
    const message = BackendLoader.contractMismatch("local-router-backend-x", "1.3")
    expect(message).toMatch(/^plugin 'local-router-backend-x' implements contract 1\.3; this local-router needs 2\.x \(2\.0\)\. /)
    for (const change of ["ReasoningDelta", "ToolCallStart/ToolCallDelta/ToolCallEnd", "\"tool_calls\"", "tools, jsonSchema, reasoning and embeddings", "responseFormat", "toolCallId"]) {
      expect(message).toContain(change)
    }
    expect(message).toMatch(/set contract: "2\.0" \(Backend\.CONTRACT_VERSION\) and install it again; see docs\/plugins\.md$/)
  })

  it("a plugin from a later major is told which this local-router implements", () =>
    expect(BackendLoader.contractMismatch("./x.js", "3.1")).toBe(`backend "./x.js" implements contract 3.1, but this local-router implements ${Backend.CONTRACT_VERSION}`))
})

describe("BackendLoader: where a package type is looked for", () => {
  it.effect("routing.yaml's directory first, then the plugin directory, then local-router's own install; NotFound names all three and `plugin add`", () =>
    Effect.gen(function*() {
      const [configDir, pluginDir, selfDir] = [tempDir(), tempDir(), tempDir()]
      installPlugin(pluginDir, "local-router-backend-both")
      installPlugin(selfDir, "local-router-backend-both")
      installPlugin(selfDir, "local-router-backend-self")
      const options = { pluginDir, selfDir }
      const fromPlugins = yield* BackendLoader.resolve("local-router-backend-both", configDir, options)
      expect(fromPlugins.from).toBe(fs.realpathSync(path.join(pluginDir, "node_modules/local-router-backend-both/index.js")))
      const fromSelf = yield* BackendLoader.resolve("local-router-backend-self", configDir, options)
      expect(fromSelf.from).toBe(fs.realpathSync(path.join(selfDir, "node_modules/local-router-backend-self/index.js")))
      installPlugin(configDir, "local-router-backend-both")
      const nextToConfig = yield* BackendLoader.resolve("local-router-backend-both", configDir, options)
      expect(nextToConfig.from).toBe(fs.realpathSync(path.join(configDir, "node_modules/local-router-backend-both/index.js")))

      const missing = yield* Effect.flip(BackendLoader.resolve("local-router-backend-none", configDir, options))
      expect(missing.reason).toBe("NotFound")
      expect(missing.message).toBe(
        `backend package "local-router-backend-none" not found; searched from ${configDir} and ${pluginDir} and ${selfDir}. ` +
          "Install it with: local-router plugin add local-router-backend-none"
      )
    }))
})
