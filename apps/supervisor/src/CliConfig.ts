/**
 * The options every command shares: `--config FILE` (accepted by the root command and by every
 * subcommand; the nearer one wins) and `--json`. Only declarations live here, so the command
 * line, `--help` included, is parsed without loading core: what a command does with routing.yaml
 * is in RoutingFile.ts, which each command loads when it runs (`routingFile`).
 */
import { Options } from "@effect/cli"
import * as Effect from "effect/Effect"

export const configOption = Options.file("config").pipe(
  Options.withDescription(
    "routing.yaml to use (default: $LOCAL_ROUTER_CONFIG, ./routing.yaml, ~/.config/local-router/routing.yaml)"
  ),
  Options.optional
)

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print JSON for scripts"))

/** RoutingFile.ts, loaded by the command that runs. */
export const routingFile = Effect.promise(() => import("./RoutingFile.ts"))
