/** The root `local-router` command; subcommands read its global options by yielding it. */
import { Command } from "@effect/cli"
import { configOption } from "./CliConfig.ts"

export const root = Command.make("local-router", { config: configOption }).pipe(
  Command.withDescription("Route LLM requests to the best local model server, with fallback")
)
