/**
 * What `local-router plugins` reports: every backend type local-router knows for a routing.yaml
 * (the built-ins, the plugins installed in the plugin directory, and each type the file names),
 * where its definition was loaded from, its version and the contract it implements — or why it
 * could not be loaded.
 *
 * The JSON form is for scripts and keeps its shape: every key is always present, `null` when
 * it does not apply.
 */
import { Backend, BackendLoader, type RoutingConfig } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as PluginDir from "./PluginDir.ts"

export interface Entry {
  readonly type: string
  /** "built-in", or the file the definition was imported from; null when it failed to load. */
  readonly from: string | null
  readonly version: string | null
  readonly contract: string | null
  /** The routing.yaml backends of this type. */
  readonly backends: ReadonlyArray<string>
  readonly error: { readonly reason: BackendLoader.LoadError["reason"]; readonly message: string } | null
}

export interface Inventory {
  readonly file: string
  /** The contract this local-router implements; a plugin's major must match. */
  readonly contract: string
  /** Where `local-router plugin add` installs plugins and local-router loads them from. */
  readonly pluginDir: string | null
  readonly plugins: ReadonlyArray<Entry>
}

/**
 * The inventory from every type's load result: the built-ins first (in their registration
 * order), then the installed plugins and the types routing.yaml names, in that order.
 */
export const of = (
  config: RoutingConfig.Config,
  types: ReadonlyMap<string, Result.Result<BackendLoader.Loaded, BackendLoader.LoadError>>,
  pluginDir: string | null = null
): Inventory => {
  const usedBy = (type: string) => Object.values(config.backends).filter((b) => b.type === type).map((b) => b.name)
  const plugins = [...types].map(([type, loaded]): Entry =>
    Result.isSuccess(loaded)
      ? {
        type,
        from: loaded.success.from,
        version: loaded.success.definition.version ?? null,
        contract: loaded.success.definition.contract,
        backends: usedBy(type),
        error: null
      }
      : { type, from: null, version: null, contract: null, backends: usedBy(type), error: { reason: loaded.failure.reason, message: loaded.failure.message } }
  )
  return { file: config.file, contract: Backend.CONTRACT_VERSION, pluginDir, plugins }
}

/**
 * Load every type: the application's built-ins, the plugins installed in the plugin directory,
 * then those routing.yaml names (already tried by `check`).
 */
export const load = (checked: BackendLoader.Checked, options: BackendLoader.Options): Effect.Effect<Inventory> =>
  Effect.gen(function*() {
    const types = new Map<string, Result.Result<BackendLoader.Loaded, BackendLoader.LoadError>>()
    const installed = options.pluginDir ? [...PluginDir.installed(options.pluginDir).keys()] : []
    for (const type of [...options.builtins?.keys() ?? [], ...installed]) {
      types.set(type, checked.types.get(type) ?? (yield* Effect.result(BackendLoader.resolve(type, checked.config.dir, options))))
    }
    for (const [type, loaded] of checked.types) types.set(type, loaded)
    return of(checked.config, types, options.pluginDir ?? null)
  })

/** A table for people: one line per type, the failures with their full reason below it. */
export const describe = (inventory: Inventory): string => {
  const width = Math.max(...inventory.plugins.map((p) => p.type.length))
  const lines = [
    `Backend types for ${inventory.file} (this local-router implements contract ${inventory.contract})`,
    ...(inventory.pluginDir ? [`Plugins are installed in ${inventory.pluginDir} (local-router plugin add|remove)`] : []),
    ""
  ]
  for (const p of inventory.plugins) {
    const used = p.backends.length === 0 ? "unused" : `used by ${p.backends.join(", ")}`
    lines.push(
      p.error === null
        ? `  ${p.type.padEnd(width)}  ${(p.version ?? "-").padEnd(8)} contract ${p.contract}  ${used}  ${p.from}`
        : `  ${p.type.padEnd(width)}  FAILED (${p.error.reason})  ${used}\n      ${p.error.message}`
    )
  }
  return lines.join("\n")
}
