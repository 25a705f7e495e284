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
