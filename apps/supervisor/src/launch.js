#!/usr/bin/env node
/**
 * The `local-router` command as installed and as `serve` runs for good: bin.ts with our
 * TypeScript sources loaded already stripped (TypeStripCache.js), so a long-running process
 * does not keep Node's type stripper resident. `node apps/supervisor/src/bin.ts` still works.
 */
import { enableCompileCache } from "node:module"
import * as path from "node:path"
import { register } from "./TypeStripCache.js"

// The CLI starts often and briefly: let Node cache compiled code between runs.
enableCompileCache?.()
register(path.resolve(import.meta.dirname, "../node_modules/.cache/local-router/stripped"))
await import("./bin.ts")
