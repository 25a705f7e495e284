/**
 * `local-router plugins [--json]`: the backend types routing.yaml can use and where each comes
 * from. `local-router plugin new <name> [--dir DIR]`: scaffold a backend package.
 * `local-router plugin add <dir|tarball|npm name>` / `plugin remove <name>`: install a plugin into
 * the plugin directory (PluginDir.ts), where local-router loads it from, or take it out.
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
import type * as PluginDirModule from "../plugin/PluginDir.ts"
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
        `  local-router plugin add ${target}`,
        `  and in routing.yaml:  type: ${pkg}`
      ].join("\n"))
    })
).pipe(Command.withDescription("Scaffold a backend plugin package: definition, README, and a test running core's contract suite against a simulated server"))

const loadPluginDir = Effect.promise(() => import("../plugin/PluginDir.ts"))

/** A plugin command's failure: one line on stderr (or a JSON object with --json), and its exit code. */
const failed = (error: PluginDirModule.PluginError, json: boolean) =>
  Effect.gen(function*() {
    const code = error.reason === "NpmFailed" || error.reason === "NotAPlugin" ? ExitCode.rejected : ExitCode.notFound
    yield* json
      ? Console.log(JSON.stringify({ error: { code, reason: error.reason, message: error.message } }, null, 2))
      : Console.error(`local-router: ${error.message}`)
    yield* Effect.sync(() => {
      process.exitCode = code
    })
  })

const pluginAdd = Command.make(
  "add",
  {
    plugin: Argument.String("plugin").pipe(
      Argument.withMetavar("dir|tarball|name"),
      Argument.withDescription("A plugin package: its directory, a packed .tgz, or its npm name (name@version)")
    ),
    json: jsonOption
  },
  ({ json, plugin }) =>
    Effect.gen(function*() {
      const PluginDir = yield* loadPluginDir
      const { loaderOptions } = yield* routingFile
      const { BackendLoader } = yield* Effect.promise(() => import("@local-router/core"))
      const added = yield* PluginDir.add(plugin, loaderOptions.pluginDir)
      // Loaded the way serve will load it: a package that is no plugin, or one for another
      // contract, is taken out again rather than left to fail later.
      const loaded = yield* Effect.result(BackendLoader.resolve(added.name, added.dir, loaderOptions))
      if (loaded._tag === "Failure") {
        yield* PluginDir.remove(added.name, added.dir)
        return yield* failed(new PluginDir.PluginError({ reason: "NotAPlugin", message: `not added: ${loaded.failure.message}` }), json)
      }
      const { definition, from } = loaded.success
      const result = { name: added.name, version: definition.version ?? null, contract: definition.contract, from, pluginDir: added.dir }
      yield* Console.log(
        json
          ? JSON.stringify({ added: result }, null, 2)
          : [
            `added ${added.name} ${definition.version ?? ""} (contract ${definition.contract}) to ${added.dir}`,
            `name it in routing.yaml:  backends: { <name>: { type: ${added.name}, url: "http://..." } }`
          ].join("\n")
      )
    }).pipe(Effect.catchTag("PluginError", (error) => failed(error, json)))
).pipe(Command.withDescription("Install a backend plugin where local-router loads plugins from (a directory, a .tgz, or an npm name)"))

const pluginRemove = Command.make(
  "remove",
  { name: Argument.String("name").pipe(Argument.withDescription("The plugin's package name, as `plugins` lists it")), json: jsonOption },
  ({ json, name }) =>
    Effect.gen(function*() {
      const PluginDir = yield* loadPluginDir
      const { loaderOptions } = yield* routingFile
      const removed = yield* PluginDir.remove(name, loaderOptions.pluginDir)
      yield* Console.log(json ? JSON.stringify({ removed }, null, 2) : `removed ${removed.name} from ${removed.dir}`)
    }).pipe(Effect.catchTag("PluginError", (error) => failed(error, json)))
).pipe(Command.withDescription("Uninstall a backend plugin that `plugin add` installed"))

export const pluginCommand = Command.make("plugin").pipe(
  Command.withDescription("Write, install and remove backend plugins"),
  Command.withSubcommands([pluginNew, pluginAdd, pluginRemove])
)
