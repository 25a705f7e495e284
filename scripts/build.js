/**
 * Compiles each workspace package's TypeScript (src/) into plain JavaScript (dist/), one file
 * per source file, so that every process local-router starts runs JavaScript Node loads as it
 * is: no type stripper, no module hooks.
 *
 * Nothing is bundled: each output file keeps its imports, with `./x.ts` written as `./x.js`, and
 * packages (ours and third parties') stay ordinary imports resolved from node_modules. So a
 * backend plugin that imports `@local-router/core` and `effect` gets the very instances
 * local-router runs with. Package "exports" point Node at dist/ and, under the
 * `@local-router/source` condition (tsc, vitest), at src/.
 *
 * A package is rebuilt only when the hash of its sources (and of this file) differs from the
 * one its last build wrote into dist/, so running this before every start costs one read of
 * the sources. `--check` only says (exit 1) whether something is stale; `--root` builds another
 * workspace laid out the same way (the tests use one).
 *
 *   node scripts/build.js [--check] [--root DIR]
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { parseArgs } from "node:util"

const repo = path.resolve(import.meta.dirname, "..")
const stampName = ".source-hash"

/** Every file under dir, as sorted paths relative to it. @param {string} dir @returns {Array<string>} */
const files = (dir) =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort()

/** The workspace packages with TypeScript to compile. @param {string} root */
const packages = (root) =>
  ["packages", "apps", "examples"].flatMap((group) =>
    fs.existsSync(path.join(root, group)) ? fs.readdirSync(path.join(root, group)).map((name) => path.join(root, group, name)) : []
  ).filter((dir) => fs.existsSync(path.join(dir, "src")) && files(path.join(dir, "src")).some((file) => file.endsWith(".ts")))

const self = fs.readFileSync(import.meta.filename)

/** What a package's build is made from: its sources' names and contents, and this file. @param {string} dir */
const sourceHash = (dir) => {
  const hash = createHash("sha256").update(self)
  for (const part of ["src", "ui"]) {
    if (!fs.existsSync(path.join(dir, part))) continue
    for (const file of files(path.join(dir, part))) hash.update(`\0${part}/${file}\0`).update(fs.readFileSync(path.join(dir, part, file)))
  }
  return hash.digest("hex")
}

/** @param {string} dir */
const stale = (dir) => {
  try {
    return fs.readFileSync(path.join(dir, "dist", stampName), "utf8") !== sourceHash(dir)
  } catch {
    return true
  }
}

/**
 * Every import stays an import: a relative one is written with the extension of its output
 * (`.ts` -> `.js`), anything else as it was. Only the entry points themselves are read, so
 * each source file becomes exactly one output file.
 * @type {import("esbuild").Plugin}
 */
const oneFileEach = {
  name: "one-file-each",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) =>
      args.kind === "entry-point" ? undefined : { path: args.path.startsWith(".") ? args.path.replace(/\.ts$/, ".js") : args.path, external: true })
  }
}

/**
 * Builds into a directory of its own and then swaps it in, so that a process starting meanwhile
 * (or a second build running at the same time) never sees half a dist/.
 * @param {typeof import("esbuild")} esbuild @param {string} dir
 */
const build = async (esbuild, dir) => {
  const src = path.join(dir, "src")
  const dist = path.join(dir, "dist")
  const hash = sourceHash(dir)
  const next = fs.mkdtempSync(path.join(dir, ".dist-"))
  try {
    await esbuild.build({
      entryPoints: files(src).filter((file) => /\.(ts|js|mjs)$/.test(file) && !file.endsWith(".d.ts")).map((file) => path.join(src, file)),
      outdir: next,
      outbase: src,
      bundle: true,
      plugins: [oneFileEach],
      platform: "node",
      format: "esm",
      target: "node22",
      sourcemap: "linked",
      logLevel: "warning"
    })
    // A browser page (ui/main.tsx) is the one thing bundled: its framework and all, minified, into
    // dist/ui/app.js, so the page loads nothing from anywhere but the gateway.
    if (fs.existsSync(path.join(dir, "ui", "main.tsx"))) {
      await esbuild.build({
        entryPoints: [path.join(dir, "ui", "main.tsx")],
        outfile: path.join(next, "ui", "app.js"),
        bundle: true,
        minify: true,
        platform: "browser",
        format: "esm",
        target: "es2022",
        jsx: "automatic",
        jsxImportSource: "preact",
        logLevel: "warning"
      })
    }
    fs.writeFileSync(path.join(next, stampName), hash)
    const old = `${next}-old`
    try {
      fs.renameSync(dist, old)
    } catch (error) {
      // No dist/ yet (or another build just moved it): nothing to move aside.
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== "ENOENT") throw error
    }
    try {
      fs.renameSync(next, dist)
    } catch (error) {
      // Another build put its dist/ there first: it is as new as this one.
      if (!fs.existsSync(dist)) throw error
    }
    fs.rmSync(old, { recursive: true, force: true })
  } finally {
    fs.rmSync(next, { recursive: true, force: true })
  }
}

/**
 * Builds every stale package of the workspace at `root` (this repository by default); the
 * set-up (`./run`) and vitest's globalSetup call this.
 */
export async function buildStale(root = repo) {
  const todo = packages(root).filter(stale)
  if (!todo.length) return
  // esbuild is loaded only when there is something to build; it is a dependency of the supervisor.
  /** @type {typeof import("esbuild")} */
  const esbuild = createRequire(path.join(repo, "apps/supervisor/package.json"))("esbuild")
  const started = performance.now()
  await Promise.all(todo.map((dir) => build(esbuild, dir)))
  console.error(`[build] ${todo.map((dir) => path.relative(root, dir)).join(", ")} -> dist/ in ${Math.round(performance.now() - started)} ms`)
}

/** vitest's globalSetup: the processes tests start run the build. */
export const setup = () => buildStale()

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === import.meta.filename) {
  const { values } = parseArgs({ options: { check: { type: "boolean" }, root: { type: "string" } } })
  const root = path.resolve(values.root ?? repo)
  if (values.check) {
    const todo = packages(root).filter(stale)
    if (todo.length) console.error(`stale build: ${todo.map((dir) => path.relative(root, dir)).join(", ")}`)
    process.exitCode = todo.length ? 1 : 0
  } else await buildStale(root)
}
