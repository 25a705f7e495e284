/** launch.js's source cache: our .ts loaded without Node's stripper, dependencies without their comments. */
import { describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { promisify } from "node:util"

const cacheModule = pathToFileURL(path.resolve(import.meta.dirname, "../src/SourceCache.js")).href

/** A fresh process that registers the cache in `dir`, imports `file`, and reports. */
const load = async (dir: string, file: string) => {
  const script = `
    const { register } = await import(${JSON.stringify(cacheModule)})
    register(${JSON.stringify(dir)})
    const m = await import(${JSON.stringify(pathToFileURL(file).href)})
    let line
    try { m.fail() } catch (e) { line = /answer\\.ts:(\\d+):(\\d+)/.exec(e.stack)?.slice(1).join(":") }
    console.log(JSON.stringify({ answer: m.answer, line, stripper: process.moduleLoadList.some((x) => x.includes("amaro")) }))
  `
  const { stdout } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", "--input-type=module", "-e", script])
  return JSON.parse(stdout) as { answer: number; line: string; stripper: boolean }
}

describe("SourceCache", () => {
  it("strips a module once, then loads it from the cache without the stripper, lines and columns unchanged", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lr-strip-"))
    fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ type: "module" }))
    const file = path.join(root, "answer.ts")
    fs.writeFileSync(file, `interface Shape { readonly n: number }\nexport const answer: number = ({ n: 42 } as Shape).n\nexport const fail = (): never => { throw new Error("here") }\n`)
    const dir = path.join(root, "cache")

    const first = await load(dir, file)
    expect(first).toEqual({ answer: 42, line: "3:42", stripper: true })
    expect(fs.readdirSync(dir)).toHaveLength(1)

    const second = await load(dir, file)
    expect(second).toEqual({ answer: 42, line: "3:42", stripper: false })

    // An entry is used only for the very source it was made from (a name can collide).
    const [entry] = fs.readdirSync(dir)
    const good = fs.readFileSync(path.join(dir, entry!), "utf8")
    fs.writeFileSync(path.join(dir, entry!), `// other source\nexport const answer = 1\n`)
    expect(await load(dir, file)).toEqual({ answer: 42, line: "3:42", stripper: true })
    expect(fs.readFileSync(path.join(dir, entry!), "utf8")).toBe(good)

    // An edit is stripped again (and replaces the entry), never the stale text.
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("42", "43"))
    expect(await load(dir, file)).toEqual({ answer: 43, line: "3:42", stripper: true })
    expect(await load(dir, file)).toEqual({ answer: 43, line: "3:42", stripper: false })
    expect(fs.readdirSync(dir)).toHaveLength(1)
  })

  it("keeps a dependency's code and drops its comments, once; what esbuild cannot read loads as it is", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lr-compact-"))
    const pkg = path.join(root, "node_modules", "dep")
    fs.mkdirSync(pkg, { recursive: true })
    fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "dep", type: "module", main: "index.js" }))
    fs.writeFileSync(
      path.join(pkg, "index.js"),
      `import { twice } from "./cjs.cjs"\n/**\n * A long JSDoc block that the process\n * should not hold.\n */\nexport const answer = (n) => {\n  // a comment\n  return twice(n) + "é"\n}\n`
    )
    fs.writeFileSync(path.join(pkg, "cjs.cjs"), `/* license text */\n"use strict"\nexports.twice = function twice(n) {\n  return n * 2 // doubled\n}\n`)
    fs.writeFileSync(path.join(pkg, "broken.js"), `export const = 1\n`)
    const dir = path.join(root, "cache")
    const script = `
      const { register } = await import(${JSON.stringify(cacheModule)})
      register(${JSON.stringify(dir)})
      const dep = await import(${JSON.stringify(pathToFileURL(path.join(pkg, "index.js")).href)})
      const { createRequire } = await import("node:module")
      const cjs = createRequire(${JSON.stringify(path.join(pkg, "index.js"))})("./cjs.cjs")
      let broken
      try { await import(${JSON.stringify(pathToFileURL(path.join(pkg, "broken.js")).href)}) } catch (e) { broken = e.name }
      const esbuild = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes("esbuild"))
      console.log(JSON.stringify({ answer: dep.answer(21), text: String(dep.answer), cjs: String(cjs.twice), broken, esbuild }))
    `
    const run = async () => {
      const { stdout } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", "--input-type=module", "-e", script], { cwd: root })
      return JSON.parse(stdout) as { answer: string; text: string; cjs: string; broken: string; esbuild: boolean }
    }
    const first = await run()
    expect(first).toMatchObject({ answer: "42é", broken: "SyntaxError", esbuild: true })
    expect(first.text).not.toMatch(/comment/)
    expect(first.cjs).not.toMatch(/doubled/)
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".compact"))).toHaveLength(3)
    // The second start reads the cache and never loads esbuild.
    expect(await run()).toEqual({ ...first, esbuild: false })
  })
})

describe("SourceCache for a long-running process (warm)", () => {
  it("prepares nothing itself: a child imports `warm` at the first miss, a later miss gets a child of its own, and a source no child can make loads as Node would", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lr-warm-"))
    fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ type: "module" }))
    const pkg = path.join(root, "node_modules", "dep")
    fs.mkdirSync(pkg, { recursive: true })
    fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "dep", type: "module", main: "index.js" }))
    fs.writeFileSync(path.join(pkg, "index.js"), `/** JSDoc the process should not hold. */\nexport const twice = (n) => n * 2 // doubled\n`)
    fs.writeFileSync(path.join(root, "main.ts"), `import { twice } from "dep"\nexport const answer: number = twice(21)\n`)
    // A module that keeps its process alive: the warm child must end anyway.
    fs.writeFileSync(path.join(root, "warm.ts"), `import "./main.ts"\nsetInterval(() => {}, 1000)\n`)
    // Not reachable from warm.ts: loaded later, as a plugin would be.
    fs.writeFileSync(path.join(root, "later.ts"), `export const later: string = "later"\n`)
    fs.writeFileSync(path.join(root, "broken.ts"), `export const = 1\n`)
    const dir = path.join(root, "cache")
    const script = `
      const { register } = await import(${JSON.stringify(cacheModule)})
      register(${JSON.stringify(dir)}, { warm: ${JSON.stringify(pathToFileURL(path.join(root, "warm.ts")).href)} })
      const { answer } = await import(${JSON.stringify(pathToFileURL(path.join(root, "main.ts")).href)})
      const afterWarm = (await import("node:fs")).readdirSync(${JSON.stringify(dir)}).length
      const { later } = await import(${JSON.stringify(pathToFileURL(path.join(root, "later.ts")).href)})
      let broken
      try { await import(${JSON.stringify(pathToFileURL(path.join(root, "broken.ts")).href)}) } catch (e) { broken = e.name }
      const { createRequire } = await import("node:module")
      const esbuild = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes("esbuild"))
      const text = String((await import("dep")).twice)
      console.log(JSON.stringify({ answer, afterWarm, later, broken, esbuild, text, stripper: process.moduleLoadList.some((x) => x.includes("amaro")) }))
    `
    const run = async () => {
      const { stdout } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", "--input-type=module", "-e", script], { cwd: root })
      return JSON.parse(stdout) as Record<string, unknown>
    }
    const first = await run()
    // warm.ts, main.ts and dep's index.js by the warm child; later.ts by a child of its own.
    expect(first).toMatchObject({ answer: 42, afterWarm: 3, later: "later", esbuild: false })
    expect(first.text).not.toMatch(/doubled/)
    expect(fs.readdirSync(dir)).toHaveLength(4)
    // broken.ts: no child could strip it, so Node did (its stripper loaded) and reported the error.
    expect(first).toMatchObject({ broken: "SyntaxError", stripper: true })
    // From the cache: nothing prepared, no child, no stripper until the broken module.
    fs.rmSync(path.join(root, "broken.ts"))
    const second = await run()
    expect(second).toMatchObject({ answer: 42, later: "later", esbuild: false, stripper: false })
  })
})
