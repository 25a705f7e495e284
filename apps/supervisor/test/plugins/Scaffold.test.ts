/**
 * `local-router plugin new` writes a package that works out of the box: installed against this
 * workspace's core (its dependencies linked, as an offline `npm install` would place them), its
 * own tests — core's contract suite against its simulated server — pass, and local-router
 * loads it from a routing.yaml.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { Backend } from "@local-router/core"
import { describe, expect, it } from "vitest"
import { linkPackages, repo, tempDir } from "./Install.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")

const run = async (args: ReadonlyArray<string>, cwd: string) => {
  // A vitest started from inside a vitest run must not think it is one of its workers.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "TEST"))
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", ...args], {
      cwd,
      env: { ...env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "" }
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe("local-router plugin new", () => {
  it("scaffolds a package whose contract tests pass out of the box and that local-router loads by path", { timeout: 120_000 }, async () => {
    const dir = tempDir("scaffold-")
    const made = await run([bin, "plugin", "new", "acme-echo", "--dir", "acme"], dir)
    expect(made.code, made.stderr).toBe(0)
    expect(made.stdout).toContain("Created local-router-backend-acme-echo")
    const pkgDir = path.join(dir, "acme")
    const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")) as Record<string, Record<string, string>>
    expect(manifest["name"]).toBe("local-router-backend-acme-echo")
    expect(manifest["peerDependencies"]).toEqual({ "@local-router/core": "^0.1.0", effect: "^4.1.5" })
    expect(manifest["devDependencies"]).toMatchObject({ effect: "4.1.5", "@effect/vitest": "4.1.5", vitest: "^5.1.2" })
    // The core it tests against travels with it: packed into vendor/, with core's own dependencies.
    expect(manifest["devDependencies"]?.["@local-router/core"]).toBe("file:vendor/local-router-core-0.1.0.tgz")
    const vendored = JSON.parse(
      (await promisify(execFile)("tar", ["-xzOf", path.join(pkgDir, "vendor/local-router-core-0.1.0.tgz"), "package/package.json"])).stdout
    ) as { name: string; dependencies: Record<string, string> }
    expect(vendored.name).toBe("@local-router/core")
    expect(vendored.dependencies).toMatchObject({ effect: "4.1.5" })
    expect(manifest["exports"]).toEqual({ ".": "./src/index.js" })
    for (const file of ["src/index.js", "test/backend.test.js", "test/server.js", "README.md", "vitest.config.js"]) {
      expect(fs.existsSync(path.join(pkgDir, file)), file).toBe(true)
    }

    linkPackages(pkgDir, ["@local-router/core", "effect", "vitest", "@effect/vitest"])
    fs.writeFileSync(
      path.join(dir, "routing.yaml"),
      `backends:\n  acme: { type: ./acme/src/index.js, url: "http://127.0.0.1:9" }\npriorities:\n  text: [acme]\ncategories:\n  fast:\n    input: text\n    models: { acme: demo-model }\n`
    )
    const [tests, listed, again, badName] = await Promise.all([
      run([path.join(repo, "node_modules/vitest/vitest.mjs"), "run", "--reporter=verbose"], pkgDir),
      run([bin, "plugins", "--json", "--config", "routing.yaml"], dir),
      run([bin, "plugin", "new", "acme-echo", "--dir", "acme"], dir),
      run([bin, "plugin", "new", "Not A Name"], dir)
    ])
    expect(tests.code, tests.stdout + tests.stderr).toBe(0)
    expect(tests.stdout).toContain("Backend contract: local-router-backend-acme-echo")
    // Core's contract suite, with the contract 2.0 tool-call checks the scaffold declares.
    expect(tests.stdout).toMatch(/Tests\s+8 passed/)
    expect(tests.stdout).toContain("tool calls stream start, argument deltas and end per index")
    expect(tests.stdout).toContain("a tool result sent back gets an answer")

    const plugin = (JSON.parse(listed.stdout) as { plugins: ReadonlyArray<Record<string, unknown>> }).plugins.find((p) => p["type"] === "./acme/src/index.js")
    expect(plugin).toMatchObject({ version: "0.1.0", contract: Backend.CONTRACT_VERSION, backends: ["acme"], error: null })

    expect(again.code).toBe(2)
    expect(again.stderr).toContain("already exists and is not empty")
    expect(badName.code).toBe(2)
    expect(badName.stderr).toContain("is not a valid npm package name")
  })
})
