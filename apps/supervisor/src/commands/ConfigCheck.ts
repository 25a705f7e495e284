/** `local-router config check [file]`: validate routing.yaml and say exactly where it is wrong. */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { jsonOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"

const check = Command.make(
  "check",
  { file: Argument.File("file").pipe(Argument.optional), json: jsonOption },
  ({ file, json }) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { load } = yield* routingFile
      const { config: routing, types } = yield* load(Option.orElse(file, () => parent.config))
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
