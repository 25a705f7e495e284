/**
 * `local-router plugins [--json]`: the backend types routing.yaml can use and where each comes
 * from. `local-router plugin new <name> [--dir DIR]`: scaffold a backend package.
 */
import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { configOption, jsonOption, load, loaderOptions } from "../CliConfig.ts"
import * as Inventory from "../plugin/Inventory.ts"
import { root } from "../Root.ts"

export const plugins = Command.make("plugins", { config: configOption, json: jsonOption }, ({ config, json }) =>
  Effect.gen(function*() {
    const parent = yield* root
    const inventory = yield* Inventory.load(yield* load(config, parent.config), loaderOptions)
    yield* Console.log(json ? JSON.stringify(inventory, null, 2) : Inventory.describe(inventory))
  })).pipe(Command.withDescription("List the backend types: where each was loaded from, its version and contract, or why it failed to load"))
