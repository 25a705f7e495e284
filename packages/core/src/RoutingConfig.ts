/**
 * routing.yaml: find it, read it, validate it, and say exactly where it is wrong.
 *
 * Every problem becomes an Issue with file, line, column, the field's path and what was
 * expected. Nothing here throws; `parse` is pure so a hot reload can test an edit before it
 * replaces the running config.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { visit } from "yaml"
import type { ModelCapabilities, Timeouts } from "./Backend.ts"
import type { Policy as BreakerPolicy } from "./CircuitBreaker.ts"
import { ConfigError, formatPath, Issue } from "./ConfigError.ts"
import { didYouMean } from "./internal/didYouMean.ts"
import { keysAt } from "./internal/schemaKeys.ts"
import * as SourceMap from "./internal/SourceMap.ts"
import { backendCommonKeys, type InputKind, inputKinds, type ModelEntry, RoutingFile } from "./RoutingSchema.ts"

export { ConfigError, Issue } from "./ConfigError.ts"
export type { InputKind } from "./RoutingSchema.ts"

export interface BackendConfig {
  readonly name: string
  readonly type: string
  readonly url: string | undefined
  /** The environment variable that holds the API key (`apiKey: env:NAME`); never the key. */
  readonly apiKeyEnv: string | undefined
  readonly enabled: boolean
  readonly timeouts: Partial<Timeouts>
  readonly breaker: Partial<BreakerPolicy>
  /** Limits for image input (scaled down to fit before sending). */
  readonly images: { readonly maxSide?: number; readonly maxPixels?: number; readonly maxBytes?: number }
  /** What routing.yaml declares its models can do (`capabilities:`), over its type's defaults. */
  readonly capabilities: ModelCapabilities
  /** The raw `supervise:` block, for the supervisor (validated when it supplies its schema). */
  readonly supervise: unknown
  /** The backend type's own options: every key of the entry besides the common ones. */
  readonly options: Readonly<Record<string, unknown>>
}

export interface CategoryConfig {
  readonly name: string
  readonly description: string | undefined
  readonly input: InputKind
  /** Backend name -> model, in the order written. */
  readonly models: Readonly<Record<string, string>>
  /** Backend name -> what routing.yaml declares that model can do (`{ model, capabilities }`), for those that declare it. */
  readonly capabilities: Readonly<Record<string, ModelCapabilities>>
  /** Backend name -> the vector space its model's embeddings belong to: the declared `space:`, else the model's name. */
  readonly spaces: Readonly<Record<string, string>>
  /** The list this category tries: its own `priority`, or its input kind's. */
  readonly priority: ReadonlyArray<string>
  readonly priorityOverridden: boolean
  readonly timeouts: Partial<Timeouts>
}

export interface ServerConfig {
  readonly host: string
  readonly port: number
  /** The environment variable holding the gateway's bearer token (`token: env:NAME`); never the token. */
  readonly tokenEnv: string | undefined
  /** Browser origins allowed besides the gateway's defaults (this machine's pages, desktop apps). */
  readonly origins: ReadonlyArray<string>
  readonly maxBodyBytes: number
  /** Connection limits set in routing.yaml (milliseconds, bytes, counts); the gateway defaults the rest. */
  readonly limits: {
    readonly headersTimeoutMs?: number
    readonly requestTimeoutMs?: number
    readonly keepAliveTimeoutMs?: number
    readonly maxHeaderBytes?: number
    readonly maxConnectionsPerClient?: number
    readonly maxConnections?: number
  }
}

export const defaultServer: ServerConfig = {
  host: "127.0.0.1",
  port: 4141,
  tokenEnv: undefined,
  origins: [],
  maxBodyBytes: 32 * 1024 * 1024,
  limits: {}
}

export interface Config {
  readonly file: string
  readonly dir: string
  readonly defaults: { readonly timeouts: Timeouts; readonly breaker: BreakerPolicy }
  readonly server: ServerConfig
  readonly backends: Readonly<Record<string, BackendConfig>>
  readonly priorities: Readonly<Record<InputKind, ReadonlyArray<string>>>
  readonly categories: Readonly<Record<string, CategoryConfig>>
}

export const defaultTimeouts: Timeouts = { connect: 30_000, firstToken: 60_000, idle: 30_000, total: 600_000 }
export const defaultBreaker: BreakerPolicy = { failures: 3, cooldown: 30_000 }

/** Validates a backend type's own options, when the type's definition is known. */
export type OptionsSchemaFor = (type: string) => Schema.Codec<any, any> | undefined

export interface ParseOptions {
  readonly optionsSchemaFor?: OptionsSchemaFor
  /** Validates each backend's `supervise:` block (the supervisor supplies it). */
  readonly superviseSchema?: Schema.Codec<any, any>
  /**
   * What is wrong with a backend `type:`, reported at the type's place in the file; undefined
   * when it can be used. `config check` supplies it: a type that names no built-in and no
   * installed plugin is an error there (a running router marks that backend failed and runs the rest).
   */
  readonly typeProblem?: (type: string) => string | undefined
}

/**
 * What to say about a backend `type:` that names nothing installed: the nearest built-in or
 * installed plugin when it is a near miss (a typo of a built-in is never a package to install),
 * else `otherwise`, the loader's own account (where it looked, how to install a plugin).
 */
export const unknownTypeMessage = (type: string, known: Iterable<string>, otherwise: string): string => {
  // Compared without the plugin naming convention's prefix, which every plugin shares: a long
  // shared prefix would make any two plugins look alike ("...-vllm" is no typo of "...-llamacpp").
  const byShort = new Map([...known].map((name) => [shortType(name), name]))
  const hint = didYouMean(shortType(type), byShort.keys())
  return hint === undefined ? otherwise : `unknown backend type "${type}" (did you mean "${byShort.get(hint)}"?)`
}

const shortType = (type: string) => type.replace(/^(@[^/]+\/)?local-router-backend-/, "")

const SECRET_KEY = /(api[-_]?key|token|secret|password)$/i

/** Parse and validate the text of a routing.yaml. `file` is used for locations only. */
export const parse = (text: string, file: string, options: ParseOptions = {}): Result.Result<Config, ConfigError> => {
  const source = SourceMap.parse(text)
  const issues: Array<Issue> = []
  const report = (at: ReadonlyArray<PropertyKey>, message: string, key = false) => {
    const { line, column } = source.locate(at, { key })
    issues.push(new Issue({ file, line, column, path: formatPath(at), message }))
  }
  const invalid = () =>
    Result.fail(new ConfigError({ reason: "Invalid", file, issues: issues.sort(byPosition) }))

  // Only the first syntax error is reported: the ones after it are nearly always its echo
  // (one stray bracket makes every later token "unexpected"), and listing them would both
  // bury the real one and quote the rest of the file back, inline secrets included.
  const [syntax, ...cascade] = source.document.errors
  if (syntax) {
    const { line, column } = source.at(syntax.pos[0])
    const more = cascade.length === 0 ? "" : ` (${cascade.length} more syntax error${cascade.length === 1 ? "" : "s"} after it, most likely caused by this one)`
    issues.push(new Issue({ file, line, column, path: "", message: `YAML syntax: ${yamlMessage(syntax.message)}${more}` }))
    return invalid()
  }

  let raw: unknown
  try {
    raw = source.document.toJS({ maxAliasCount: 100 })
  } catch (cause) {
    // yaml throws here only for alias abuse (e.g. a billion-laughs file, or an alias to no anchor).
    const message = cause instanceof Error ? firstLine(cause.message) : String(cause)
    const unresolved = /^Unresolved alias[^:]*: (.*)$/.exec(message)
    if (!unresolved) report([], `YAML: ${message}`)
    else {
      // The alias's name is not repeated (it may be a mistyped secret); its position says which one.
      let offset = source.document.contents?.range?.[0] ?? 0
      visit(source.document, {
        Alias: (_, node) => {
          if (node.source !== unresolved[1] || !node.range) return
          offset = node.range[0]
          return visit.BREAK
        }
      })
      const { line, column } = source.at(offset)
      issues.push(new Issue({ file, line, column, path: "", message: "YAML: an alias (*name) refers to no anchor (&name) defined before it" }))
    }
    return invalid()
  }
  if (raw === null || raw === undefined) {
    report([], "the file is empty; expected backends, priorities and categories")
    return invalid()
  }

  const decoded = Schema.decodeUnknownResult(RoutingFile, { errors: "all", onExcessProperty: "error" })(raw)
  if (Result.isFailure(decoded)) {
    for (const problem of problemsOf(decoded.failure.issue)) {
      reportSchemaIssue(problem, RoutingFile.ast, raw, report)
    }
    checkInlineSecrets(raw, report)
    return invalid()
  }
  const routing = decoded.success
  checkInlineSecrets(raw, report)
  checkReferences(routing, report)
  if (options.optionsSchemaFor) checkBackendOptions(routing, options.optionsSchemaFor, report)
  if (options.superviseSchema) checkSupervise(routing, options.superviseSchema, report)
  if (options.typeProblem) checkTypes(routing, options.typeProblem, report)
  if (issues.length > 0) return invalid()
  return Result.succeed(resolve(routing, file))
}

type Report = (at: ReadonlyArray<PropertyKey>, message: string, key?: boolean) => void

/**
 * One problem of a failed decode: where, and whether it is a missing key, a key not expected
 * there, or a wrong value (`actual`: the message says only what was expected, and the value
 * found is described after it).
 */
interface Problem {
  readonly _tag: "Missing" | "Unexpected" | "Value"
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  readonly actual?: boolean
}

/**
 * A decode's issue tree as a flat list of problems, each with its full path. A schema that
 * carries its own message (e.g. "expected a duration like 30s") speaks for every problem of its
 * value, whichever of its parts failed: the person wrote one value, and gets one message for it.
 */
const problemsOf = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey> = []): Array<Problem> => {
  switch (issue._tag) {
    case "Pointer":
      return problemsOf(issue.issue, [...path, ...issue.path])
    case "MissingKey":
      return [{ _tag: "Missing", path, message: "missing" }]
    case "UnexpectedKey":
      return [{ _tag: "Unexpected", path, message: "unexpected" }]
  }
  const own = ownMessage(issue)
  // A union of a name and a map (a category's model entry) whose map member took the value:
  // that member's own problems (an unknown key, a wrong flag) say more than the union's message.
  const mapTookIt = issue._tag === "AnyOf" &&
    issue.issues.some((inner) => inner._tag === "Pointer" || (inner._tag === "Composite" && inner.ast._tag === "Objects"))
  if (own !== undefined && !mapTookIt) return [{ _tag: "Value", path, message: own }]
  // The value as written failed (before it could be transformed): its own problems are the ones to tell.
  if (issue._tag === "Encoding") return problemsOf(issue.issue, path)
  if ((issue._tag === "Composite" || issue._tag === "AnyOf") && issue.issues.length > 0) {
    return issue.issues.flatMap((inner) => problemsOf(inner, path))
  }
  return formatIssue(issue).issues.map((i) => ({
    _tag: "Value",
    path: [...path, ...(i.path ?? []).map(keyOf)],
    message: i.message,
    actual: issue._tag === "InvalidType" || issue._tag === "AnyOf"
  }))
}

/** The message a schema was given for its value, if any: on the schema itself or on its last check. */
const ownMessage = (issue: SchemaIssue.Issue): string | undefined => {
  const annotations = issue._tag === "Filter"
    ? [issue.filter.annotations]
    : "ast" in issue && issue.ast
    ? [issue.ast.annotations, ...(issue.ast.checks ?? []).map((check) => check.annotations).reverse()]
    : []
  const message = annotations.find((a) => typeof a?.message === "string")?.message
  return typeof message === "string" ? message : undefined
}

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()
const keyOf = (segment: PropertyKey | { readonly key: PropertyKey }): PropertyKey => typeof segment === "object" ? segment.key : segment

const reportSchemaIssue = (
  problem: Problem,
  ast: Parameters<typeof keysAt>[0],
  raw: unknown,
  report: Report
) => {
  const at = problem.path
  const key = at[at.length - 1]
  const parent = at.slice(0, -1)
  switch (problem._tag) {
    case "Unexpected": {
      const known = keysAt(ast, parent)
      if (known.length === 0) {
        // A map of names (backends, categories): the key itself is not a valid name.
        report(at, `invalid name "${String(key)}": expected letters, digits, '_', '.' or '-', starting with a letter`, true)
        return
      }
      const hint = didYouMean(String(key), known)
      report(at, `unknown key "${String(key)}"${hint ? ` (did you mean "${hint}"?)` : known.length ? ` (expected one of: ${known.join(", ")})` : ""}`, true)
      return
    }
    case "Missing":
      report(parent, `missing required key "${String(key)}"`)
      return
    default:
      report(at, schemaMessage(problem, valueAt(raw, at)))
  }
}

/**
 * Effect Schema names a whole struct's type where a person needs "a map" and "a list", and a
 * map or list written where it does not belong is never quoted back: it can be the whole file,
 * inline secrets included.
 */
const schemaMessage = (problem: Problem, actual: unknown): string => {
  const match = /^Expected ([\s\S]*)$/.exec(problem.message)
  if (!match || !problem.actual) return problem.message.replace(/^Expected /, "expected ")
  const expected = match[1]!
  const shape = expected.startsWith("{") || expected === "object" ? "a map" : /^(ReadonlyArray<|Array<|array\b|readonly \[)/.test(expected) ? "a list" : expected
  return `expected ${shape}, actual ${describeValue(actual)}`
}

const describeValue = (value: unknown): string =>
  Array.isArray(value)
    ? `a list of ${value.length}`
    : isRecord(value)
    ? "a map"
    : typeof value === "string"
    ? value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value)
    : String(value)

const valueAt = (raw: unknown, at: ReadonlyArray<PropertyKey>): unknown =>
  at.reduce<unknown>((node, key) => (typeof node === "object" && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined), raw)

const checkInlineSecrets = (raw: unknown, report: Report) => {
  const backends = (raw as { backends?: unknown })?.backends
  if (!isRecord(backends)) return
  for (const [name, entry] of Object.entries(backends)) {
    if (!isRecord(entry)) continue
    for (const [key, value] of Object.entries(entry)) {
      if (key === "apiKey" || !SECRET_KEY.test(key)) continue
      if (typeof value === "string" && !/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
        // The value itself is never repeated: it may be a real secret.
        report(["backends", name, key], "expected a secret reference like env:API_KEY (secrets are never written inline)")
      }
    }
  }
}

const checkReferences = (routing: RoutingFile, report: Report) => {
  const backends = Object.keys(routing.backends)
  const unknownBackend = (name: string) => {
    const hint = didYouMean(name, backends)
    return `unknown backend "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; backends are: ${backends.join(", ") || "(none)"}`
  }
  const checkList = (list: ReadonlyArray<string>, at: ReadonlyArray<PropertyKey>) => {
    const seen = new Set<string>()
    list.forEach((name, i) => {
      if (!routing.backends[name]) report([...at, i], unknownBackend(name))
      else if (seen.has(name)) report([...at, i], `backend "${name}" is listed twice`)
      seen.add(name)
    })
  }
  for (const kind of inputKinds) {
    const list = routing.priorities[kind]
    if (list) checkList(list, ["priorities", kind])
  }
  for (const [name, category] of Object.entries(routing.categories)) {
    for (const backend of Object.keys(category.models)) {
      if (!routing.backends[backend]) report(["categories", name, "models", backend], unknownBackend(backend), true)
    }
    if (category.priority) checkList(category.priority, ["categories", name, "priority"])
    const list = category.priority ?? routing.priorities[category.input]
    if (!list) {
      report(["categories", name, "input"], `no priority list for input "${category.input}": add priorities.${category.input} or a priority list to this category`)
      continue
    }
    if (!list.some((backend) => category.models[backend] !== undefined)) {
      report(
        ["categories", name, "models"],
        `no backend to try: models names none of ${category.priority ? "this category's priority list" : `priorities.${category.input}`} (${list.join(", ")})`
      )
    }
  }
}

const checkBackendOptions = (routing: RoutingFile, schemaFor: OptionsSchemaFor, report: Report) => {
  for (const [name, entry] of Object.entries(routing.backends)) {
    const schema = schemaFor(entry.type)
    if (schema) checkAgainst(schema, ownOptions(entry), ["backends", name], `a ${entry.type} backend`, backendCommonKeys, report)
  }
}

const checkTypes = (routing: RoutingFile, typeProblem: (type: string) => string | undefined, report: Report) => {
  for (const [name, entry] of Object.entries(routing.backends)) {
    const problem = typeProblem(entry.type)
    if (problem !== undefined) report(["backends", name, "type"], problem)
  }
}

const checkSupervise = (routing: RoutingFile, schema: Schema.Codec<any, any>, report: Report) => {
  for (const [name, entry] of Object.entries(routing.backends)) {
    if (entry.supervise !== undefined) checkAgainst(schema, entry.supervise, ["backends", name, "supervise"], "a supervise block", [], report)
  }
}

/** Validate one value against a schema, reporting each problem at its place in the file. */
const checkAgainst = (
  schema: Schema.Codec<any, any>,
  value: unknown,
  prefix: ReadonlyArray<PropertyKey>,
  what: string,
  alsoKnown: ReadonlyArray<string>,
  report: Report
) => {
  const result = Schema.decodeUnknownResult(schema, { errors: "all", onExcessProperty: "error" })(value)
  if (Result.isSuccess(result)) return
  for (const problem of problemsOf(result.failure.issue)) {
    const at = problem.path
    const key = String(at[at.length - 1])
    if (problem._tag === "Unexpected") {
      const hint = didYouMean(key, [...alsoKnown, ...keysAt(schema.ast, at.slice(0, -1))])
      report([...prefix, ...at], `unknown key "${key}" for ${what}${hint ? ` (did you mean "${hint}"?)` : ""}`, true)
    } else if (problem._tag === "Missing") {
      report([...prefix, ...at.slice(0, -1)], `missing required key "${key}" for ${what}`)
    } else {
      report([...prefix, ...at], schemaMessage(problem, valueAt(value, at)))
    }
  }
}

const ownOptions = (entry: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(entry).filter(([key]) => !(backendCommonKeys as ReadonlyArray<string>).includes(key)))

const resolve = (routing: RoutingFile, file: string): Config => {
  const timeouts = { ...defaultTimeouts, ...routing.defaults?.timeouts }
  const breaker = { ...defaultBreaker, ...routing.defaults?.breaker }
  const priorities = {
    text: routing.priorities.text ?? [],
    image: routing.priorities.image ?? [],
    pdf: routing.priorities.pdf ?? [],
    embed: routing.priorities.embed ?? []
  }
  const backends = Object.fromEntries(
    Object.entries(routing.backends).map(([name, entry]): [string, BackendConfig] => [name, {
      name,
      type: entry.type,
      url: entry.url,
      apiKeyEnv: entry.apiKey?.slice("env:".length),
      enabled: entry.enabled ?? true,
      timeouts: entry.timeouts ?? {},
      breaker: entry.breaker ?? {},
      images: entry.images ?? {},
      capabilities: entry.capabilities ?? {},
      supervise: entry.supervise,
      options: ownOptions(entry)
    }])
  )
  const categories = Object.fromEntries(
    Object.entries(routing.categories).map(([name, category]): [string, CategoryConfig] => [name, {
      name,
      description: category.description,
      input: category.input,
      models: Object.fromEntries(Object.entries(category.models).map(([backend, entry]) => [backend, modelOf(entry)])),
      capabilities: Object.fromEntries(
        Object.entries(category.models).flatMap(([backend, entry]) => typeof entry === "object" && entry.capabilities ? [[backend, entry.capabilities]] : [])
      ),
      spaces: Object.fromEntries(
        Object.entries(category.models).map(([backend, entry]) => [backend, typeof entry === "object" ? entry.space ?? entry.model : entry])
      ),
      priority: category.priority ?? priorities[category.input],
      priorityOverridden: category.priority !== undefined,
      timeouts: category.timeouts ?? {}
    }])
  )
  const server: ServerConfig = {
    host: routing.server?.host ?? defaultServer.host,
    port: routing.server?.port ?? defaultServer.port,
    tokenEnv: routing.server?.token?.slice("env:".length),
    origins: [...(routing.server?.origins ?? []), ...(routing.server?.cors?.origins ?? [])],
    maxBodyBytes: routing.server?.maxBodyBytes ?? defaultServer.maxBodyBytes,
    limits: limitsOf(routing.server?.limits ?? {})
  }
  return { file, dir: path.dirname(path.resolve(file)), defaults: { timeouts, breaker }, server, backends, priorities, categories }
}

const modelOf = (entry: ModelEntry): string => (typeof entry === "string" ? entry : entry.model)

/** Read a routing.yaml's text, with a clear error when it is missing or unreadable. */
export const readFile = (file: string): Effect.Effect<string, ConfigError> =>
  Effect.tryPromise({
      try: () => fs.promises.readFile(file, "utf8"),
      catch: (cause) => {
        const code = (cause as NodeJS.ErrnoException).code
        return new ConfigError({
          reason: code === "ENOENT" ? "NotFound" : "Unreadable",
          file,
          issues: [],
          detail: code === "ENOENT" ? `${file}: no such file` : `${file}: cannot read (${code ?? String(cause)})`
        })
      }
    })

/** Read and validate a routing.yaml from disk. */
export const load = (file: string, options: ParseOptions = {}): Effect.Effect<Config, ConfigError> =>
  Effect.flatMap(
    readFile(file),
    (text) => Result.match(parse(text, file, options), { onFailure: Effect.fail, onSuccess: Effect.succeed })
  )

export interface LocateInput {
  readonly flag?: string | undefined
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly cwd?: string
  readonly home?: string
}

/** Where the config comes from: `--config`, then LOCAL_ROUTER_CONFIG, ./routing.yaml, ~/.config/local-router/routing.yaml. */
export const candidates = (input: LocateInput = {}): ReadonlyArray<{ readonly file: string; readonly from: string }> => {
  const env = input.env ?? process.env
  const cwd = input.cwd ?? process.cwd()
  const home = input.home ?? os.homedir()
  if (input.flag) return [{ file: path.resolve(cwd, input.flag), from: "--config" }]
  if (env.LOCAL_ROUTER_CONFIG) return [{ file: path.resolve(cwd, env.LOCAL_ROUTER_CONFIG), from: "LOCAL_ROUTER_CONFIG" }]
  return [
    { file: path.resolve(cwd, "routing.yaml"), from: "./routing.yaml" },
    { file: path.join(home, ".config", "local-router", "routing.yaml"), from: "~/.config/local-router/routing.yaml" }
  ]
}

export const locate = (input: LocateInput = {}): Effect.Effect<string, ConfigError> =>
  Effect.suspend(() => {
    const tried = candidates(input)
    const found = tried.find((c) => fs.existsSync(c.file))
    if (found) return Effect.succeed(found.file)
    return Effect.fail(new ConfigError({
      reason: "NotFound",
      file: tried[0]!.file,
      issues: [],
      detail: `no routing.yaml found; looked at: ${tried.map((c) => `${c.file} (${c.from})`).join(", ")}`
    }))
  })

export interface RouteStep {
  readonly backend: string
  readonly model: string | undefined
  /** Why this backend is not tried for the category, when it is not. */
  readonly skip: string | undefined
}

/** The ordered backends a category tries, with the model for each, and those it skips and why. */
export const routeOf = (config: Config, category: CategoryConfig): ReadonlyArray<RouteStep> =>
  category.priority.map((backend) => {
    const model = category.models[backend]
    const entry = config.backends[backend]
    const skip = model === undefined
      ? "no model for this category"
      : entry && !entry.enabled
      ? "disabled in routing.yaml"
      : undefined
    return { backend, model, skip }
  })

/**
 * yaml quotes the source text it stumbled on; that text may be an inline secret, so only a
 * short run of punctuation (`"]"`, `":"`) is kept; the line and column say where the rest is.
 */
const yamlMessage = (message: string) =>
  firstLine(message)
    .replace(/: (".*")$/, (quoted, token: string) => (/^"[^\w\s]{1,3}"$/.test(token) ? quoted : ""))
    .replace(/^(Block scalar header includes extra characters): .*$/, "$1")

const byPosition = (a: Issue, b: Issue) => a.line - b.line || a.column - b.column
const firstLine = (s: string) => s.split("\n")[0]!.trim()
const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const limitsOf = (limits: NonNullable<NonNullable<RoutingFile["server"]>["limits"]>): ServerConfig["limits"] => {
  const { headersTimeout, keepAliveTimeout, maxConnections, maxConnectionsPerClient, maxHeaderBytes, requestTimeout } = limits
  return {
    ...(headersTimeout === undefined ? {} : { headersTimeoutMs: headersTimeout }),
    ...(requestTimeout === undefined ? {} : { requestTimeoutMs: requestTimeout }),
    ...(keepAliveTimeout === undefined ? {} : { keepAliveTimeoutMs: keepAliveTimeout }),
    ...(maxHeaderBytes === undefined ? {} : { maxHeaderBytes }),
    ...(maxConnectionsPerClient === undefined ? {} : { maxConnectionsPerClient }),
    ...(maxConnections === undefined ? {} : { maxConnections })
  }
}
