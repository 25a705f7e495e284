/**
 * routing.yaml as a command uses it: located (`--config`, else the usual places), read and fully
 * checked, or running as a router. Commands load this when they run (CliConfig.routingFile),
 * not when the command line is parsed.
 */
import { BackendLoader, LiveRouting, Router, RoutingConfig } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { loaderOptions } from "./Builtins.ts"

export { loaderOptions }

/** The config file this command uses. */
export const locate = (config: Option.Option<string>) => RoutingConfig.locate({ flag: Option.getOrUndefined(config) })

/** Locate, read and fully check the config (backend options included). */
export const load = (config: Option.Option<string>) =>
  Effect.flatMap(locate(config), (file) =>
    Effect.flatMap(RoutingConfig.readFile(file), (text) => BackendLoader.check(text, file, loaderOptions)))

/** A running router over the located config, for commands that answer requests. */
export const router = (config: Option.Option<string>) =>
  Effect.gen(function*() {
    const file = yield* locate(config)
    const live = yield* LiveRouting.make(file, { ...loaderOptions, watch: false })
    return { live, router: yield* Router.make(live.snapshot) }
  })
