/**
 * The Backend contract: the narrow interface every backend (built-in or plugin) implements.
 * The Router is the wide service built on top of it.
 *
 * Invariants a backend keeps (the contract test suite checks them):
 * - `generate` emits `Start` once the server has accepted the request (headers received),
 *   then any number of `TextDelta` / `ReasoningDelta` / tool-call events / `Usage`, then
 *   exactly one `Done` as its last event (`tool_calls` when the turn ended in tool calls).
 *   A stream that ends without `Done` is treated as `StreamCut`.
 * - Every failure is a `BackendError` with a reason from the closed set; nothing is thrown.
 * - Interrupting the stream aborts the upstream request.
 * - `probe` never spends tokens; a server that is loading a model is `Busy`, not dead.
 * - Secrets are `Redacted` and never appear in errors, probes or events.
 */
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { BackendError } from "./BackendError.ts"
import type * as Events from "./Events.ts"

/**
 * The contract version this core implements. A plugin's major version must match. 2.0 added
 * tools, structured output, reasoning, embeddings and per-model capabilities.
 */
export const CONTRACT_VERSION = "2.0"

/**
 * What a backend (and, refined per model, each of its models) can do. A request that needs a
 * capability skips candidates without it, and the trace says why.
 */
export interface Capabilities {
  readonly text: boolean
  readonly images: boolean
  readonly streaming: boolean
  readonly pull: boolean
  /** Tool (function) calling. */
  readonly tools: boolean
  /** Output constrained to a JSON Schema (and plain JSON mode). */
  readonly jsonSchema: boolean
  /** Reasoning ("thinking") that can be turned on or off and is reported apart from the answer. */
  readonly reasoning: boolean
  /** Embeddings (`embed`). */
  readonly embeddings: boolean
}

/** The capabilities a single model has, where the server tells (Ollama's /api/show) or routing.yaml declares them. */
export type ModelCapabilities = Partial<Omit<Capabilities, "streaming" | "pull">>

export interface Image {
  readonly data: Uint8Array
  readonly mime: string
}

/** One part of a message's content, in the caller's order. */
export type ContentPart =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Image"; readonly image: Image }

/** A tool call the assistant made. `arguments` is the JSON text of the arguments object. */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
}

export interface Message {
  readonly role: "system" | "user" | "assistant" | "tool"
  /** The message's text (for a message with `parts`, its text parts joined). */
  readonly content: string
  readonly images?: ReadonlyArray<Image>
  /**
   * Text and images in the caller's order, for servers where the order matters (OpenAI,
   * Anthropic); `content` and `images` always hold the same text and images.
   */
  readonly parts?: ReadonlyArray<ContentPart>
  /** assistant: the tool calls it made (its `content` may be empty). */
  readonly toolCalls?: ReadonlyArray<ToolCall>
  /** tool: the id of the call this message is the result of. */
  readonly toolCallId?: string
  /** tool: the name of the tool that produced it (Ollama matches results by name). */
  readonly toolName?: string
  /** assistant: its reasoning, when a client sends it back. */
  readonly reasoning?: string
}

export interface Options {
  readonly temperature?: number
  readonly topP?: number
  readonly maxTokens?: number
  readonly stop?: ReadonlyArray<string>
  readonly seed?: number
}

/**
 * What the caller wants done. Most backends only chat; vision backends such as Moondream map
 * `Caption` to their caption endpoint and `Chat` with an image to a visual question.
 */
export type Task =
  | { readonly _tag: "Chat" }
  | { readonly _tag: "Caption"; readonly length: "short" | "normal" | "long" }

/** A tool the model may call: `parameters` is the JSON Schema of its arguments object. */
export interface Tool {
  readonly name: string
  readonly description?: string
  readonly parameters: Readonly<Record<string, unknown>>
}

/** Whether and which tool the model must call. */
export type ToolChoice =
  | { readonly _tag: "Auto" }
  | { readonly _tag: "None" }
  | { readonly _tag: "Required" }
  | { readonly _tag: "Named"; readonly name: string }

/** The shape of the answer's text. */
export type ResponseFormat =
  | { readonly _tag: "Text" }
  | { readonly _tag: "Json" }
  | {
    readonly _tag: "JsonSchema"
    readonly name: string
    readonly schema: Readonly<Record<string, unknown>>
    readonly strict?: boolean
  }

/** Reasoning asked of the model: off, on, or on with an effort. */
export type Reasoning =
  | { readonly _tag: "Off" }
  | { readonly _tag: "On"; readonly effort?: "minimal" | "low" | "medium" | "high" }

export interface GenerateRequest {
  readonly model: string
  readonly messages: ReadonlyArray<Message>
  readonly options?: Options
  readonly task?: Task
  readonly tools?: ReadonlyArray<Tool>
  readonly toolChoice?: ToolChoice
  /** Whether the model may make several tool calls in one turn (the server's default when absent). */
  readonly parallelToolCalls?: boolean
  readonly responseFormat?: ResponseFormat
  readonly reasoning?: Reasoning
  /** Backend-specific hints (e.g. Ollama's keep_alive) passed through from routing.yaml. */
  readonly extra?: Readonly<Record<string, unknown>>
}

export interface Usage {
  readonly inputTokens?: number
  readonly outputTokens?: number
}

export type FinishReason = "stop" | "length" | "tool_calls" | "other"

/**
 * A backend's answer, as events. Tool calls stream as `ToolCallStart` (id and name), any number
 * of `ToolCallDelta` (fragments of the arguments' JSON text, in order) and `ToolCallEnd`, per
 * call `index` (0, 1, ... in the order the calls began); a server that sends whole calls (Ollama)
 * gives all three at once. The first `TextDelta`, `ReasoningDelta` or `ToolCallStart` is what
 * the caller would see first: the commit.
 */
export type GenerateEvent = Data.TaggedEnum<{
  /** The server accepted the request; `model` is what it says it runs. */
  Start: { readonly model: string }
  TextDelta: { readonly text: string }
  ReasoningDelta: { readonly text: string }
  ToolCallStart: { readonly index: number; readonly id: string; readonly name: string }
  ToolCallDelta: { readonly index: number; readonly arguments: string }
  ToolCallEnd: { readonly index: number }
  Usage: { readonly usage: Usage }
  Done: { readonly finishReason: FinishReason }
}>
export const GenerateEvent = Data.taggedEnum<GenerateEvent>()

export interface EmbedRequest {
  readonly model: string
  readonly input: ReadonlyArray<string>
  /** Ask for vectors of this many dimensions, where the model supports it. */
  readonly dimensions?: number
  readonly extra?: Readonly<Record<string, unknown>>
}

export interface EmbedResult {
  /** The model that made the vectors, as the server names it. */
  readonly model: string
  /** One vector per input, in order. */
  readonly vectors: ReadonlyArray<ReadonlyArray<number>>
  readonly usage?: Usage
}

/** Layered, token-free health: reachable -> API answers -> model listed -> model loaded. */
export type Probe = Data.TaggedEnum<{
  /** Nothing answers at the address. */
  Unreachable: { readonly detail: string }
  /** Something listens but the API does not answer yet (server starting). */
  Starting: { readonly detail: string }
  /** The API answers but the server is busy (loading a model, or every slot taken): alive, not ready. Never restart a Busy server. */
  Busy: { readonly detail: string }
  /** The API answers; `models` are listed, `loaded` are in memory now; `detail` notes anything worth showing (e.g. "found on port 2021"). */
  Ready: { readonly models: ReadonlyArray<string>; readonly loaded: ReadonlyArray<string>; readonly detail?: string }
}>
export const Probe = Data.taggedEnum<Probe>()

export interface PullProgress {
  readonly status: string
  readonly total?: number
  readonly completed?: number
}

export interface Backend {
  readonly name: string
  readonly type: string
  readonly capabilities: Capabilities
  readonly probe: Effect.Effect<Probe>
  readonly models: Effect.Effect<ReadonlyArray<string>, BackendError>
  /** Make the model present (pull it when the server can); progress as it goes. */
  readonly ensureModel: (model: string) => Stream.Stream<PullProgress, BackendError>
  /**
   * The answer as core's Events (what `HttpCall.events` and `OpenAiChat.generate` give), or as
   * an Effect Stream, which the Router reads through `Events.fromStream`.
   */
  readonly generate: (request: GenerateRequest) => Events.Events<GenerateEvent, BackendError> | Stream.Stream<GenerateEvent, BackendError>
  /** Embeddings, for backends with the `embeddings` capability. */
  readonly embed?: (request: EmbedRequest) => Effect.Effect<EmbedResult, BackendError>
  /**
   * What one model can do, for servers that report it (Ollama's /api/show `capabilities`);
   * routing.yaml's declarations override it. Without it, `capabilities` holds for every model.
   */
  readonly modelCapabilities?: (model: string) => Effect.Effect<ModelCapabilities, BackendError>
}

/** Per-attempt deadlines in milliseconds. */
export interface Timeouts {
  /** Until the server accepts the request (the `Start` event: response headers). */
  readonly connect: number
  /** Until the first token (or `Done` for an empty answer). */
  readonly firstToken: number
  /** Between two events after the first token. */
  readonly idle: number
  /** The whole attempt. */
  readonly total: number
}

/** What a backend's constructor receives from its routing.yaml entry. */
export interface MakeContext<Options> {
  readonly name: string
  readonly url: string | undefined
  readonly apiKey: Redacted.Redacted<string> | undefined
  /** The environment variable the key comes from (`apiKey: env:NAME`), to name it in errors. */
  readonly apiKeyEnv: string | undefined
  readonly options: Options
  /** The directory of the routing.yaml that named this backend. */
  readonly configDir: string
}

/**
 * How the supervisor starts and watches this backend's server (optional for a plugin). These
 * are the only defaults the supervisor has for a type; a `supervise:` block in routing.yaml
 * overrides any of them.
 */
export interface SuperviseDefaults {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Where the server listens when routing.yaml's url names no port (its default address). */
  readonly port?: number
  readonly installHint?: string
  /** Environment the server needs (e.g. OLLAMA_HOST when not on its default port). */
  readonly env?: Readonly<Record<string, string>>
  /** Some servers exit when stdin reaches EOF (Moondream Station): give them an open pipe. */
  readonly stdin?: "pipe" | "ignore"
  /** The signal that stops it cleanly (default SIGTERM). */
  readonly stopSignal?: "SIGTERM" | "SIGINT"
  /** Milliseconds: how long a start may take (e.g. a server that loads a big model first), how often to poll meanwhile. */
  readonly readiness?: { readonly deadline?: number; readonly interval?: number }
  /** Milliseconds: how often it is checked, how many failed checks restart it, how often the full probe runs. */
  readonly health?: { readonly interval?: number; readonly failures?: number; readonly full?: number }
}

/**
 * A backend definition: what a backend package (built-in or plugin) exports. routing.yaml
 * names it by `type:`; the loader checks `contract`, validates the entry's own options with
 * `options`, then calls `make`.
 */
export interface Definition<Options = unknown> {
  readonly _tag: "BackendDefinition"
  readonly name: string
  readonly contract: string
  readonly version?: string
  readonly options: Schema.Codec<Options, any>
  readonly timeouts?: Partial<Timeouts>
  readonly make: (context: MakeContext<Options>) => Effect.Effect<Backend, BackendError, Scope.Scope>
  readonly supervise?: (context: MakeContext<Options>) => SuperviseDefaults
  /**
   * How the server spells a model name, so that two spellings of one model compare equal
   * (Ollama: `Moondream` is `moondream:latest`). Without it, names compare exactly.
   */
  readonly normalizeModel?: (name: string) => string
}

/** Build a backend definition. Built-in backends use this too: the plugin path is the main path. */
export const plugin = <Options>(definition: Omit<Definition<Options>, "_tag">): Definition<Options> => ({
  _tag: "BackendDefinition",
  ...definition
})

export const isDefinition = (u: unknown): u is Definition =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "BackendDefinition" &&
  typeof (u as { make?: unknown }).make === "function"
