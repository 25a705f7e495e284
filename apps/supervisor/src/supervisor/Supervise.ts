/**
 * The `supervise:` block of a backend in routing.yaml, and the Plan the supervisor runs from it.
 *
 *   ollama:
 *     type: ollama
 *     url: "http://127.0.0.1:11434"
 *     supervise:
 *       enabled: true               # false leaves this server alone (default: true on loopback)
 *       command: ollama             # looked up on PATH, /opt/homebrew/bin, /usr/local/bin, ~/.local/bin
 *       args: [serve]               # {host}, {port} and {model} are filled in
 *       env: { OLLAMA_KEEP_ALIVE: 30m }
 *       adopt: true                 # use a server already listening on the port
 *       readiness: { deadline: 60s }
 *       health: { interval: 5s, failures: 3, full: 60s }
 *       restart: { backoffMin: 250ms, backoffMax: 30s, window: 60s, limit: 5 }
 *       stop: { signal: SIGTERM, grace: 10s }
 *       models: ["phi3.5:3.8b"]     # default: the models routing.yaml's categories name for it
 *       pull: { onStart: true, minFreeDisk: 2GB }   # default onStart: false (see below)
 *
 * A backend is supervised when its block says `enabled: true` or names a `command`, or when its
 * definition gives `supervise` defaults (ollama, mlx, moondream, a plugin that knows its server)
 * and its url is on this machine. Every key is optional: the block wins, then the backend
 * definition's `supervise(context)`, then `baseline`. The supervisor knows no backend type: what
 * a server needs to run comes only from its definition.
 */
import { type Backend, type RoutingConfig, RoutingSchema } from "@local-router/core"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as os from "node:os"
import * as path from "node:path"

const optional = Schema.optionalKey
const Millis = RoutingSchema.Millis

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)$/i
const UNIT = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 } as const

// A schema's own message replaces the default for a wrong type only; each check carries it too,
// so every way a value can be wrong reads the same.
const BYTES = "expected a size like 2GB, 500MB or a number of bytes"

/** A byte count written `2GB`, `500MB` or a number of bytes. */
export const Bytes = Schema.Union([
  Schema.Number.check(Schema.isGreaterThanOrEqualTo(0, { message: BYTES })),
  Schema.String.check(Schema.isPattern(SIZE, { message: BYTES }))
]).annotate({ message: BYTES }).pipe(
  Schema.decodeTo(
    Schema.Number,
    SchemaTransformation.transform({
      decode: (value) => {
        if (typeof value === "number") return value
        // The pattern was checked above.
        const m = SIZE.exec(value)!
        return Number(m[1]) * UNIT[m[2]!.toLowerCase() as keyof typeof UNIT]
      },
      encode: (n) => n
    })
  )
)

export const Signal = Schema.Literals(["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGKILL"]).annotate({
  message: "expected one of SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGKILL"
})

const COUNT = "expected a whole number above 0"
const Count = Schema.Number.annotate({ message: COUNT }).check(
  Schema.isInt({ message: COUNT }),
  Schema.isGreaterThan(0, { message: COUNT })
)

export const Block = Schema.Struct({
  enabled: optional(Schema.Boolean).annotate({
    description: "false: local-router never starts or watches this server. Default: supervised when the backend type has a known server and its url is on this machine"
  }),
  command: optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "The executable: a name looked up on PATH and the usual Mac places, or an absolute path"
  }),
  args: optional(Schema.Array(Schema.String)).annotate({ description: "Arguments; {host}, {port}, {model} are filled in" }),
  env: optional(Schema.Record(Schema.String, Schema.String)),
  cwd: optional(Schema.String),
  adopt: optional(Schema.Boolean).annotate({ description: "Use a server already listening on the port (default true)" }),
  stdin: optional(Schema.Literals(["pipe", "ignore"])).annotate({
    description: "pipe: an open pipe that stays open (interactive servers such as Moondream Station); ignore: /dev/null"
  }),
  readiness: optional(Schema.Struct({ deadline: optional(Millis), interval: optional(Millis) })),
  health: optional(Schema.Struct({
    interval: optional(Millis),
    failures: optional(Count),
    full: optional(Millis).annotate({
      description: "How often the backend's own probe (models, readiness) runs while the server keeps answering; between, a plain GET / every interval shows it still answers"
    })
  })),
  restart: optional(Schema.Struct({
    backoffMin: optional(Millis),
    backoffMax: optional(Millis),
    window: optional(Millis),
    limit: optional(Count)
  })),
  stop: optional(Schema.Struct({ signal: optional(Signal), grace: optional(Millis) })),
  models: optional(Schema.Array(RoutingSchema.ModelName)),
  pull: optional(Schema.Struct({
    onStart: optional(Schema.Boolean).annotate({
      description: "true: when the server is ready, pull the models routing.yaml names for it that it lacks. Default false: models are pulled only by `local-router pull` or the status page"
    }),
    command: optional(Schema.Array(Schema.String).check(Schema.isMinLength(1))).annotate({
      description: "For servers without a pull API (mlx, moondream): e.g. [huggingface-cli, download, \"{model}\"]"
    }),
    minFreeDisk: optional(Bytes)
  })),
  installHint: optional(Schema.String)
})
export type Block = typeof Block.Type

/** The value of `supervise:`. (Not a boolean-or-block union: a union's errors would name both shapes.) */
export const Field = Block

export interface Restart {
  readonly backoffMin: number
  readonly backoffMax: number
  /** A crash loop is `limit` failed runs within `window` ms. */
  readonly window: number
  readonly limit: number
}

/** Everything needed to run one server, fully resolved. Two equal Plans mean "nothing changed". */
export interface Plan {
  readonly name: string
  readonly type: string
  readonly host: string
  readonly port: number
  /** As written (a name or a path); resolved against PATH when the server starts. */
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
  readonly adopt: boolean
  readonly stdin: "pipe" | "ignore"
  readonly readiness: { readonly deadline: number; readonly interval: number }
  /** `full`: the backend's own probe runs at least this often; between, a cheap GET / (see Liveness.ts). */
  readonly health: { readonly interval: number; readonly failures: number; readonly full: number }
  readonly restart: Restart
  readonly stop: { readonly signal: NodeJS.Signals; readonly grace: number }
  readonly models: ReadonlyArray<string>
  readonly pull: { readonly onStart: boolean; readonly command: ReadonlyArray<string> | undefined; readonly minFreeDisk: number }
  readonly installHint: string | undefined
}

export const baseline = {
  adopt: true,
  stdin: "pipe" as const,
  readiness: { deadline: 60_000, interval: 100 },
  health: { interval: 5_000, failures: 3, full: 60_000 },
  restart: { backoffMin: 250, backoffMax: 30_000, window: 60_000, limit: 5 },
  // Below launchd's ExitTimeOut (30 s in our agent) so the supervisor exits in time.
  stop: { signal: "SIGTERM" as NodeJS.Signals, grace: 10_000 },
  // Pulling on start is opt-in: the models a routing.yaml names can be tens of GB (the repo's own
  // names ~4 GB for Ollama alone, 60 GB for mlx), and a service that starts at login must not
  // fill a disk or a metered link unasked. `local-router pull` does it when a person says so.
  pull: { onStart: false, minFreeDisk: 2e9 }
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"])

export interface PlanInput {
  readonly entry: RoutingConfig.BackendConfig
  /** The entry's `supervise:` block, decoded. */
  readonly block: Block | undefined
  readonly config: RoutingConfig.Config
  /** The backend definition's `supervise(context)`, when it has one and could be loaded. */
  readonly defaults: Backend.SuperviseDefaults | undefined
}

/**
 * The Plan for one backend, or undefined when it is not supervised: disabled, `enabled: false`,
 * or no command and no known default (a cloud backend, a remote URL).
 */
export const plan = (input: PlanInput): Plan | undefined => {
  const { config, defaults, entry } = input
  if (!entry.enabled || input.block?.enabled === false) return undefined
  const block: Block = input.block ?? {}
  const url = entry.url ? new URL(entry.url) : undefined
  const host = url ? url.hostname.replace(/^\[|\]$/g, "") : "127.0.0.1"
  const explicit = block.enabled === true || block.command !== undefined
  if (!explicit && (!defaults || !LOOPBACK.has(host))) return undefined
  const command = block.command ?? defaults?.command
  if (command === undefined) return undefined
  const port = url?.port ? Number(url.port) : defaults?.port ?? (url?.protocol === "https:" ? 443 : 80)

  const models = block.models ?? [
    ...new Set(Object.values(config.categories).flatMap((c) => (c.models[entry.name] ? [c.models[entry.name]!] : [])))
  ]
  const fill = (s: string) => s.replaceAll("{host}", host).replaceAll("{port}", String(port)).replaceAll("{model}", models[0] ?? "")
  const args = block.args ?? defaults?.args ?? []
  const env = { ...defaults?.env, ...block.env }
  return {
    name: entry.name,
    type: entry.type,
    host,
    port,
    command: expandHome(command),
    args: args.map(fill),
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, fill(v)])),
    cwd: block.cwd ? path.resolve(config.dir, expandHome(block.cwd)) : config.dir,
    adopt: block.adopt ?? baseline.adopt,
    stdin: block.stdin ?? defaults?.stdin ?? baseline.stdin,
    readiness: { ...baseline.readiness, ...defaults?.readiness, ...block.readiness },
    health: { ...baseline.health, ...defaults?.health, ...block.health },
    restart: { ...baseline.restart, ...block.restart },
    stop: { signal: block.stop?.signal ?? defaults?.stopSignal ?? baseline.stop.signal, grace: block.stop?.grace ?? baseline.stop.grace },
    models,
    pull: {
      onStart: block.pull?.onStart ?? baseline.pull.onStart,
      command: block.pull?.command,
      minFreeDisk: block.pull?.minFreeDisk ?? baseline.pull.minFreeDisk
    },
    installHint: block.installHint ?? defaults?.installHint
  }
}

const expandHome = (p: string) => (p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p)

/** A stable key: a server restarts on reload exactly when its key changes. */
export const key = (p: Plan): string => JSON.stringify(p)
