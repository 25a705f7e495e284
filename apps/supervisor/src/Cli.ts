/** The `local-router` command line: subcommands, errors to exit codes. */
import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { ask } from "./commands/Ask.ts"
import { configCommand } from "./commands/ConfigCheck.ts"
import { demo } from "./commands/Demo.ts"
import { pluginCommand, plugins } from "./commands/Plugins.ts"
import { routes } from "./commands/Routes.ts"
import { serve } from "./commands/Serve.ts"
import { status } from "./commands/Status.ts"
import { root } from "./Root.ts"
import { ExitCode, forRouteError } from "./ExitCode.ts"
import pkg from "../package.json" with { type: "json" }

export const command = root.pipe(Command.withSubcommands([ask, routes, configCommand, demo, plugins, pluginCommand, serve, status]))

export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "local-router", version: pkg.version })(argv).pipe(
    Effect.catchTags({
      ConfigError: (error) =>
        Effect.zipRight(Console.error(error.message), Effect.sync(() => {
          process.exitCode = error.reason === "Invalid" ? ExitCode.invalidConfig : ExitCode.notFound
        })),
      RouteError: (error) =>
        Effect.zipRight(Console.error(`local-router: ${error.message}`), Effect.sync(() => {
          process.exitCode = forRouteError(error.reason)
        }))
    })
  )
