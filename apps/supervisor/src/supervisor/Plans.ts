/**
 * routing.yaml -> the servers to supervise. The `supervise:` block is validated here with the
 * same located errors as the rest of the file (file:line:col, did-you-mean), by handing core's
 * parser an options schema for each backend type that is the type's own options plus
 * `supervise`. (Core will list `supervise` among the common backend keys; until then this is
 * what keeps a backend's own strict options schema from rejecting it.)
 */
import { type Backend, BackendLoader, type ConfigError, RoutingConfig } from "@local-router/core"
import { Effect, Either, Schema } from "effect"
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

const withSupervise = (own: Schema.Schema<any, any> | undefined): Schema.Schema<any, any> => {
  const field = Schema.optionalWith(Supervise.Field, { exact: true })
  const fields = (own as { fields?: Schema.Struct.Fields } | undefined)?.fields
  return fields
    ? Schema.Struct({ ...fields, supervise: field })
    : Schema.Struct({ supervise: field }, Schema.Record({ key: Schema.String, value: Schema.Unknown }))
}

const withoutSupervise = (options: Readonly<Record<string, unknown>>) =>
  Object.fromEntries(Object.entries(options).filter(([k]) => k !== "supervise"))

/** Parse and check a routing.yaml's text, and plan its supervised servers. */
export const fromText = (text: string, file: string, options: BackendLoader.Options = {}): Effect.Effect<Loaded, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const first = RoutingConfig.parse(text, file)
    if (Either.isLeft(first)) return yield* first.left
    const types = new Map<string, Either.Either<BackendLoader.Loaded, BackendLoader.LoadError>>()
    for (const entry of Object.values(first.right.backends)) {
      if (!types.has(entry.type)) types.set(entry.type, yield* Effect.either(BackendLoader.resolve(entry.type, first.right.dir, options)))
    }
    const definitionOf = (type: string) => {
      const loaded = types.get(type)
      return loaded && Either.isRight(loaded) ? loaded.right.definition : undefined
    }
    const checked = RoutingConfig.parse(text, file, { optionsSchemaFor: (type) => withSupervise(definitionOf(type)?.options) })
    if (Either.isLeft(checked)) return yield* checked.left
    const config = checked.right
    const servers: Array<Server> = []
    for (const entry of Object.values(config.backends)) {
      const definition = definitionOf(entry.type)
      const loaded = types.get(entry.type)
      const own = withoutSupervise(entry.options)
      const decoded = definition ? Schema.decodeUnknownEither(definition.options)(own) : Either.right(own)
      const block = entry.options.supervise === undefined ? undefined : Schema.decodeUnknownSync(Supervise.Field)(entry.options.supervise)
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
