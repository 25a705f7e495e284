/**
 * The root `local-router` command. Its `--config` is shared: accepted before or after any
 * subcommand, and read by a subcommand's handler by yielding `root`.
 */
import * as Command from "effect/cli/Command"
import { configOption } from "./CliConfig.ts"

export const root = Command.make("local-router").pipe(
  Command.withSharedFlags({ config: configOption }),
  Command.withDescription("Route LLM requests to the best local model server, with fallback")
)
