#!/usr/bin/env node
/**
 * The `local-router` command as installed and as `serve` runs for good: bin.ts with our
 * TypeScript sources loaded already stripped and our dependencies without their comments
 * (SourceCache.js), so a long-running process holds neither Node's type stripper nor a few MB
 * of JSDoc. `node apps/supervisor/src/bin.ts` still works.
 */
import { enableCompileCache } from "node:module"
import * as path from "node:path"
import { register } from "./SourceCache.js"

/**
 * The subcommand: the first word that is not an option or a global option's value
 * (`local-router --config f.yaml serve` is `serve`).
 * @param {ReadonlyArray<string>} args
 */
const subcommand = (args) => {
  for (let i = 0; i < args.length; i++) {
    const arg = /** @type {string} */ (args[i])
    if (arg === "--config" || arg === "--log-level" || arg === "--completions") i++
    else if (!arg.startsWith("-")) return arg
  }
  return undefined
}

// The CLI starts often and briefly: Node's compile cache makes a start ~13 % faster. It also
// keeps every entry it read in memory for the life of the process (to write them back at
// exit), about 6 MB that a `serve` running for days would hold for a start it made once.
const args = process.argv.slice(2)
const serving = subcommand(args) === "serve"
if (!serving) enableCompileCache?.()
// LOCAL_ROUTER_SOURCE_CACHE: where prepared sources are kept, when the install is read-only.
const cache = process.env.LOCAL_ROUTER_SOURCE_CACHE || path.resolve(import.meta.dirname, "../node_modules/.cache/local-router/sources")
// serve runs for days: what it is missing is prepared by child processes, never by serve itself.
register(cache, serving ? { warm: new URL("./serve/Warm.ts", import.meta.url).href } : {})
// serve reads its few options without loading the CLI (serve/Main.ts); anything else is the CLI's.
const started = serving && (await (await import("./serve/Main.ts")).start(args))
if (!started) await import("./bin.ts")
