/**
 * Our TypeScript sources, stripped of their types once and kept on disk, so that a process
 * started through launch.js never loads Node's type stripper: Node 22 strips every .ts module
 * with a WebAssembly build of swc (amaro) that stays resident for the life of the process —
 * about 14 MB of a long-running `serve`. Plain JavaScript because it must run before any .ts.
 *
 * A module keeps its own URL (import.meta, stack traces and resolution are unchanged) and only
 * its source text is swapped for the stripped text; stripping blanks types out in place, so
 * lines and columns stay where they were. An entry is named by a hash of the source and the Node
 * version, and holds the source it was made from: it is used only when that matches exactly, so
 * an edited file is stripped again (with Node's own stripper, in that run only) and a hash
 * collision costs a strip, never a wrong module. If the cache cannot be written, modules load
 * exactly as they would without it. Entries of old versions are never read again and are not
 * pruned; deleting the directory is always safe.
 */
import * as fs from "node:fs"
import * as module from "node:module"
import * as path from "node:path"

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
 * An entry's name: FNV-1a over the Node version and the source, and the source's length. Not a
 * cryptographic hash on purpose: node:crypto would stay loaded in a long-running serve (~3 MB),
 * and the entry's own copy of the source is what decides.
 * @param {string} source
 */
const entryName = (source) => {
  const text = `${process.version}\0${source}`
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return `${(hash >>> 0).toString(16).padStart(8, "0")}-${source.length.toString(36)}`
}

/**
 * The stripped text of `source` from an entry (its source, then its stripped text), or
 * undefined when there is none or it was made from other text.
 * @param {string} file @param {string} source
 */
const cached = (file, source) => {
  let entry
  try {
    entry = fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
  return entry.startsWith(source) ? entry.slice(source.length) : undefined
}

/** @param {string} dir where stripped sources are kept */
export const register = (dir) => {
  if (typeof module.registerHooks !== "function" || typeof module.stripTypeScriptTypes !== "function") return false
  try {
    fs.mkdirSync(dir, { recursive: true })
  } catch {
    // Read-only install: Node strips as usual.
    return false
  }
  module.registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context)
      if (loaded.format !== "module-typescript" || loaded.source == null) return loaded
      const source = typeof loaded.source === "string" ? loaded.source : Buffer.from(loaded.source).toString("utf8")
      const file = path.join(dir, `${entryName(source)}.strip`)
      let stripped = cached(file, source)
      if (stripped === undefined) {
        stripped = quietly(() => module.stripTypeScriptTypes(source, { mode: "strip" }))
        const partial = `${file}.${process.pid}`
        try {
          fs.writeFileSync(partial, source + stripped)
          fs.renameSync(partial, file)
        } catch {
          // A full disk or a read-only cache only costs the next run a strip.
          fs.rmSync(partial, { force: true })
        }
      }
      return { format: "module", source: stripped, shortCircuit: true }
    }
  })
  return true
}
