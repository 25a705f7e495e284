/** The `local-router` command line: subcommands, errors to exit codes. */
import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { configCommand } from "./commands/ConfigCheck.ts"
import { routes } from "./commands/Routes.ts"
import { root } from "./Root.ts"
import pkg from "../package.json" with { type: "json" }

export const command = root.pipe(Command.withSubcommands([routes, configCommand]))

export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "local-router", version: pkg.version })(argv).pipe(
    Effect.catchTags({
      ConfigError: (error) =>
        Effect.zipRight(Console.error(error.message), Effect.sync(() => {
          process.exitCode = error.reason === "Invalid" ? 1 : 2
        }))
    })
  )
