/**
 * The shape of routing.yaml, as an Effect Schema. Its encoded side is what a person writes
 * (and what the committed JSON Schema describes); its type side is what the loader works with.
 */
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/** An optional key that, when present, is never `undefined` (fits exactOptionalPropertyTypes). */
const optional = Schema.optionalKey

// Patterns carry the `u` flag: JSON Schema patterns are Unicode regular expressions, so only
// those are written to routing.schema.json (they match exactly as they did without it).
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/u
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const

/**
 * A duration in milliseconds, written with its unit: `30s`, `500ms`, `2m`, `1h` (the JSON
 * Schema's description of the field says what it is for). A bare number is refused: `30`
 * could mean 30 ms or 30 s, and guessing wrong makes a deadline 1000 times off.
 */
export const millis = (description: string) =>
  Schema.String.check(Schema.isPattern(DURATION)).annotate({
    message: 'expected a duration with its unit: ms, s, m or h (e.g. "30s", "500ms", "2m", "1h")',
    description
  }).pipe(
    Schema.decodeTo(
      Schema.Number,
      SchemaTransformation.transform({
        decode: (value) => {
          const match = DURATION.exec(value)!
          return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
        },
        encode: (ms) => `${ms}ms`
      })
    )
  )

/** A duration in milliseconds, written with its unit: `30s`, `500ms`, `2m`, `1h`. */
export const Millis = millis("A duration with its unit: 30s, 500ms, 2m, 1h")

export const Name = Schema.String.check(Schema.isPattern(/^[A-Za-z][A-Za-z0-9_.-]*$/u)).annotate({
  message: "expected a name of letters, digits, '_', '.' or '-', starting with a letter"
})

export const ModelName = Schema.String.check(Schema.isPattern(/^\S+$/u)).annotate({
  message: 'expected a model name like "phi3.5:3.8b"',
  description: 'The model this backend uses for the category, as the backend names it (e.g. "phi3.5:3.8b")'
})

/** A secret is never written inline: only a reference to an environment variable. */
export const SecretRef = Schema.String.check(Schema.isPattern(/^env:[A-Za-z_][A-Za-z0-9_]*$/u)).annotate({
  message: "expected a secret reference like env:OPENAI_API_KEY (secrets are never written inline)",
  description: "env:NAME — the secret is read from that environment variable"
})

export const Url = Schema.String.check(Schema.isPattern(/^https?:\/\/[^\s/]+(\/\S*)?$/u)).annotate({
  message: 'expected an http(s) URL like "http://127.0.0.1:11434"'
})

export const InputKind = Schema.Literals(["text", "image", "pdf", "embed"]).annotate({
  message: "expected one of text, image, pdf, embed"
})
export type InputKind = typeof InputKind.Type
export const inputKinds: ReadonlyArray<InputKind> = ["text", "image", "pdf", "embed"]

/**
 * What a backend (or one of its models) can do, as routing.yaml declares it; each key left out
 * keeps what the backend's type says (its defaults), or what the server reports for the model.
 */
export const CapabilitiesDecl = Schema.Struct({
  text: optional(Schema.Boolean).annotate({ description: "Text input (false for an image-only model)" }),
  images: optional(Schema.Boolean).annotate({ description: "Image input" }),
  tools: optional(Schema.Boolean).annotate({ description: "Tool (function) calling" }),
  jsonSchema: optional(Schema.Boolean).annotate({ description: "Output constrained to JSON or a JSON Schema (response_format / format)" }),
  reasoning: optional(Schema.Boolean).annotate({ description: "Reasoning (thinking) that can be turned on and off and is reported apart from the answer" }),
  embeddings: optional(Schema.Boolean).annotate({ description: "Embeddings" })
}).annotate({
  description: "What this backend's models can do; keys left out keep the backend type's defaults (or what the server reports per model)"
})

export const Timeouts = Schema.Struct({
  connect: optional(millis("Until the server accepts the request")),
  firstToken: optional(millis("Until the first token arrives")),
  idle: optional(millis("Between two tokens")),
  total: optional(millis("For the whole attempt"))
})

export const Breaker = Schema.Struct({
  failures: optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Failures in a row that open a backend's circuit"
  }),
  cooldown: optional(millis("How long an open circuit skips the backend"))
})

/** What a backend accepts as image input; images are scaled down to fit before they are sent. */
export const ImageLimits = Schema.Struct({
  maxSide: optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({ description: "Longest side in pixels" }),
  maxPixels: optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({ description: "Width x height" }),
  maxBytes: optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({ description: "Encoded size in bytes" })
})

/** Keys every backend entry may have; the rest are the backend type's own options. */
export const backendCommonKeys = ["type", "url", "apiKey", "enabled", "timeouts", "breaker", "images", "capabilities", "supervise"] as const

export const BackendEntry = Schema.StructWithRest(
  Schema.Struct({
    type: Schema.String.check(Schema.isMinLength(1)).annotate({
      message: "expected a backend type: mlx, ollama, moondream, cloud, a package name or a ./relative/path.js",
      description: "mlx | ollama | moondream | cloud, a plugin package name, or a path relative to this file"
    }),
    url: optional(Url),
    apiKey: optional(SecretRef),
    enabled: optional(Schema.Boolean),
    timeouts: optional(Timeouts),
    breaker: optional(Breaker),
    images: optional(ImageLimits),
    capabilities: optional(CapabilitiesDecl),
    // How the supervisor runs this backend's server; validated (with locations) by the supervisor.
    supervise: optional(Schema.Unknown).annotateKey({
      description: "How `local-router serve` starts and watches this server: command, args, env, readiness, restart, stop, models"
    })
  }),
  [Schema.Record(Schema.String, Schema.Unknown)]
)

const PriorityList = Schema.Array(Name)

/**
 * A category's model for one backend: its name, or its name with what the model can do
 * (overriding the backend's) and, for embeddings, the vector space its vectors belong to.
 */
export const ModelEntry = Schema.Union([
  ModelName,
  Schema.Struct({
    model: ModelName,
    space: optional(Name).annotate({
      description: "Embeddings: the vector space this model's vectors belong to. Embeddings fall back only between models of the same space " +
        "(the same model name, or the same space), because vectors of another model silently corrupt an index"
    }),
    capabilities: optional(CapabilitiesDecl)
  })
]).annotate({
  message: 'expected a model name like "phi3.5:3.8b", or { model, space, capabilities }',
  description: 'The model, e.g. "phi3.5:3.8b", or { model, space, capabilities }'
})
export type ModelEntry = typeof ModelEntry.Type

export const Category = Schema.Struct({
  description: optional(Schema.String),
  input: InputKind,
  models: Schema.Record(Name, ModelEntry).annotate({
    description: "Backend name -> the model that backend uses for this category"
  }),
  priority: optional(PriorityList).annotate({
    description: "Overrides the priority list of this category's input kind"
  }),
  timeouts: optional(Timeouts)
})

/** Where `local-router serve` listens, and who may talk to it. */
export const Server = Schema.Struct({
  host: optional(Schema.String.check(Schema.isMinLength(1))).annotate({
    description: "Address to bind (default 127.0.0.1); anything but loopback requires a token"
  }),
  port: optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))).annotate({ description: "Port (default 4141)" }),
  token: optional(SecretRef).annotate({ description: "Bearer token every request must carry, as env:NAME" }),
  origins: optional(Schema.Array(Schema.String.check(Schema.isMinLength(1)))).annotate({
    description: "Browser origins allowed besides this machine's pages (http://localhost:*, http://127.0.0.1:*, " +
      "http://[::1]:*) and desktop-app origins (app://, file://, tauri://, vscode-webview://); e.g. " +
      "[\"https://chat.example.com\", \"http://*.home.arpa:*\"], or [\"*\"] for any. A request from any other origin is refused (403)."
  }),
  cors: optional(Schema.Struct({ origins: Schema.Array(Schema.String) })).annotate({
    description: "Older spelling of `origins` (its list is added to `origins`)"
  }),
  maxBodyBytes: optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({ description: "Largest request body (default 32 MiB)" }),
  limits: optional(Schema.Struct({
    headersTimeout: optional(millis("A request's headers must arrive within this, else 408 (default 10s)")),
    requestTimeout: optional(millis("A whole request, body included, must arrive within this (default 120s); answers may take longer")),
    keepAliveTimeout: optional(millis("An idle keep-alive connection is closed after this (default 5s)")),
    maxHeaderBytes: optional(Schema.Int.check(Schema.isBetween({ minimum: 1_024, maximum: 1_048_576 }))).annotate({ description: "Largest request line plus headers, else 431 (default 16384)" }),
    maxConnectionsPerClient: optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({ description: "Open connections one client address may hold, else 503 (default 128)" }),
    maxConnections: optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({ description: "Open connections in all (default 512)" })
  })).annotate({ description: "Connection limits that keep slow or greedy clients from holding serve" })
})

export const RoutingFile = Schema.Struct({
  $schema: optional(Schema.String),
  version: optional(Schema.Literal(1)),
  defaults: optional(Schema.Struct({ timeouts: optional(Timeouts), breaker: optional(Breaker) })),
  server: optional(Server),
  backends: Schema.Record(Name, BackendEntry),
  priorities: Schema.Struct({
    text: optional(PriorityList),
    image: optional(PriorityList),
    pdf: optional(PriorityList),
    embed: optional(PriorityList)
  }),
  categories: Schema.Record(Name, Category)
}).annotate({ title: "local-router routing.yaml" })
export type RoutingFile = typeof RoutingFile.Type
