#!/usr/bin/env node
// The `local-router` command. Installed and started (by ./run, the service) as its build,
// dist/bin.js: plain JavaScript, see scripts/build.js.
import { enableCompileCache } from "node:module"

// Node keeps the code it compiled for our modules and packages on disk, for a faster start of
// every short command. It also holds every entry it read for the life of the process (~7 MB),
// so serve as the service runs it sets NODE_DISABLE_COMPILE_CACHE (Service.serveEnvironment).
enableCompileCache()

const [NodeServices, { runMain }, Effect, Cli] = await Promise.all([
  import("@effect/platform-node/NodeServices"),
  import("@effect/platform-node/NodeRuntime"),
  import("effect/Effect"),
  import("./Cli.ts")
])

Cli.run(process.argv.slice(2)).pipe(Effect.provide(NodeServices.layer), runMain)
