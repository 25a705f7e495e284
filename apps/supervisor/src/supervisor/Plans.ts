/**
 * routing.yaml -> the servers to supervise. Core keeps each backend's `supervise:` block raw and
 * validates it, with the same located errors as the rest of the file (file:line:col,
 * did-you-mean), against the schema the supervisor hands it (`Supervise.Field`).
 */
import { type Backend, BackendLoader, type ConfigError, RoutingConfig } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Supervise from "./Supervise.ts"

export interface Server {
  readonly plan: Supervise.Plan
  readonly entry: RoutingConfig.BackendConfig
  /** The backend's definition, for its probe and pulls; undefined when its type cannot be loaded here. */
  readonly definition: Backend.Definition | undefined
  /** Why the definition is missing. */
  readonly definitionError: string | undefined
  /** The backend's own options, decoded by its definition. */
  readonly options: unknown
  /** routing.yaml's directory, which relative paths in the backend's options are resolved from. */
  readonly configDir: string
}

export interface Loaded {
  readonly config: RoutingConfig.Config
  readonly servers: ReadonlyArray<Server>
}

/** Parse and check a routing.yaml's text, and plan its supervised servers. */
export const fromText = (text: string, file: string, options: BackendLoader.Options = {}): Effect.Effect<Loaded, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const { config, types } = yield* BackendLoader.check(text, file, { ...options, superviseSchema: Supervise.Field })
    const definitionOf = (type: string) => {
      const loaded = types.get(type)
      return loaded && Either.isRight(loaded) ? loaded.right.definition : undefined
    }
    const servers: Array<Server> = []
    for (const entry of Object.values(config.backends)) {
      const definition = definitionOf(entry.type)
      const loaded = types.get(entry.type)
      const own = entry.options
      const decoded = definition ? Schema.decodeUnknownEither(definition.options)(own) : Either.right(own)
      const block = entry.supervise === undefined ? undefined : Schema.decodeUnknownSync(Supervise.Field)(entry.supervise)
      const plan = Supervise.plan({
        entry: { ...entry, options: { ...own, ...(block === undefined ? {} : { supervise: block }) } },
        config,
        definition,
        options: Either.getOrElse(decoded, () => own)
      })
      if (!plan) continue
      servers.push({
        plan,
        entry,
        definition,
        definitionError: loaded && Either.isLeft(loaded) ? loaded.left.message : undefined,
        options: Either.getOrElse(decoded, () => own),
        configDir: config.dir
      })
    }
    return { config, servers }
  })

export const load = (file: string, options: BackendLoader.Options = {}) =>
  Effect.flatMap(RoutingConfig.readFile(file), (text) => fromText(text, file, options))
