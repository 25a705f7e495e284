/**
 * `local-router config check [file] [--json]`: validate routing.yaml and say exactly where it is
 * wrong. Stricter than a running router on one point: a backend `type:` that names no built-in
 * and no installed plugin is an error here (serve marks that backend failed and runs the rest),
 * with the nearest known type suggested when it looks like a typo.
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as fs from "node:fs"
import * as path from "node:path"
import { existingFile, jsonOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"

/**
 * The packages installed in `dir` as its package.json records them (`npm install` next to
 * routing.yaml, `local-router plugin add` in the plugin directory): did-you-mean candidates
 * besides the built-ins. The plugin directory's links to local-router's own packages are none.
 */
const installedIn = (dir: string): Array<string> => {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { dependencies?: Record<string, unknown> }
    return Object.keys(manifest.dependencies ?? {}).filter((name) => name !== "effect" && !name.startsWith("@local-router/"))
  } catch {
    return []
  }
}

const check = Command.make(
  "check",
  {
    file: existingFile("file", "The routing.yaml to check (default: the one --config or the usual places name)").pipe(Argument.optional),
    json: jsonOption
  },
  ({ file, json }) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { load, loaderOptions } = yield* routingFile
      const { RoutingConfig } = yield* Effect.promise(() => import("@local-router/core"))
      const { config: routing, types } = yield* load(Option.orElse(Option.map(file, (f) => path.resolve(f)), () => parent.config))
      const notFound = new Map([...types].flatMap(([type, loaded]) =>
        Result.isFailure(loaded) && loaded.failure.reason === "NotFound" ? [[type, loaded.failure.message] as const] : []
      ))
      if (notFound.size > 0) {
        const known = [
          ...loaderOptions.builtins?.keys() ?? [],
          ...[...types].flatMap(([type, loaded]) => Result.isSuccess(loaded) ? [type] : []),
          ...installedIn(routing.dir),
          ...(loaderOptions.pluginDir ? installedIn(loaderOptions.pluginDir) : [])
        ]
        const text = yield* RoutingConfig.readFile(routing.file)
        const typeProblem = (type: string) => {
          const said = notFound.get(type)
          return said === undefined ? undefined : RoutingConfig.unknownTypeMessage(type, known, said)
        }
        const checked = RoutingConfig.parse(text, routing.file, { typeProblem })
        if (Result.isFailure(checked)) return yield* checked.failure
      }
      const unavailable = [...types].flatMap(([type, loaded]) => Result.isFailure(loaded) ? [{ type, error: loaded.failure.message }] : [])
      const summary = {
        file: routing.file,
        ok: true,
        backends: Object.keys(routing.backends).length,
        categories: Object.keys(routing.categories).length,
        unavailableTypes: unavailable
      }
      if (json) return yield* Console.log(JSON.stringify(summary, null, 2))
      yield* Console.log(`${routing.file}: OK (${summary.backends} backends, ${summary.categories} categories)`)
      for (const u of unavailable) yield* Console.log(`  note: backend type "${u.type}" cannot be loaded here: ${u.error}`)
    })
).pipe(Command.withDescription("Validate routing.yaml: every error is shown with file:line:column and exits non-zero"))

export const configCommand = Command.make("config").pipe(
  Command.withDescription("Work with routing.yaml"),
  Command.withSubcommands([check])
)
