/**
 * The backend types local-router ships. They are ordinary backend definitions, loaded through
 * the same BackendLoader path as any plugin; this map only saves resolving them by package.
 * Each is imported on first use, so a command that needs no backend starts fast.
 */
import type { Backend, BackendLoader } from "@local-router/core"
import * as PluginDir from "./plugin/PluginDir.ts"
import * as Supervise from "./supervisor/Supervise.ts"

const lazy = (load: () => Promise<{ readonly definition: unknown }>): BackendLoader.Builtin => () =>
  load().then((module) => module.definition as Backend.Definition)

export const builtins: ReadonlyMap<string, BackendLoader.Builtin> = new Map([
  ["mlx", lazy(() => import("@local-router/backend-mlx"))],
  ["ollama", lazy(() => import("@local-router/backend-ollama"))],
  ["moondream", lazy(() => import("@local-router/backend-moondream"))],
  ["cloud", lazy(() => import("@local-router/backend-cloud"))]
])

// Plugins are resolved from routing.yaml's directory first, then from the plugin directory
// (`local-router plugin add`), then from local-router's own install. Every command checks
// `supervise:` blocks the same way `serve` does.
export const loaderOptions: BackendLoader.Options = {
  builtins,
  selfDir: import.meta.dirname,
  pluginDir: PluginDir.location(),
  superviseSchema: Supervise.Field
}
