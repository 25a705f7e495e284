#!/usr/bin/env node
// The `local-router` command. Installed and started (by ./run, the service) as its build,
// dist/bin.js: plain JavaScript, see scripts/build.js.
import * as NodeModule from "node:module"

// Before anything else loads: on an older Node the first import would fail with a SyntaxError
// that names a Node internal (npm only warns about `engines` when it installs).
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`local-router: needs Node 22.18 or newer; this is Node ${process.versions.node} (${process.execPath})\n`)
  process.exit(2)
}

// Node keeps the code it compiled for our modules and packages on disk, for a faster start of
// every short command. It also holds every entry it read for the life of the process (~7 MB),
// so serve as the service runs it sets NODE_DISABLE_COMPILE_CACHE (Service.serveEnvironment).
NodeModule.enableCompileCache()

// The Node services the CLI runs on come from @effect/platform-node-shared, which
// @effect/platform-node re-exports: the same modules, without that package's redis and undici
// (~20 MB of every install that nothing here loads).
const [NodeChildProcessSpawner, NodeFileSystem, NodePath, NodeStdio, NodeTerminal, { runMain }, Cause, Effect, Exit, Layer, Logger, Runtime, Cli] = await Promise.all([
  import("@effect/platform-node-shared/NodeChildProcessSpawner"),
  import("@effect/platform-node-shared/NodeFileSystem"),
  import("@effect/platform-node-shared/NodePath"),
  import("@effect/platform-node-shared/NodeStdio"),
  import("@effect/platform-node-shared/NodeTerminal"),
  import("@effect/platform-node-shared/NodeRuntime"),
  import("effect/Cause"),
  import("effect/Effect"),
  import("effect/Exit"),
  import("effect/Layer"),
  import("effect/Logger"),
  import("effect/Runtime"),
  import("./Cli.ts")
])

// Stopped by Ctrl-C or SIGTERM (as launchd and systemd stop serve) is a clean exit, 0: the
// LaunchAgent restarts serve only after an unsuccessful one. Effect 4's default would be 130.
const teardown: typeof Runtime.defaultTeardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

// Log lines as local-router has always written them (serve's log file, `service logs`): one line
// each, `timestamp=<ISO date> level=... fiber=#n message="..."`, on stdout.
const logger = Logger.layer([Logger.withConsoleLog(Logger.formatSimple)])

// What @effect/platform-node's NodeServices.layer is: effect/cli's commands run with these.
const services = Layer.provideMerge(
  NodeChildProcessSpawner.layer,
  Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeStdio.layer, NodeTerminal.layer)
)

Cli.run(process.argv.slice(2)).pipe(Effect.provide(Layer.mergeAll(services, logger)), runMain({ teardown }))
