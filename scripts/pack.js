/**
 * `./run pack`: local-router as one npm package, `local-router-<version>.tgz`, that
 * `npm install -g ./local-router-<version>.tgz` turns into a working `local-router` command on
 * any machine with Node >= 22, without this repository and without publishing anything.
 *
 * The package is the supervisor (apps/supervisor: the command, its `bin`, its version) with the
 * workspace packages it runs (`@local-router/core`, the backends, the gateway, vision, the
 * simulators `local-router demo` starts) bundled under its node_modules (npm's
 * `bundleDependencies`), each as its built JavaScript (dist/) and a package.json without
 * dependencies (see `stage` for why). Third-party packages are the package's own ordinary
 * `dependencies`, at the exact versions the workspace pins, so npm fetches them from the
 * registry at install time and places one copy of each (one `effect`) beside the bundled
 * packages. None of them needs an install script (sharp and @napi-rs/canvas take their native
 * binaries from optional per-platform packages), so npm's install-script approval has nothing
 * to ask. Also inside: the repo's routing.yaml (what `demo` runs) and plugin-kit/, core packed
 * for `local-router plugin new`.
 *
 * Left out: sources, tests, source maps, build stamps, devDependencies (esbuild, the SDKs the
 * tests use).
 *
 *   node scripts/pack.js [--out DIR]     (writes DIR/local-router-<version>.tgz, DIR = the repo)
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { buildStale } from "./build.js"

const repo = path.resolve(import.meta.dirname, "..")
const app = "apps/supervisor"
/** The package's own name: what `npm install -g` names the install and `npm ls -g` shows. */
const name = "local-router"

/** @typedef {{ name: string, version: string, description?: string, license?: string, type?: string, exports?: unknown, bin?: unknown, dependencies?: Record<string, string>, peerDependencies?: Record<string, string>, peerDependenciesMeta?: unknown, engines?: unknown }} Manifest */

/** @param {string} file @returns {any} */
const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"))

/** Every workspace package by name: its directory and manifest. */
const workspace = () => {
  /** @type {Map<string, { dir: string, manifest: Manifest }>} */
  const found = new Map()
  for (const group of ["packages", "apps", "examples"]) {
    for (const entry of fs.readdirSync(path.join(repo, group))) {
      const dir = path.join(repo, group, entry)
      if (fs.existsSync(path.join(dir, "package.json"))) {
        const manifest = readJson(path.join(dir, "package.json"))
        found.set(manifest.name, { dir, manifest })
      }
    }
  }
  return found
}

/** The workspace packages `start` runs, itself first: the closure of its `workspace:` dependencies. */
const closure = (/** @type {ReturnType<typeof workspace>} */ all, /** @type {string} */ start) => {
  const seen = new Set([start])
  for (const current of seen) {
    for (const [dep, spec] of Object.entries(all.get(current)?.manifest.dependencies ?? {})) {
      if (spec.startsWith("workspace:")) seen.add(dep)
    }
  }
  return [...seen].map((pkg) => ({ name: pkg, ...all.get(pkg) ?? fail(`${pkg} is not a workspace package`) }))
}

/** @param {string} message @returns {never} */
const fail = (message) => {
  throw new Error(`pack: ${message}`)
}

const EXACT = /^\d+\.\d+\.\d+(-[\w.]+)?$/

/**
 * A package's dependencies as the packed package states them: a workspace one at its version
 * (it is bundled), a third-party one exactly as the workspace pins it.
 */
const dependenciesOf = (/** @type {Manifest} */ manifest, /** @type {ReturnType<typeof workspace>} */ all) =>
  Object.fromEntries(Object.entries(manifest.dependencies ?? {}).map(([dep, spec]) => {
    if (spec.startsWith("workspace:")) return [dep, all.get(dep)?.manifest.version ?? fail(`${dep} is not a workspace package`)]
    if (!EXACT.test(spec)) fail(`${manifest.name} depends on ${dep}@${spec}: pin an exact version, the package installs what the tests ran`)
    return [dep, spec]
  }))

/** Package exports without the `@local-router/source` condition (sources are not shipped). */
const publishedExports = (/** @type {unknown} */ exports) =>
  exports === undefined ? undefined : Object.fromEntries(Object.entries(/** @type {Record<string, unknown>} */ (exports)).map(([key, target]) => {
    if (typeof target !== "object" || target === null) return [key, target]
    const { ["@local-router/source"]: _source, ...rest } = /** @type {Record<string, unknown>} */ (target)
    return [key, Object.keys(rest).length === 1 && "default" in rest ? rest["default"] : rest]
  }))

/** Every file an export points at (the targets, not the subpaths). @param {unknown} exports @returns {Array<string>} */
const exportTargets = (exports) =>
  typeof exports === "string" ? [exports] : typeof exports === "object" && exports !== null ? Object.values(exports).flatMap(exportTargets) : []

/** Files an export points at outside dist/ (core's routing.schema.json). */
const exportedFiles = (/** @type {unknown} */ exports) =>
  [...new Set(exportTargets(publishedExports(exports)))].map((target) => path.normalize(target)).filter((file) => !file.startsWith(`dist${path.sep}`))

/** Copy a package's dist/ (without source maps and build stamps) and the files its exports name. */
const copyBuild = (/** @type {string} */ from, /** @type {string} */ to, /** @type {unknown} */ exports) => {
  fs.cpSync(path.join(from, "dist"), path.join(to, "dist"), {
    recursive: true,
    filter: (source) => !source.endsWith(".map") && path.basename(source) !== ".source-hash"
  })
  for (const file of exportedFiles(exports)) fs.cpSync(path.join(from, file), path.join(to, file))
}

/** A bundled package's manifest: what Node needs to load it, and no dependencies (see `stage`). */
const publishedManifest = (/** @type {Manifest} */ manifest) => ({
  name: manifest.name,
  version: manifest.version,
  description: manifest.description,
  license: manifest.license,
  type: manifest.type,
  exports: publishedExports(manifest.exports),
  // Optional peers (core's vitest, for its contract suite) only: nothing npm would install.
  peerDependencies: manifest.peerDependencies,
  peerDependenciesMeta: manifest.peerDependenciesMeta
})

/**
 * `npm pack` the package in `dir` into `out`; returns the tarball's path. npm writes the tarball
 * npm itself would publish (bundled packages included) and runs no script.
 */
const npmPack = (/** @type {string} */ dir, /** @type {string} */ out) => {
  const file = execFileSync("npm", ["pack", "--silent", "--ignore-scripts", "--pack-destination", path.resolve(out)], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  }).trim().split("\n").at(-1)
  return path.join(path.resolve(out), file || fail(`npm pack of ${dir} printed no file name`))
}

/** Write the package into a fresh directory and return it. */
export const stage = async () => {
  await buildStale()
  const all = workspace()
  const [self, ...bundled] = closure(all, all.get("@local-router/supervisor") ? "@local-router/supervisor" : fail(`no ${app}`))
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "local-router-pack-")), name)

  // Third-party dependencies of everything packed, one version each, at the top: npm installs
  // them once, where every bundled package finds them.
  /** @type {Record<string, string>} */
  const thirdParty = {}
  for (const pkg of [self, ...bundled]) {
    for (const [dep, version] of Object.entries(dependenciesOf(pkg.manifest, all))) {
      if (all.has(dep)) continue
      if (thirdParty[dep] !== undefined && thirdParty[dep] !== version) fail(`${dep} is pinned at both ${thirdParty[dep]} and ${version}`)
      thirdParty[dep] = version
    }
  }

  for (const pkg of bundled) {
    const to = path.join(dir, "node_modules", pkg.name)
    copyBuild(pkg.dir, to, pkg.manifest.exports)
    // No `dependencies` here: npm takes every dependency of a bundled package for part of the
    // bundle and, finding it missing from the tarball, leaves an empty directory where effect
    // or sharp should be. Listed once at the top instead, they are installed from the registry
    // and found from here by Node's upward lookup, the same copies the command uses.
    fs.writeFileSync(path.join(to, "package.json"), `${JSON.stringify(publishedManifest(pkg.manifest), null, 2)}\n`)
  }

  // `local-router plugin new` puts this copy of core into a new plugin package (vendor/), with its
  // dependencies stated, so the plugin's tests run against this very core from a plain
  // `npm install`, on any machine, with nothing published.
  const kit = path.join(dir, "plugin-kit")
  const core = bundled.find((pkg) => pkg.name === "@local-router/core") ?? fail("@local-router/core is not among the packed packages")
  const coreStage = path.join(path.dirname(dir), "core")
  copyBuild(core.dir, coreStage, core.manifest.exports)
  fs.writeFileSync(
    path.join(coreStage, "package.json"),
    `${JSON.stringify({ ...publishedManifest(core.manifest), dependencies: dependenciesOf(core.manifest, all) }, null, 2)}\n`
  )
  fs.mkdirSync(kit)
  npmPack(coreStage, kit)

  copyBuild(self.dir, dir, self.manifest.exports)
  fs.cpSync(path.join(repo, "README.md"), path.join(dir, "README.md"))
  // What `local-router demo` points at simulated servers (the repo's own routing.yaml).
  fs.cpSync(path.join(repo, "routing.yaml"), path.join(dir, "routing.yaml"))
  const root = readJson(path.join(repo, "package.json"))
  const manifest = {
    name,
    version: self.manifest.version,
    description: "Routes requests from apps and agents to local model servers (MLX, Ollama, Moondream Station) with cloud fallback",
    license: self.manifest.license,
    type: "module",
    bin: { [name]: "dist/bin.js" },
    exports: publishedExports(self.manifest.exports),
    engines: root.engines,
    dependencies: {
      ...thirdParty,
      ...Object.fromEntries(bundled.map((pkg) => [pkg.name, pkg.manifest.version]))
    },
    bundleDependencies: bundled.map((pkg) => pkg.name)
  }
  fs.writeFileSync(path.join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`)
  return { dir, version: manifest.version }
}

/** Stage and `npm pack` into `out`; returns the tarball's path. */
export const pack = async (out = repo) => {
  const started = performance.now()
  const staged = await stage()
  try {
    fs.mkdirSync(out, { recursive: true })
    const tarball = npmPack(staged.dir, out)
    const size = fs.statSync(tarball).size
    console.error(`[pack] ${path.relative(process.cwd(), tarball) || tarball}: ${(size / 1024).toFixed(0)} KB in ${Math.round(performance.now() - started)} ms`)
    return tarball
  } finally {
    fs.rmSync(path.dirname(staged.dir), { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === import.meta.filename) {
  const { values } = parseArgs({ options: { out: { type: "string" } } })
  console.log(await pack(values.out))
}
