/**
 * The shape of routing.yaml, as an Effect Schema. Its encoded side is what a person writes
 * (and what the committed JSON Schema describes); its type side is what the loader works with.
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** An optional key that, when present, is never `undefined` (fits exactOptionalPropertyTypes). */
const optional = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const

/** A duration in milliseconds, written as `30s`, `500ms`, `2m`, `1h` or a number of milliseconds. */
export const Millis = Schema.transformOrFail(
  Schema.Union(
    Schema.Number.pipe(Schema.nonNegative()),
    Schema.String.pipe(Schema.pattern(DURATION))
  ).annotations({ message: () => ({ message: "expected a duration like 30s, 500ms or 2m", override: true }) }),
  Schema.Number,
  {
    strict: true,
    decode: (value, _, ast) => {
      if (typeof value === "number") return ParseResult.succeed(value)
      const match = DURATION.exec(value)
      return match
        ? ParseResult.succeed(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS])
        : ParseResult.fail(new ParseResult.Type(ast, value, "expected a duration like 30s, 500ms or 2m"))
    },
    encode: (ms) => ParseResult.succeed(ms)
  }
).annotations({
  jsonSchema: {
    description: "A duration: 30s, 500ms, 2m, 1h, or a number of milliseconds",
    anyOf: [{ type: "number", minimum: 0 }, { type: "string", pattern: DURATION.source }]
  }
})

export const Name = Schema.String.pipe(Schema.pattern(/^[A-Za-z][A-Za-z0-9_.-]*$/)).annotations({
  message: () => ({ message: "expected a name of letters, digits, '_', '.' or '-', starting with a letter", override: true })
})

export const ModelName = Schema.String.pipe(Schema.pattern(/^\S+$/)).annotations({
  message: () => ({ message: 'expected a model name like "phi3.5:3.8b"', override: true }),
  description: 'The model this backend uses for the category, as the backend names it (e.g. "phi3.5:3.8b")'
})

/** A secret is never written inline: only a reference to an environment variable. */
export const SecretRef = Schema.String.pipe(Schema.pattern(/^env:[A-Za-z_][A-Za-z0-9_]*$/)).annotations({
  message: () => ({ message: "expected a secret reference like env:OPENAI_API_KEY (secrets are never written inline)", override: true }),
  description: "env:NAME — the secret is read from that environment variable"
})

export const Url = Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s/]+(\/\S*)?$/)).annotations({
  message: () => ({ message: 'expected an http(s) URL like "http://127.0.0.1:11434"', override: true })
})

export const InputKind = Schema.Literal("text", "image", "pdf").annotations({
  message: () => ({ message: "expected one of text, image, pdf", override: true })
})
export type InputKind = typeof InputKind.Type
export const inputKinds: ReadonlyArray<InputKind> = ["text", "image", "pdf"]

export const Timeouts = Schema.Struct({
  connect: optional(Millis).annotations({ description: "Until the server accepts the request" }),
  firstToken: optional(Millis).annotations({ description: "Until the first token arrives" }),
  idle: optional(Millis).annotations({ description: "Between two tokens" }),
  total: optional(Millis).annotations({ description: "For the whole attempt" })
})

export const Breaker = Schema.Struct({
  failures: optional(Schema.Int.pipe(Schema.positive())).annotations({
    description: "Failures in a row that open a backend's circuit"
  }),
  cooldown: optional(Millis).annotations({ description: "How long an open circuit skips the backend" })
})

/** What a backend accepts as image input; images are scaled down to fit before they are sent. */
export const ImageLimits = Schema.Struct({
  maxSide: optional(Schema.Int.pipe(Schema.positive())).annotations({ description: "Longest side in pixels" }),
  maxPixels: optional(Schema.Int.pipe(Schema.positive())).annotations({ description: "Width x height" }),
  maxBytes: optional(Schema.Int.pipe(Schema.positive())).annotations({ description: "Encoded size in bytes" })
})

/** Keys every backend entry may have; the rest are the backend type's own options. */
export const backendCommonKeys = ["type", "url", "apiKey", "enabled", "timeouts", "breaker", "images", "supervise"] as const

export const BackendEntry = Schema.Struct(
  {
    type: Schema.String.pipe(Schema.minLength(1)).annotations({
      message: () => ({ message: "expected a backend type: mlx, ollama, moondream, cloud, a package name or a ./relative/path.js", override: true }),
      description: "mlx | ollama | moondream | cloud, a plugin package name, or a path relative to this file"
    }),
    url: optional(Url),
    apiKey: optional(SecretRef),
    enabled: optional(Schema.Boolean),
    timeouts: optional(Timeouts),
    breaker: optional(Breaker),
    images: optional(ImageLimits),
    // How the supervisor runs this backend's server; validated (with locations) by the supervisor.
    supervise: optional(Schema.Unknown).annotations({
      description: "How `local-router serve` starts and watches this server: command, args, env, readiness, restart, stop, models"
    })
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

const PriorityList = Schema.Array(Name)

export const Category = Schema.Struct({
  description: optional(Schema.String),
  input: InputKind,
  models: Schema.Record({ key: Name, value: ModelName }).annotations({
    description: "Backend name -> the model that backend uses for this category"
  }),
  priority: optional(PriorityList).annotations({
    description: "Overrides the priority list of this category's input kind"
  }),
  timeouts: optional(Timeouts)
})

/** Where `local-router serve` listens, and who may talk to it. */
export const Server = Schema.Struct({
  host: optional(Schema.String.pipe(Schema.minLength(1))).annotations({
    description: "Address to bind (default 127.0.0.1); anything but loopback requires a token"
  }),
  port: optional(Schema.Int.pipe(Schema.between(0, 65535))).annotations({ description: "Port (default 4141)" }),
  token: optional(SecretRef).annotations({ description: "Bearer token every request must carry, as env:NAME" }),
  origins: optional(Schema.Array(Schema.String.pipe(Schema.minLength(1)))).annotations({
    description: "Browser origins allowed besides this machine's pages (http://localhost:*, http://127.0.0.1:*, " +
      "http://[::1]:*) and desktop-app origins (app://, file://, tauri://, vscode-webview://); e.g. " +
      "[\"https://chat.example.com\", \"http://*.home.arpa:*\"], or [\"*\"] for any. A request from any other origin is refused (403)."
  }),
  cors: optional(Schema.Struct({ origins: Schema.Array(Schema.String) })).annotations({
    description: "Older spelling of `origins` (its list is added to `origins`)"
  }),
  maxBodyBytes: optional(Schema.Int.pipe(Schema.positive())).annotations({ description: "Largest request body (default 32 MiB)" }),
  limits: optional(Schema.Struct({
    headersTimeout: optional(Millis).annotations({ description: "A request's headers must arrive within this, else 408 (default 10s)" }),
    requestTimeout: optional(Millis).annotations({ description: "A whole request, body included, must arrive within this (default 120s); answers may take longer" }),
    keepAliveTimeout: optional(Millis).annotations({ description: "An idle keep-alive connection is closed after this (default 5s)" }),
    maxHeaderBytes: optional(Schema.Int.pipe(Schema.between(1_024, 1_048_576))).annotations({ description: "Largest request line plus headers, else 431 (default 16384)" }),
    maxConnectionsPerClient: optional(Schema.Int.pipe(Schema.positive())).annotations({ description: "Open connections one client address may hold, else 503 (default 128)" }),
    maxConnections: optional(Schema.Int.pipe(Schema.positive())).annotations({ description: "Open connections in all (default 512)" })
  })).annotations({ description: "Connection limits that keep slow or greedy clients from holding serve" })
})

export const RoutingFile = Schema.Struct({
  $schema: optional(Schema.String),
  version: optional(Schema.Literal(1)),
  defaults: optional(Schema.Struct({ timeouts: optional(Timeouts), breaker: optional(Breaker) })),
  server: optional(Server),
  backends: Schema.Record({ key: Name, value: BackendEntry }),
  priorities: Schema.Struct({
    text: optional(PriorityList),
    image: optional(PriorityList),
    pdf: optional(PriorityList)
  }),
  categories: Schema.Record({ key: Name, value: Category })
}).annotations({ title: "local-router routing.yaml" })
export type RoutingFile = typeof RoutingFile.Type
