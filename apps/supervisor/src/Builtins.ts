/**
 * The backend types local-router ships. They are ordinary backend definitions, loaded through
 * the same BackendLoader path as any plugin; this map only saves resolving them by package.
 */
import type { Backend } from "@local-router/core"

export const builtins: ReadonlyMap<string, Backend.Definition> = new Map<string, Backend.Definition>([])
