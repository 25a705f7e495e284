/**
 * The backend types local-router ships. They are ordinary backend definitions, loaded through
 * the same BackendLoader path as any plugin; this map only saves resolving them by package.
 */
import type { Backend } from "@local-router/core"
import { definition as cloud } from "@local-router/backend-cloud"
import { definition as mlx } from "@local-router/backend-mlx"
import { definition as moondream } from "@local-router/backend-moondream"
import { definition as ollama } from "@local-router/backend-ollama"

export const builtins: ReadonlyMap<string, Backend.Definition> = new Map<string, Backend.Definition>([
  ["mlx", mlx as Backend.Definition],
  ["ollama", ollama as Backend.Definition],
  ["moondream", moondream as Backend.Definition],
  ["cloud", cloud as Backend.Definition]
])
