/** The `local-router` command line: subcommands, errors to exit codes. */
import * as CliConfig from "effect/cli/CliConfig"
import * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as GlobalFlag from "effect/cli/GlobalFlag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { ask } from "./commands/Ask.ts"
import { configCommand } from "./commands/ConfigCheck.ts"
import { demo } from "./commands/Demo.ts"
import { describe } from "./commands/Describe.ts"
import { logs } from "./commands/Logs.ts"
import { pdf } from "./commands/Pdf.ts"
import { pluginCommand, plugins } from "./commands/Plugins.ts"
import { routes } from "./commands/Routes.ts"
import { pull } from "./commands/Pull.ts"
import { serve } from "./commands/Serve.ts"
import { service } from "./commands/Service.ts"
import { status } from "./commands/Status.ts"
import { root } from "./Root.ts"
import { ExitCode, jsonError, reported } from "./ExitCode.ts"
import pkg from "../package.json" with { type: "json" }

export const command = root.pipe(Command.withSubcommands([ask, describe, pdf, routes, configCommand, demo, plugins, pluginCommand, serve, status, logs, service, pull]))

/** A usage error as one plain line: the parser's message, its suggestions folded in. */
const usageError = (error: CliError.NonShowHelpErrors): string => {
  const [said] = error.message.split("\n")
  const suggestions = "suggestions" in error ? error.suggestions : []
  return suggestions.length ? `${said} (did you mean ${suggestions.join(", ")}?)` : said!
}

/**
 * Does this command line ask for JSON? Read from the words themselves, before the parser runs,
 * so that a usage error and any failure of the command are reported as JSON too.
 */
export const wantsJson = (args: ReadonlyArray<string>): boolean => {
  const end = args.indexOf("--")
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === "--json" || a === "--json=true")
}

/**
 * Help as effect/cli lays it out (colour on a terminal only, never with NO_COLOR); `--version`
 * as the bare version, for scripts; a usage error as one line and the command's usage, on stderr
 * (with `--json`, as the JSON error object on stdout).
 */
const presenter = (json: boolean): CliOutput.Presenter => ({
  present: (event) => {
    switch (event._tag) {
      case "Version":
        return Console.log(event.version)
      case "InvalidInvocation": {
        const message = event.errors.map(usageError).join("; ")
        return json
          ? Console.log(jsonError({ code: ExitCode.notFound, reason: "Usage", message, details: { usage: event.helpDoc.usage } }))
          : Console.error(`local-router: ${message}\nusage: ${event.helpDoc.usage}`)
      }
      case "Help":
        return CliOutput.defaultPresenter.present(event)
    }
  }
})

/**
 * The global flags effect/cli adds to every command, less `--wizard`: it builds a command line
 * by prompting, which a router's commands (a prompt, a file) gain little from, and with no
 * terminal on stdin it waited forever.
 */
const builtIns = GlobalFlag.BuiltIns.filter((flag) => flag !== GlobalFlag.Wizard)

/**
 * A reader that went away (`local-router demo | head -5`) ends the command as Ctrl-C would:
 * its finalizers run (the demo's simulators stop, its temporary directory goes) and it exits 0,
 * instead of dying on an unhandled EPIPE with a stack trace.
 */
const endOnBrokenPipe = Effect.sync(() => {
  let gone = false
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") throw error
      if (!gone) process.kill(process.pid, "SIGINT")
      gone = true
    })
  }
})

/** Run the command line `args` (without node and the script). A usage error exits 2, as the README says. */
export const run = (args: ReadonlyArray<string>) => {
  const json = wantsJson(args)
  return Effect.andThen(endOnBrokenPipe, Command.runWith(command, { version: pkg.version })(args)).pipe(
    reported(json),
    Effect.catchTag("ShowHelp", (help) =>
      Effect.sync(() => {
        if (help.errors.length > 0) process.exitCode = ExitCode.notFound
      })),
    Effect.provideService(CliOutput.Presenter, presenter(json)),
    Effect.provideService(CliConfig.CliConfig, CliConfig.make({ builtIns }))
  )
}
