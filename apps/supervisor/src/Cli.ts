/** The `local-router` command line: subcommands, errors to exit codes. */
import * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
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
import { ExitCode, reported } from "./ExitCode.ts"
import pkg from "../package.json" with { type: "json" }

export const command = root.pipe(Command.withSubcommands([ask, describe, pdf, routes, configCommand, demo, plugins, pluginCommand, serve, status, service, pull]))

/** A usage error as one plain line: the parser's message, its suggestions folded in. */
const usageError = (error: CliError.NonShowHelpErrors): string => {
  const [said] = error.message.split("\n")
  const suggestions = "suggestions" in error ? error.suggestions : []
  return suggestions.length ? `${said} (did you mean ${suggestions.join(", ")}?)` : said!
}

/**
 * Help as effect/cli lays it out (colour on a terminal only, never with NO_COLOR); `--version`
 * as the bare version, for scripts; a usage error as one line and the command's usage, on stderr.
 */
const presenter: CliOutput.Presenter = {
  present: (event) => {
    switch (event._tag) {
      case "Version":
        return Console.log(event.version)
      case "InvalidInvocation":
        return Console.error(`local-router: ${event.errors.map(usageError).join("; ")}\nusage: ${event.helpDoc.usage}`)
      case "Help":
        return CliOutput.defaultPresenter.present(event)
    }
  }
}

/** Run the command line `args` (without node and the script). A usage error exits 2, as the README says. */
export const run = (args: ReadonlyArray<string>) =>
  Command.runWith(command, { version: pkg.version })(args).pipe(
    reported,
    Effect.catchTag("ShowHelp", (help) =>
      Effect.sync(() => {
        if (help.errors.length > 0) process.exitCode = ExitCode.notFound
      })),
    Effect.provideService(CliOutput.Presenter, presenter)
  )
