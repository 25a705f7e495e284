/**
 * Turns routing.yaml's backend entries into Backends. A `type` is looked up among the
 * definitions the application registers (the built-ins), then as a relative path
 * (`./backends/foo.js`, relative to routing.yaml), then as a package resolved with Node's
 * resolution from routing.yaml's directory, then from the plugin directory (where
 * `local-router plugin add` installs), then from local-router's own install.
 *
 * A backend that cannot be loaded, whose contract major differs, or whose `make` fails or
 * hangs past a deadline is marked Failed with the reason; the rest of the config runs.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { CONTRACT_VERSION, type Definition, isDefinition } from "./Backend.ts"
import type { ConfigError } from "./ConfigError.ts"
import * as RoutingConfig from "./RoutingConfig.ts"
import type { BackendConfig, Config } from "./RoutingConfig.ts"
import { Slot } from "./Router.ts"

export interface Loaded {
  readonly type: string
  readonly definition: Definition
  /** Where it came from: "built-in", or the resolved file. */
  readonly from: string
  /** The file's modification time when it was loaded: an edited plugin is a different one. */
  readonly stamp?: number
}

export class LoadError extends Schema.TaggedError<LoadError>()("LoadError", {
  reason: Schema.Literals(["NotFound", "ImportFailed", "NoDefinition", "ContractMismatch", "MakeFailed", "MakeTimeout"]),
  type: Schema.String,
  message: Schema.String
}) {}

/** A built-in definition, or a function that imports it on first use (keeps start-up light). */
// `any` options: a definition's `make` takes its own options type, which no single type covers.
export type Builtin = Definition<any> | (() => Promise<Definition<any>>)

export interface Options {
  /** Definitions registered by the application (local-router's built-in backends). */
  readonly builtins?: ReadonlyMap<string, Builtin>
  /** Where local-router itself is installed, for the last resolution step. */
  readonly selfDir?: string
  /**
   * The plugin directory: a package of its own whose node_modules holds the installed plugins,
   * with `@local-router/core` and `effect` linked to the host's (so a plugin runs on them).
   */
  readonly pluginDir?: string
  /** Validates each backend's `supervise:` block, when the application supervises servers. */
  readonly superviseSchema?: Schema.Codec<any, any>
  /** How long a backend's `make` may take. */
  readonly makeTimeout?: Duration.Input
  readonly env?: Readonly<Record<string, string | undefined>>
}

const majorOf = (version: string) => version.split(".")[0]

/**
 * Why a plugin's contract does not fit, and, for a 1.x plugin, what its author changes: the
 * additions of 2.0 are few and a plugin that does none of the new things needs only to say so.
 */
export const contractMismatch = (type: string, contract: string): string =>
  majorOf(contract) === "1"
    ? `plugin '${type}' implements contract ${contract}; this local-router needs ${majorOf(CONTRACT_VERSION)}.x (${CONTRACT_VERSION}). ` +
      "To move it: capabilities gained tools, jsonSchema, reasoning and embeddings (declare false for what it does not do); " +
      "events gained ReasoningDelta and ToolCallStart/ToolCallDelta/ToolCallEnd, and Done's finishReason \"tool_calls\"; " +
      "requests gained tools, toolChoice, parallelToolCalls, responseFormat and reasoning, and messages the tool role, parts, toolCalls and toolCallId " +
      "(a plugin without tools may ignore them: the router sends them only to backends that declare the capability); " +
      "embed and modelCapabilities are optional. " +
      `Then set contract: "${CONTRACT_VERSION}" (Backend.CONTRACT_VERSION) and install it again; see docs/plugins.md`
    : `backend "${type}" implements contract ${contract}, but this local-router implements ${CONTRACT_VERSION}`

export const resolve = (type: string, configDir: string, options: Options = {}): Effect.Effect<Loaded, LoadError> =>
  Effect.gen(function*() {
    const builtin = options.builtins?.get(type)
    if (builtin) {
      const definition = typeof builtin === "function"
        ? yield* Effect.tryPromise({
          try: builtin,
          catch: (cause) => new LoadError({ reason: "ImportFailed", type, message: `built-in backend "${type}" failed to load: ${describe(cause)}` })
        })
        : builtin
      return { type, definition, from: "built-in" }
    }
    const searched: Array<string> = []
    let file: string | undefined
    if (type.startsWith("./") || type.startsWith("../") || path.isAbsolute(type)) {
      file = path.resolve(configDir, type)
      searched.push(path.dirname(file))
    } else {
      for (const dir of new Set([configDir, ...(options.pluginDir ? [options.pluginDir] : []), options.selfDir ?? process.cwd()])) {
        searched.push(dir)
        try {
          file = createRequire(path.join(dir, "routing.yaml")).resolve(type)
          break
        } catch {
          // Not found from this directory; the next one is tried and all are named in the error.
        }
      }
      if (!file) {
        return yield* new LoadError({
          reason: "NotFound",
          type,
          // A near miss of a built-in is a typo, never a package to install.
          message: RoutingConfig.unknownTypeMessage(
            type,
            options.builtins?.keys() ?? [],
            `backend package "${type}" not found; searched from ${searched.join(" and ")}. ` +
              (options.pluginDir ? `Install it with: local-router plugin add ${type}` : `Install it next to routing.yaml: (cd ${configDir} && npm install ${type})`)
          )
        })
      }
    }
    const resolved = file!
    // A plugin built on Effect 3 would hand this router Effects it cannot run: say so plainly.
    const effect3 = effect3Of(resolved)
    if (effect3) {
      return yield* new LoadError({
        reason: "ContractMismatch",
        type,
        message: `plugin '${type}' is built on Effect 3 (${effect3}); this local-router needs plugins built on Effect 4 ` +
          `(effect 4.x) and contract ${CONTRACT_VERSION}: move it to effect 4 (see Effect's migration guide), then install it again`
      })
    }
    // The file's mtime in the URL makes a hot reload pick up an edited plugin (ESM caches by URL).
    const stamp = yield* Effect.promise(() => fs.promises.stat(resolved).then((s) => s.mtimeMs, () => 0))
    const module = yield* Effect.tryPromise({
      try: () => import(`${pathToFileURL(resolved).href}?v=${stamp}`) as Promise<Record<string, unknown>>,
      catch: (cause) =>
        new LoadError({
          reason: "ImportFailed",
          type,
          message: `backend "${type}" failed to load from ${resolved}: ${describe(cause)}`
        })
    })
    const definition = [module.definition, module.default, ...Object.values(module)].find(isDefinition)
    if (!definition) {
      return yield* new LoadError({
        reason: "NoDefinition",
        type,
        message: `${resolved} exports no backend definition (export one built with Backend.plugin({ name, contract, options, make }))`
      })
    }
    if (majorOf(definition.contract) !== majorOf(CONTRACT_VERSION)) {
      return yield* new LoadError({ reason: "ContractMismatch", type, message: contractMismatch(type, definition.contract) })
    }
    return { type, definition, from: resolved, stamp }
  })

/** Make one backend from its entry. The backend's resources live in `scope`. */
export const make = (
  entry: BackendConfig,
  loaded: Loaded,
  config: Config,
  scope: Scope.Scope,
  options: Options = {}
): Effect.Effect<Slot> => {
  const env = options.env ?? process.env
  const decoded = Schema.decodeUnknownResult(loaded.definition.options)(entry.options)
  if (Result.isFailure(decoded)) {
    return Effect.succeed(Slot.Failed({ reason: `invalid options for ${entry.type}: ${decoded.failure.message.split("\n")[0]}`, code: "InvalidOptions" }))
  }
  const key = entry.apiKeyEnv ? env[entry.apiKeyEnv] : undefined
  return loaded.definition.make({
    name: entry.name,
    url: entry.url,
    apiKey: key ? Redacted.make(key) : undefined,
    apiKeyEnv: entry.apiKeyEnv,
    options: decoded.success,
    configDir: config.dir
  }).pipe(
    Scope.provide(scope),
    Effect.timeoutOrElse({
      duration: options.makeTimeout ?? Duration.seconds(10),
      orElse: () =>
        Effect.fail(
          new LoadError({
            reason: "MakeTimeout",
            type: entry.type,
            message: `backend "${entry.name}" did not start within ${Duration.format(Duration.fromInputUnsafe(options.makeTimeout ?? Duration.seconds(10)))}`
          })
        )
    }),
    Effect.map((backend) => Slot.Ready({ backend, timeouts: loaded.definition.timeouts ?? {} })),
    Effect.catchCause((cause) => {
      const error = Cause.squash(cause)
      const code = error instanceof LoadError ? error.reason : "MakeFailed"
      return Effect.succeed(Slot.Failed({ reason: describe(error), code }))
    })
  )
}

/**
 * Why the plugin at `file` is built on Effect 3, or undefined when it is not: the \`effect\` it
 * would import (the first node_modules/effect up from it, as Node resolves it) is 3.x, or the
 * package.json it belongs to asks for effect 3 only.
 */
export const effect3Of = (file: string): string | undefined => {
  const found = resolvedEffect(path.dirname(file))
  if (found !== undefined) return majorOf(found) === "3" ? `effect ${found} found in its dependencies` : undefined
  const manifest = nearestManifest(path.dirname(file))
  for (const field of ["dependencies", "peerDependencies"] as const) {
    const range = manifest?.[field]?.effect
    if (typeof range === "string" && onlyEffect3(range)) return `effect ${range} in its package.json ${field}`
  }
  return undefined
}

/** The version of the \`effect\` package Node resolves from `dir`, if any. */
const resolvedEffect = (dir: string): string | undefined => {
  for (let at = dir;; at = path.dirname(at)) {
    const version = readManifest(path.join(at, "node_modules", "effect", "package.json"))?.version
    if (typeof version === "string") return version
    if (path.dirname(at) === at) return undefined
  }
}

interface Manifest {
  readonly version?: unknown
  readonly dependencies?: Readonly<Record<string, unknown>>
  readonly peerDependencies?: Readonly<Record<string, unknown>>
}

const nearestManifest = (dir: string): Manifest | undefined => {
  for (let at = dir;; at = path.dirname(at)) {
    const manifest = readManifest(path.join(at, "package.json"))
    if (manifest) return manifest
    if (path.dirname(at) === at) return undefined
  }
}

const readManifest = (file: string): Manifest | undefined => {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"))
    return typeof parsed === "object" && parsed !== null ? parsed as Manifest : undefined
  } catch {
    return undefined
  }
}

/** A semver range every alternative of which is effect 3 (`^3.10.0`, `~3.22`, `3.x`, `>=3.1 <4`). */
const onlyEffect3 = (range: string): boolean =>
  range.split("||").every((alternative) => /^\s*[\^~=v]*\s*3(\.|\s|$)|^\s*>=?\s*3[.\d]*\s*<\s*4(\.0)*\s*$/.test(alternative))

const describe = (error: unknown): string => {
  const text = typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : typeof error === "object" && error !== null
    ? safeJson(error)
    : String(error)
  return text.split("\n")[0]!
}

const safeJson = (value: object): string => {
  try {
    return JSON.stringify(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

export interface Checked {
  readonly config: Config
  /** Every backend type named in the file: its definition, or why it could not be loaded. */
  readonly types: ReadonlyMap<string, Result.Result<Loaded, LoadError>>
}

/**
 * Validate a routing.yaml's text completely: the file's shape, then each backend's own
 * options against its type's schema (types resolved once, here), all with file:line:col.
 */
export const check = (text: string, file: string, options: Options = {}): Effect.Effect<Checked, ConfigError> =>
  Effect.gen(function*() {
    const first = RoutingConfig.parse(text, file)
    if (Result.isFailure(first)) return yield* first.failure
    const config = first.success
    const types = new Map<string, Result.Result<Loaded, LoadError>>()
    for (const entry of Object.values(config.backends)) {
      if (!types.has(entry.type)) types.set(entry.type, yield* Effect.result(resolve(entry.type, config.dir, options)))
    }
    const optionsSchemaFor = (type: string) => {
      const loaded = types.get(type)
      return loaded && Result.isSuccess(loaded) ? loaded.success.definition.options : undefined
    }
    const checked = RoutingConfig.parse(text, file, {
      optionsSchemaFor,
      ...(options.superviseSchema ? { superviseSchema: options.superviseSchema } : {})
    })
    if (Result.isFailure(checked)) return yield* checked.failure
    return { config: checked.success, types }
  })
