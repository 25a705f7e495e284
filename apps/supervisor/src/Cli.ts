/** The `local-router` command line: subcommands, errors to exit codes. */
import { Command } from "@effect/cli"
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
import { reported } from "./ExitCode.ts"
import pkg from "../package.json" with { type: "json" }

export const command = root.pipe(Command.withSubcommands([ask, describe, pdf, routes, configCommand, demo, plugins, pluginCommand, serve, status, service, pull]))

export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "local-router", version: pkg.version })(argv).pipe(reported)
