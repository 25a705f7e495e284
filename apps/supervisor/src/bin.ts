#!/usr/bin/env node
// The CLI starts often and briefly: let Node cache compiled code between runs.
import { enableCompileCache } from "node:module"
enableCompileCache?.()

const NodeContext = await import("@effect/platform-node/NodeContext")
const { runMain } = await import("@effect/platform-node/NodeRuntime")
const { Effect } = await import("effect")
const Cli = await import("./Cli.ts")

Cli.run(process.argv).pipe(Effect.provide(NodeContext.layer), runMain)
