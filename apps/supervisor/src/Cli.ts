/** The `local-router` command line: subcommands, errors to exit codes. */
import { Command } from "@effect/cli"
import type { RouteError } from "@local-router/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { ask } from "./commands/Ask.ts"
import { configCommand } from "./commands/ConfigCheck.ts"
import { demo } from "./commands/Demo.ts"
import { describe } from "./commands/Describe.ts"
import { pdf } from "./commands/Pdf.ts"
import { pluginCommand, plugins } from "./commands/Plugins.ts"
import { routes } from "./commands/Routes.ts"
import { pull } from "./commands/Pull.ts"
import { serve } from "./commands/Serve.ts"
import { service } from "./commands/Service.ts"
import { status } from "./commands/Status.ts"
import { root } from "./Root.ts"
import { ExitCode, forRouteError } from "./ExitCode.ts"
import pkg from "../package.json" with { type: "json" }

export const command = root.pipe(Command.withSubcommands([ask, describe, pdf, routes, configCommand, demo, plugins, pluginCommand, serve, status, service, pull]))

export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "local-router", version: pkg.version })(argv).pipe(
    Effect.catchAll((error) => {
      const code = exitCodeOf(error)
      if (code === undefined) return Effect.fail(error)
      const message = (error as { message?: string }).message ?? String(error)
      return Effect.zipRight(Console.error(code === ExitCode.invalidConfig || code === ExitCode.notFound ? message : `local-router: ${message}`), Effect.sync(() => {
        process.exitCode = code
      }))
    })
  )

/** The exit code for the failures a user can act on; others stay failures (and print a cause). */
const exitCodeOf = (error: unknown): number | undefined => {
  const tagged = error as { _tag?: string; reason?: string }
  switch (tagged._tag) {
    case "ConfigError":
      return tagged.reason === "Invalid" ? ExitCode.invalidConfig : ExitCode.notFound
    case "RouteError":
      return forRouteError(tagged.reason as RouteError.Reason)
    case "VisionError":
      return ExitCode.rejected
    case "ServiceError":
      return ExitCode.serviceFailed
    case "GatewayError":
      return ExitCode.notFound
    default:
      return undefined
  }
}
