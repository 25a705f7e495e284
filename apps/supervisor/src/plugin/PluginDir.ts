/**
 * The plugin directory: the one place `local-router plugin add` installs backend plugins and
 * local-router loads them from (BackendLoader's `pluginDir`), `~/.local/share/local-router/plugins`
 * by default. It is an npm project of its own, so npm does the installing (a directory, a
 * tarball, a registry name) and `npm ls` there shows what is installed:
 *
 *   package.json        dependencies: the plugins, and "@local-router/core" and "effect" as
 *                       file: links to the copies this local-router runs
 *   node_modules/       the plugins (real copies) and those two links
 *   tarballs/           what `plugin add <dir>` packed and `plugin add <file.tgz>` copied, so
 *                       package.json never names a file that may go away
 *
 * The two links are the point: a plugin declares `@local-router/core` and `effect` as peer
 * dependencies, npm finds them satisfied by the links instead of fetching copies, and Node
 * resolves the links to their real paths, so the plugin imports the very modules local-router
 * runs (one Effect runtime, one BackendError). They are rewritten on every add and remove, which
 * heals them after local-router was reinstalled elsewhere.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

export class PluginError extends Schema.TaggedError<PluginError>()("PluginError", {
  reason: Schema.Literals(["NotInstalled", "NpmFailed", "NotFound", "NotAPlugin"]),
  message: Schema.String
}) {}

/** Where plugins live: $LOCAL_ROUTER_PLUGIN_DIR, else $XDG_DATA_HOME/local-router/plugins, else ~/.local/share/local-router/plugins. */
export const location = (env: Readonly<Record<string, string | undefined>> = process.env): string =>
  env["LOCAL_ROUTER_PLUGIN_DIR"] ||
  path.join(env["XDG_DATA_HOME"] || path.join(env["HOME"] || os.homedir(), ".local", "share"), "local-router", "plugins")

/** The packages a plugin shares with local-router, by name: the directory of the host's own copy. */
export const hostPackages = (): Readonly<Record<string, string>> => {
  const require = createRequire(import.meta.url)
  const packageDir = (name: string, entry: string) => {
    // Up from the package's main file to the directory whose package.json names it.
    for (let dir = path.dirname(entry);; dir = path.dirname(dir)) {
      const manifest = readManifest(dir)
      if (manifest?.name === name) return dir
      if (path.dirname(dir) === dir) throw new Error(`cannot find the package directory of ${name} from ${entry}`)
    }
  }
  return Object.fromEntries(["@local-router/core", "effect"].map((name) => [name, packageDir(name, require.resolve(name))]))
}

interface Manifest {
  readonly name?: string
  readonly version?: string
  readonly dependencies?: Readonly<Record<string, string>>
}

const readManifest = (dir: string): Manifest | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as Manifest
  } catch {
    return undefined
  }
}

/** The installed plugins by name, with what package.json records for each (the host links left out). */
export const installed = (dir: string = location()): ReadonlyMap<string, string> => {
  const links = new Set(["@local-router/core", "effect"])
  return new Map(Object.entries(readManifest(dir)?.dependencies ?? {}).filter(([name]) => !links.has(name)))
}

/** Create the directory's package.json if needed, and point its links at this local-router's packages. */
const prepare = (dir: string) =>
  Effect.sync(() => {
    fs.mkdirSync(path.join(dir, "tarballs"), { recursive: true })
    const manifest = readManifest(dir) ?? {}
    const links = Object.fromEntries(Object.entries(hostPackages()).map(([name, target]) => [name, `file:${target}`]))
    const next = {
      name: "local-router-plugins",
      private: true,
      description: "Backend plugins for local-router: `local-router plugin add|remove` manages this directory",
      ...manifest,
      dependencies: { ...manifest.dependencies, ...links }
    }
    fs.writeFileSync(path.join(dir, "package.json"), `${JSON.stringify(next, null, 2)}\n`)
  })

/** Run npm in `dir`; its output on failure says why. */
const npm = (dir: string, args: ReadonlyArray<string>): Effect.Effect<string, PluginError> =>
  Effect.callback<string, PluginError>((resume) => {
    execFile("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resume(Effect.succeed(stdout))
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT"
      resume(Effect.fail(
        new PluginError({
          reason: "NpmFailed",
          message: missing
            ? "npm was not found on PATH; local-router installs plugins with npm (it comes with Node)"
            : `npm ${args.join(" ")} failed in ${dir}: ${lastLines(stderr || stdout || error.message)}`
        })
      ))
    })
  })

const lastLines = (text: string) => text.trim().split("\n").filter((line) => line.trim() !== "").slice(-6).join("\n")

/** Turn what the user named into what npm installs: a directory is packed and a tarball copied into tarballs/. */
const specOf = (dir: string, what: string): Effect.Effect<{ readonly spec: string; readonly name?: string }, PluginError> =>
  Effect.gen(function*() {
    const local = path.resolve(what)
    const looksLocal = what.startsWith(".") || path.isAbsolute(what) || /\.(tgz|tar\.gz)$/.test(what)
    if (!fs.existsSync(local)) {
      if (looksLocal) return yield* new PluginError({ reason: "NotFound", message: `${what}: no such file or directory` })
      return { spec: what }
    }
    if (fs.statSync(local).isDirectory()) {
      const manifest = readManifest(local)
      if (!manifest?.name) return yield* new PluginError({ reason: "NotFound", message: `${local} has no package.json with a name: not a plugin package` })
      // Packed as `npm publish` would ship it (its `files`, a `prepare` build), then installed as a
      // copy: a link would make the plugin import the core in its own node_modules, not ours.
      const packed = (yield* npm(local, ["pack", "--silent", "--pack-destination", path.join(dir, "tarballs")])).trim().split("\n").at(-1)!
      return { spec: `file:tarballs/${packed}`, name: manifest.name }
    }
    if (!/\.(tgz|tar\.gz)$/.test(local)) {
      return yield* new PluginError({ reason: "NotFound", message: `${what} is neither a package directory nor a packed package (.tgz)` })
    }
    const copy = path.join(dir, "tarballs", path.basename(local))
    if (path.resolve(copy) !== local) fs.copyFileSync(local, copy)
    return { spec: `file:tarballs/${path.basename(local)}` }
  })

/** `name`, `name@1.2.3`, `@scope/name@^1` -> the package name. */
const registryName = (spec: string): string => {
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0)
  return at === -1 ? spec : spec.slice(0, at)
}

export interface Added {
  readonly name: string
  readonly dir: string
}

/** Install a plugin (a directory, a tarball or a registry name) into `dir`; returns its package name. */
export const add = (what: string, dir: string = location()): Effect.Effect<Added, PluginError> =>
  Effect.gen(function*() {
    yield* prepare(dir)
    const before = installed(dir)
    const { name, spec } = yield* specOf(dir, what)
    yield* npm(dir, ["install", "--save", spec])
    const after = installed(dir)
    // The name npm recorded: the entry that is new or changed; for a reinstall of the same thing,
    // the entry naming this spec, or (a registry spec such as name@1.2.3) the name written in it.
    const changed = [...after].find(([dep, recorded]) => before.get(dep) !== recorded)?.[0]
    const found = name ?? changed ?? [...after].find(([, recorded]) => recorded === spec)?.[0] ?? [registryName(spec)].find((dep) => after.has(dep))
    if (!found) return yield* new PluginError({ reason: "NpmFailed", message: `npm installed ${what} but package.json in ${dir} does not name it` })
    return { name: found, dir }
  })

/** Uninstall a plugin by package name (and forget the tarball it was installed from). */
export const remove = (name: string, dir: string = location()): Effect.Effect<{ readonly name: string; readonly dir: string }, PluginError> =>
  Effect.gen(function*() {
    const plugins = installed(dir)
    const recorded = plugins.get(name)
    if (recorded === undefined) {
      return yield* new PluginError({
        reason: "NotInstalled",
        message: `${name} is not installed in ${dir}` + (plugins.size ? ` (installed: ${[...plugins.keys()].join(", ")})` : " (no plugins are installed)")
      })
    }
    yield* prepare(dir)
    yield* npm(dir, ["uninstall", "--save", name])
    if (recorded.startsWith("file:tarballs/")) yield* Effect.sync(() => fs.rmSync(path.join(dir, recorded.slice("file:".length)), { force: true }))
    return { name, dir }
  })
