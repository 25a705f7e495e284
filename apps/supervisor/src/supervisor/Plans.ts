/**
 * A version of routing.yaml (LiveRouting's snapshot) -> the servers to supervise. The supervisor
 * reads no file: LiveRouting parsed it, validated each `supervise:` block against the schema the
 * supervisor hands it (`Supervise.Field`, with file:line:col and did-you-mean), loaded each
 * type's definition and made each backend once. A server's Plan takes its defaults only from its
 * definition's `supervise`, and it probes and pulls through the very backend the router uses.
 */
import { type Backend, type BackendLoader, type ConfigError, LiveRouting, type RoutingConfig } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Supervise from "./Supervise.ts"

export interface Server {
  readonly plan: Supervise.Plan
  readonly entry: RoutingConfig.BackendConfig
  /** The backend (the same object the router uses, for probes and pulls), or why there is none here. */
  readonly backend: Result.Result<Backend.Backend, string>
  /** Which backend of which version this is: a new one (an edit, a reloaded plugin) means a restart. */
  readonly slot: LiveRouting.Entry["slot"]
  /** How this server spells a model name (its definition's `normalizeModel`; exact without one). */
  readonly normalizeModel: (name: string) => string
}

export interface Loaded {
  readonly version: number
  readonly config: RoutingConfig.Config
  readonly servers: ReadonlyArray<Server>
  /** Blocks that could not be read (LiveRouting was made without `Supervise.Field`): not supervised. */
  readonly invalid: ReadonlyArray<string>
}

const exact = (name: string) => name

/** The servers of one version of routing.yaml. */
export const fromSnapshot = (snapshot: LiveRouting.Snapshot): Loaded => {
  const servers: Array<Server> = []
  const invalid: Array<string> = []
  for (const { entry, loaded, options, slot } of snapshot.entries.values()) {
    const block = entry.supervise === undefined ? Result.succeed(undefined) : Schema.decodeUnknownResult(Supervise.Field)(entry.supervise)
    if (Result.isFailure(block)) {
      invalid.push(`${entry.name}: ${block.failure.message.split("\n")[0]}`)
      continue
    }
    const definition = Result.isSuccess(loaded) ? loaded.success.definition : undefined
    const plan = Supervise.plan({
      entry,
      block: block.success,
      config: snapshot.config,
      defaults: definition?.supervise?.({
        name: entry.name,
        url: entry.url,
        apiKey: undefined,
        apiKeyEnv: entry.apiKeyEnv,
        options,
        configDir: snapshot.config.dir
      })
    })
    if (!plan) continue
    servers.push({
      plan,
      entry,
      backend: slot._tag === "Ready" ? Result.succeed(slot.backend) : Result.fail(slot.reason),
      slot,
      normalizeModel: definition?.normalizeModel ?? exact
    })
  }
  return { version: snapshot.version, config: snapshot.config, servers, invalid }
}

export interface PullOnStart {
  readonly backend: string
  /** `supervise.pull.onStart` as it applies (default false). */
  readonly onStart: boolean
  /** Whether it is the default (no `pull.onStart` in the block). */
  readonly isDefault: boolean
  /** The models serve would pull on start when missing (all of the server's models). */
  readonly models: ReadonlyArray<string>
}

/**
 * For `local-router routes`: which supervised servers pull their missing models on start, out
 * of a checked routing.yaml (BackendLoader.check's `config` and `types`), by the same Plan the
 * supervisor runs.
 */
export const pullsOnStart = (
  config: RoutingConfig.Config,
  types: ReadonlyMap<string, Result.Result<BackendLoader.Loaded, unknown>>
): ReadonlyArray<PullOnStart> =>
  Object.values(config.backends).flatMap((entry) => {
    const block = entry.supervise === undefined ? Result.succeed(undefined) : Schema.decodeUnknownResult(Supervise.Field)(entry.supervise)
    if (Result.isFailure(block)) return []
    const loaded = types.get(entry.type)
    const definition = loaded && Result.isSuccess(loaded) ? loaded.success.definition : undefined
    const plan = Supervise.plan({
      entry,
      block: block.success,
      config,
      defaults: definition?.supervise?.({ name: entry.name, url: entry.url, apiKey: undefined, apiKeyEnv: entry.apiKeyEnv, options: entry.options, configDir: config.dir })
    })
    return plan ? [{ backend: plan.name, onStart: plan.pull.onStart, isDefault: block.success?.pull?.onStart === undefined, models: plan.models }] : []
  })

/** Read routing.yaml once (no watch), for a command that runs no supervisor (`status`, `pull`). */
export const load = (
  file: string,
  options: BackendLoader.Options = {}
): Effect.Effect<Loaded, ConfigError.ConfigError, Scope.Scope> =>
  Effect.flatMap(
    LiveRouting.make(file, { ...options, superviseSchema: Supervise.Field, watch: false }),
    (live) => Effect.map(live.snapshot, fromSnapshot)
  )
