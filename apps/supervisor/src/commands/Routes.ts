/** `local-router routes`: per category, the ordered backends and models it would try. */
import * as Command from "effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { jsonOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"

export const routes = Command.make("routes", { json: jsonOption }, ({ json }) =>
  Effect.gen(function*() {
    const parent = yield* root
    const { load, loaderOptions } = yield* routingFile
    const { RoutingConfig } = yield* Effect.promise(() => import("@local-router/core"))
    const { config: routing, types } = yield* load(parent.config)
    const categories = Object.values(routing.categories).map((category) => ({
      name: category.name,
      input: category.input,
      description: category.description ?? null,
      priority: category.priorityOverridden ? "category" : `priorities.${category.input}`,
      route: RoutingConfig.routeOf(routing, category).map((step) => {
        const entry = routing.backends[step.backend]!
        const loaded = types.get(entry.type)
        const unavailable = loaded && Result.isFailure(loaded) ? loaded.failure : undefined
        // A typo of a built-in is said as one (never as a package to install).
        const said = unavailable === undefined
          ? null
          : unavailable.reason === "NotFound"
          ? RoutingConfig.unknownTypeMessage(entry.type, loaderOptions.builtins?.keys() ?? [], `type "${entry.type}" unavailable: ${unavailable.message}`)
          : `type "${entry.type}" unavailable: ${unavailable.message}`
        return { backend: step.backend, type: entry.type, model: step.model ?? null, skip: step.skip ?? said }
      })
    }))
    // Which supervised servers `serve` lets pull missing models on start (off unless set).
    const { pullsOnStart } = yield* Effect.promise(() => import("../supervisor/Plans.ts"))
    const pullOnStart = pullsOnStart(routing, types)
    if (json) return yield* Console.log(JSON.stringify({ file: routing.file, categories, pullOnStart }, null, 2))
    const lines = [`Routes from ${routing.file}`, ""]
    for (const category of categories) {
      lines.push(`${category.name}  (${category.input}${category.description ? `: ${category.description}` : ""})`)
      let n = 0
      const width = Math.max(...category.route.map((r) => r.backend.length))
      for (const step of category.route) {
        lines.push(step.skip
          ? `   -  ${step.backend.padEnd(width)}  skipped: ${step.skip}`
          : `  ${String(++n).padStart(2)}. ${step.backend.padEnd(width)}  ${step.model}`)
      }
      lines.push("")
    }
    if (pullOnStart.length) {
      lines.push("Pull on start (supervise: { pull: { onStart: true } } turns it on; default off):")
      const width = Math.max(...pullOnStart.map((p) => p.backend.length))
      for (const p of pullOnStart) {
        lines.push(`  ${p.backend.padEnd(width)}  ${p.onStart ? "on " : "off"}${p.isDefault ? " (default)" : ""}  models: ${p.models.join(", ") || "(none)"}`)
      }
    }
    yield* Console.log(lines.join("\n").trimEnd())
  })).pipe(Command.withDescription("Print, per category, the backends and models local-router would try, in order"))
