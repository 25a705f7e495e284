#!/usr/bin/env node
// The `local-router` command. Installed and started (by ./run, the service) as its build,
// dist/bin.js: plain JavaScript, see scripts/build.js.
import { enableCompileCache } from "node:module"

// Node keeps the code it compiled for our modules and packages on disk, for a faster start of
// every short command. It also holds every entry it read for the life of the process (~7 MB),
// so serve as the service runs it sets NODE_DISABLE_COMPILE_CACHE (Service.serveEnvironment).
enableCompileCache()

// Only what the CLI needs from the platform (files, paths, the terminal): NodeContext would also
// load worker_threads and the process-spawning service, which nothing here uses.
const [NodeFileSystem, NodePath, NodeTerminal, { runMain }, Effect, Layer, Cli] = await Promise.all([
  import("@effect/platform-node/NodeFileSystem"),
  import("@effect/platform-node/NodePath"),
  import("@effect/platform-node/NodeTerminal"),
  import("@effect/platform-node/NodeRuntime"),
  import("effect/Effect"),
  import("effect/Layer"),
  import("./Cli.ts")
])

Cli.run(process.argv).pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)), runMain)
