/**
 * The flags commands share: `--config FILE` (declared once, on the root command, and accepted
 * before or after any subcommand; given both before and after, the one nearer the command
 * wins, as it comes last) and `--json`. Only declarations live here, so the command
 * line, `--help` included, is parsed without loading core: what a command does with routing.yaml
 * is in RoutingFile.ts, which each command loads when it runs (`routingFile`).
 */
import * as Argument from "effect/cli/Argument"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"

export const configOption = Flag.File("config").pipe(
  Flag.withDescription(
    "routing.yaml to use (default: $LOCAL_ROUTER_CONFIG, ./routing.yaml, ~/.config/local-router/routing.yaml)"
  ),
  Flag.atMost(2),
  Flag.map((files) => Option.fromUndefinedOr(files.at(-1)))
)

export const jsonOption = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON for scripts"), Flag.withDefault(false))

/**
 * A file argument that must exist, kept as the user typed it: messages and `pdf --json`'s events
 * show that path (Argument.File would make it absolute).
 */
export const existingFile = (name: string, description: string) =>
  Argument.String(name).pipe(
    Argument.withMetavar("file"),
    Argument.withDescription(description),
    Argument.filter((file) => fs.existsSync(file), () => "Expected an existing file")
  )

/** RoutingFile.ts, loaded by the command that runs. */
export const routingFile = Effect.promise(() => import("./RoutingFile.ts"))
