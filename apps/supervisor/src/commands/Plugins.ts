/**
 * `local-router plugins [--json]`: the backend types routing.yaml can use and where each comes
 * from. `local-router plugin new <name> [--dir DIR]`: scaffold a backend package.
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import { jsonOption, routingFile } from "../CliConfig.ts"
import { ExitCode } from "../ExitCode.ts"
import type * as ScaffoldModule from "../plugin/Scaffold.ts"
import { root } from "../Root.ts"

export const plugins = Command.make("plugins", { json: jsonOption }, ({ json }) =>
  Effect.gen(function*() {
    const parent = yield* root
    const { load, loaderOptions } = yield* routingFile
    const Inventory = yield* Effect.promise(() => import("../plugin/Inventory.ts"))
    const inventory = yield* Inventory.load(yield* load(parent.config), loaderOptions)
    yield* Console.log(json ? JSON.stringify(inventory, null, 2) : Inventory.describe(inventory))
  })).pipe(Command.withDescription("List the backend types: where each was loaded from, its version and contract, or why it failed to load"))

const pluginNew = Command.make(
  "new",
  {
    name: Argument.String("name").pipe(Argument.withDescription("The package name, or a short name (foo -> local-router-backend-foo)")),
    dir: Flag.String("dir").pipe(Flag.withDescription("Where to write it (default: ./<package name>); must not exist or be empty"), Flag.optional)
  },
  ({ dir, name }) =>
    Effect.gen(function*() {
      const Scaffold = yield* Effect.promise(() => import("../plugin/Scaffold.ts"))
      const names = Scaffold.namesOf(name)
      const target = path.resolve(Option.getOrElse(dir, () => names instanceof Scaffold.ScaffoldError ? name : names.pkg.replace(/^@[^/]+\//, "")))
      const written = names instanceof Scaffold.ScaffoldError ? names : yield* Effect.sync(() => Scaffold.write(target, names))
      if (written instanceof Scaffold.ScaffoldError) {
        yield* Console.error(`local-router: ${written.message}`)
        return yield* Effect.sync(() => {
          process.exitCode = ExitCode.notFound
        })
      }
      const pkg = (names as ScaffoldModule.Names).pkg
      yield* Console.log([
        `Created ${pkg} in ${target}:`,
        ...written.map((file) => `  ${path.relative(target, file)}`),
        "",
        "Next:",
        `  cd ${path.relative(process.cwd(), target) || "."} && npm install && npm test`,
        `  then, next to your routing.yaml: npm install ${target}   and   type: ${pkg}`
      ].join("\n"))
    })
).pipe(Command.withDescription("Scaffold a backend plugin package: definition, README, and a test running core's contract suite against a simulated server"))

export const pluginCommand = Command.make("plugin").pipe(
  Command.withDescription("Write backend plugins"),
  Command.withSubcommands([pluginNew])
)
