/** `--config FILE`, accepted by the root command and by every subcommand (the nearer one wins). */
import { Options } from "@effect/cli"
import { BackendLoader, LiveRouting, Router, RoutingConfig } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { loaderOptions } from "./Builtins.ts"

export const configOption = Options.file("config").pipe(
  Options.withDescription(
    "routing.yaml to use (default: $LOCAL_ROUTER_CONFIG, ./routing.yaml, ~/.config/local-router/routing.yaml)"
  ),
  Options.optional
)

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print JSON for scripts"))

export { loaderOptions }

/** The config file this command uses. */
export const locate = (own: Option.Option<string>, root: Option.Option<string>) =>
  RoutingConfig.locate({ flag: Option.getOrUndefined(Option.orElse(own, () => root)) })

/** Locate, read and fully check the config (backend options included). */
export const load = (own: Option.Option<string>, root: Option.Option<string>) =>
  Effect.flatMap(locate(own, root), (file) =>
    Effect.flatMap(RoutingConfig.readFile(file), (text) => BackendLoader.check(text, file, loaderOptions)))

/** A running router over the located config, for commands that answer requests. */
export const router = (own: Option.Option<string>, rootConfig: Option.Option<string>) =>
  Effect.gen(function*() {
    const file = yield* locate(own, rootConfig)
    const live = yield* LiveRouting.make(file, { ...loaderOptions, watch: false })
    return { live, router: yield* Router.make(live.snapshot) }
  })
