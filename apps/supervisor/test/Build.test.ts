/**
 * scripts/build.js, which ./run calls before every command: our TypeScript becomes plain
 * JavaScript Node runs as it is, and a changed source is never run from an older build.
 */
import { describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"

const script = path.resolve(import.meta.dirname, "../../../scripts/build.js")

const node = async (args: ReadonlyArray<string>) => {
  try {
    const { stderr, stdout } = await promisify(execFile)(process.execPath, [...args])
    return { code: 0, stdout, stderr }
  } catch (e) {
    const error = e as { code: number; stdout: string; stderr: string }
    return { code: error.code, stdout: error.stdout, stderr: error.stderr }
  }
}

/** A workspace laid out like this one: packages/answer/src/*.ts importing each other by `.ts`. */
const workspace = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "lr-build-"))
  const src = path.join(root, "packages/answer/src")
  fs.mkdirSync(path.join(src, "internal"), { recursive: true })
  fs.writeFileSync(path.join(root, "packages/answer/package.json"), JSON.stringify({ name: "answer", type: "module" }))
  fs.writeFileSync(path.join(src, "internal/Base.ts"), "export const base: number = 40\n")
  fs.writeFileSync(path.join(src, "index.ts"), `import { base } from "./internal/Base.ts"\nexport const answer = (add: number): number => base + add\nconsole.log(answer(1))\n`)
  return { root, src, dist: path.join(root, "packages/answer/dist") }
}

describe("the build (scripts/build.js)", () => {
  it("compiles each source to plain JavaScript beside the others, imports pointing at .js", async () => {
    const { dist, root } = workspace()
    expect((await node([script, "--root", root])).code).toBe(0)
    expect(fs.readFileSync(path.join(dist, "index.js"), "utf8")).toContain(`from "./internal/Base.js"`)
    // Node runs it without its type stripper: a .ts anywhere in the graph would fail here.
    const ran = await node(["--no-experimental-strip-types", path.join(dist, "index.js")])
    expect(ran.stdout.trim()).toBe("41")
  })

  it("rebuilds a package whose sources changed, and nothing when none did", async () => {
    const { dist, root, src } = workspace()
    await node([script, "--root", root])
    expect((await node([script, "--root", root, "--check"])).code).toBe(0)
    const unchanged = await node([script, "--root", root])
    expect(unchanged.stderr).not.toContain("[build]")

    // An edit (the same size, so only the content tells), then a removed module.
    fs.writeFileSync(path.join(src, "internal/Base.ts"), "export const base: number = 41\n")
    const check = await node([script, "--root", root, "--check"])
    expect(check.code).toBe(1)
    expect(check.stderr).toContain("stale build: packages/answer")
    expect((await node([script, "--root", root])).stderr).toContain("[build] packages/answer")
    expect((await node([path.join(dist, "index.js")])).stdout.trim()).toBe("42")

    fs.writeFileSync(path.join(src, "index.ts"), "console.log(7)\n")
    fs.rmSync(path.join(src, "internal"), { recursive: true })
    await node([script, "--root", root])
    expect((await node([path.join(dist, "index.js")])).stdout.trim()).toBe("7")
    expect(fs.existsSync(path.join(dist, "internal"))).toBe(false)
  })
})
