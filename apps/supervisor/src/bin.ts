#!/usr/bin/env node
// The `local-router` command. Installed and started (by ./run, the service) as its build,
// dist/bin.js: plain JavaScript, see scripts/build.js.
import { enableCompileCache } from "node:module"

// Node keeps the code it compiled for our modules and packages on disk, for a faster start of
// every short command. It also holds every entry it read for the life of the process (~7 MB),
// so serve as the service runs it sets NODE_DISABLE_COMPILE_CACHE (Service.serveEnvironment).
enableCompileCache()

const [NodeServices, { runMain }, Cause, Effect, Exit, Layer, Logger, Runtime, Cli] = await Promise.all([
  import("@effect/platform-node/NodeServices"),
  import("@effect/platform-node/NodeRuntime"),
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

Cli.run(process.argv.slice(2)).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, logger)), runMain({ teardown }))
