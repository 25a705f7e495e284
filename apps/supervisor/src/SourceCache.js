/**
 * Sources as a long-running process should hold them, prepared once and kept on disk. Plain
 * JavaScript because it must run before any .ts.
 *
 * - Our TypeScript, stripped of its types, so a process started through launch.js never loads
 *   Node's type stripper: Node 22 strips every .ts module with a WebAssembly build of swc
 *   (amaro) that stays resident for the life of the process, about 14 MB of a `serve`.
 *   Stripping blanks types out in place, so lines and columns stay where they were.
 * - Our dependencies' JavaScript (anything under node_modules), without its comments and
 *   spacing (esbuild, whitespace only: names and code are untouched). V8 keeps every module's
 *   source text for the life of the process, and effect's modules are more than half JSDoc:
 *   about 1.9 MB of the 3.7 MB a `serve` loads. Their stack-trace positions change; ours do not.
 *
 * A module keeps its own URL (import.meta, stack traces and resolution are unchanged) and only
 * its text is swapped. An entry is named by a hash of the URL and the Node version, and holds
 * the source it was made from: it is used only when that matches exactly, so an edited file is
 * prepared again (and replaces its entry) and a hash collision costs a transform, never a wrong
 * module. A source
 * that cannot be transformed, or a cache that cannot be written, loads exactly as it would
 * without this. Entries of old versions are never read again and are not pruned; deleting the
 * directory is always safe.
 *
 * A process that runs for days (`serve`) registers with `warm`: it never prepares a source
 * itself, since esbuild (with node:crypto) and Node's stripper would stay in its memory for good
 * (measured: a `serve` that filled the cache itself idled at 106 MB instead of 78). At its first
 * missing entry a child process imports `warm` (everything that process loads) and fills the
 * cache; an entry still missing after that (a plugin, say) is prepared by a child of its own.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as module from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * Node warns that stripTypeScriptTypes is experimental; it is the stripper Node itself runs on
 * every .ts here, so the warning says nothing to a user of the command.
 * @template A @param {() => A} f
 */
const quietly = (f) => {
  const emit = process.emitWarning
  process.emitWarning = /** @type {typeof process.emitWarning} */ ((warning, ...rest) => {
    if (!String(warning).includes("stripTypeScriptTypes")) emit.call(process, warning, .../** @type {[any]} */ (rest))
  })
  try {
    return f()
  } finally {
    process.emitWarning = emit
  }
}

/**
 * An entry's name: FNV-1a over the Node version, the transform and the module's URL. The entry
 * holds the source it was made from, and that copy is what decides whether it is used; the name
 * only finds it. (Hashing whole sources in JavaScript at every start cost more than it saved;
 * a cryptographic hash would keep node:crypto loaded in serve, ~3 MB.)
 * @param {string} kind @param {string} url
 */
const entryName = (kind, url) => {
  const text = `${process.version}\0${kind}\0${url}`
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return `${(hash >>> 0).toString(16).padStart(8, "0")}-${text.length.toString(36)}.${kind.split(" ")[0]}`
}

/**
 * The prepared text of `source` from an entry (its source, then the prepared text), or
 * undefined when there is none or it was made from other text. The text is decoded on its own:
 * a slice of the entry's string would keep the whole entry (source included) alive with the module.
 * @param {string} file @param {string} source
 */
const cached = (file, source) => {
  let entry
  try {
    entry = fs.readFileSync(file)
  } catch {
    return undefined
  }
  const length = Buffer.byteLength(source)
  if (entry.length < length || entry.toString("utf8", 0, length) !== source) return undefined
  return entry.toString("utf8", length)
}

/** @param {string} file @param {string} source @param {string} prepared */
const keep = (file, source, prepared) => {
  const partial = `${file}.${process.pid}`
  try {
    fs.writeFileSync(partial, source + prepared)
    fs.renameSync(partial, file)
  } catch {
    // A full disk or a read-only cache only costs the next run a transform.
    fs.rmSync(partial, { force: true })
  }
}

/** @param {string} source */
const strip = (source) => quietly(() => module.stripTypeScriptTypes(source, { mode: "strip" }))

/**
 * Whitespace and comments only: names stay (a renamed local class would change what its
 * `.name` says), and so does the code.
 * @type {import("esbuild").TransformOptions}
 */
const compactOptions = { loader: "js", minifyWhitespace: true, legalComments: "none", charset: "utf8" }

/** Entries are named after the transform as well, so a changed transform never reads old ones. */
const compactKind = `compact ${JSON.stringify(compactOptions)}`

/** @type {typeof import("esbuild") | undefined} */
let esbuild
/** @type {ReturnType<typeof setTimeout> | undefined} */
let idle

/**
 * esbuild runs only when an entry is missing (after an install or an upgrade). Its sync API
 * keeps a worker thread and a child process; they are let go once no module has needed them for
 * a second, so the process that filled the cache does not carry them either.
 * @param {string} source @param {"module" | "commonjs"} format
 */
const compact = (source, format) => {
  esbuild ??= /** @type {typeof import("esbuild")} */ (module.createRequire(import.meta.url)("esbuild"))
  clearTimeout(idle)
  idle = setTimeout(() => {
    esbuild?.stop()
  }, 1000)
  idle.unref?.()
  return esbuild.transformSync(source, { ...compactOptions, format: format === "commonjs" ? "cjs" : "esm" }).code
}

/** @typedef {"strip" | "compact"} Kind */

/**
 * An entry made here, or undefined when there is none to make: a source Node cannot strip
 * loads as Node loads it, which reports its error. What esbuild cannot read is not ours to
 * judge: it is kept as it is.
 * @param {Kind} kind @param {string} source @param {string} format
 */
const make = (kind, source, format) => {
  if (kind === "strip") {
    try {
      return strip(source)
    } catch {
      return undefined
    }
  }
  try {
    return compact(source, format === "commonjs" ? "commonjs" : "module")
  } catch {
    return source
  }
}

const self = fileURLToPath(import.meta.url)

/**
 * Runs this file as a child process (see the end of the file), quietly, for at most two minutes;
 * its failures only cost a miss.
 * @param {ReadonlyArray<string>} args @param {string} [input]
 */
const child = (args, input) => {
  spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", self, ...args], {
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "ignore", "ignore"],
    timeout: 120_000,
    killSignal: "SIGKILL",
    windowsHide: true
  })
}

/** @typedef {{ readonly dir: string; readonly warm?: string | undefined; warmed: boolean }} Cache */

/**
 * The prepared text of the module at `url`: from its entry, or made now and kept. A cache with
 * `warm` makes nothing itself: its first miss has `warm` imported by a child process (filling
 * the cache for everything it loads), a later one is made by a child of its own. Undefined when
 * nothing could be made.
 * @param {Cache} cache @param {Kind} kind @param {string} url @param {string} source @param {string} format
 */
const entry = (cache, kind, url, source, format) => {
  const file = path.join(cache.dir, entryName(kind === "strip" ? "strip" : compactKind, url))
  const hit = cached(file, source)
  if (hit !== undefined) return hit
  if (cache.warm === undefined) {
    const made = make(kind, source, format)
    if (made !== undefined) keep(file, source, made)
    return made
  }
  if (!cache.warmed) {
    cache.warmed = true
    child(["warm", cache.dir, cache.warm])
    const warmed = cached(file, source)
    if (warmed !== undefined) return warmed
  }
  child(["one", cache.dir, kind, url, format], source)
  return cached(file, source)
}

/** @param {string | ArrayBuffer | Uint8Array} source */
const text = (source) => (typeof source === "string" ? source : Buffer.from(/** @type {Uint8Array} */ (source)).toString("utf8"))

/**
 * @param {string} dir where prepared sources are kept
 * @param {{ readonly warm?: string }} [options] `warm`: the URL of a module that loads what this
 *   process will load; with it, this process prepares nothing itself (see above)
 */
export const register = (dir, options = {}) => {
  if (typeof module.registerHooks !== "function" || typeof module.stripTypeScriptTypes !== "function") return false
  try {
    fs.mkdirSync(dir, { recursive: true })
  } catch {
    // Read-only install: Node loads as usual.
    return false
  }
  /** @type {Cache} */
  const cache = { dir, warm: options.warm, warmed: false }
  module.registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context)
      if (loaded.source == null) return loaded
      if (loaded.format === "module-typescript") {
        const stripped = entry(cache, "strip", url, text(loaded.source), "module")
        return stripped === undefined ? loaded : { format: "module", source: stripped, shortCircuit: true }
      }
      if ((loaded.format === "module" || loaded.format === "commonjs") && url.startsWith("file:") && url.includes("/node_modules/")) {
        const compacted = entry(cache, "compact", url, text(loaded.source), loaded.format)
        return compacted === undefined ? loaded : { ...loaded, source: compacted }
      }
      return loaded
    }
  })
  return true
}

/**
 * As a child process: `warm <dir> <url>` imports the module at url with the cache filling;
 * `one <dir> <strip|compact> <url> <format>` makes the entry of the source on stdin.
 */
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === self) {
  const [command, dir, ...rest] = process.argv.slice(2)
  if (command === "warm" && dir !== undefined && rest[0] !== undefined) {
    register(dir)
    // What fails to evaluate here was prepared anyway (preparing happens as a module loads).
    await import(rest[0]).catch(() => undefined)
    // Whatever the imported modules started (a timer, a worker) must not keep serve waiting.
    process.exit(0)
  } else if (command === "one" && dir !== undefined && (rest[0] === "strip" || rest[0] === "compact") && rest[1] !== undefined) {
    fs.mkdirSync(dir, { recursive: true })
    entry({ dir, warmed: false }, rest[0], rest[1], fs.readFileSync(0, "utf8"), rest[2] ?? "module")
    esbuild?.stop()
  } else {
    console.error("usage: SourceCache.js warm <dir> <module url> | one <dir> <strip|compact> <url> <format>  (source on stdin)")
    process.exitCode = 2
  }
}
