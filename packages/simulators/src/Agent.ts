/**
 * What a simulated model does with the agent features of a request, decided from the request
 * alone so a test can provoke it and predict it (the rules are in the README, "Agent
 * features"): call a tool, answer a tool result, think, or answer JSON. Each wire reads its own
 * request shape into these neutral terms and writes the outcome in its own shape.
 */
import * as Answer from "./Answer.ts"
import * as JsonInstance from "./JsonInstance.ts"

export interface Tool {
  readonly name: string
  readonly parameters: unknown
}

export interface Call {
  readonly name: string
  readonly arguments: Record<string, unknown>
}

export interface Result {
  readonly name: string
  readonly content: string
}

/** `tool_choice` as the servers that read it mean it; Ollama and mlx_lm always pass "auto". */
export type Choice = { readonly kind: "auto" | "none" | "required" } | { readonly kind: "named"; readonly name: string }

export type Turn =
  | { readonly kind: "calls"; readonly calls: ReadonlyArray<Call> }
  | { readonly kind: "text"; readonly answer: Answer.Output }

export interface Input {
  readonly tools: ReadonlyArray<Tool>
  /** The last user message's text. */
  readonly prompt: string
  /** Set when the conversation ends with tool results: the model answers them in text. */
  readonly results: ReadonlyArray<Result> | undefined
  readonly choice: Choice
  /** False when the client allows one call per turn. */
  readonly parallel: boolean
  /** What the model says when it calls no tool (the usual deterministic answer). */
  readonly answer: Answer.Output
  /** The request's token cap, applied to a text answer about tool results. */
  readonly limit?: number | undefined
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Text answers split one word per token, leading spaces kept, so they join back exactly. */
export const wordTokens = (text: string): ReadonlyArray<string> => text.split(/(?<=\S)(?=\s)/).filter((t) => t !== "")

const limited = (tokens: ReadonlyArray<string>, limit: number | undefined): Answer.Output => {
  const cut = limit !== undefined && limit < tokens.length
  const kept = cut ? tokens.slice(0, limit) : tokens
  return { tokens: kept, text: kept.join(""), finish: cut ? "length" : "stop" }
}

/** The answer to tool results: `Result of <name>: <content>` per result. */
export const resultAnswer = (results: ReadonlyArray<Result>, limit?: number): Answer.Output =>
  limited(wordTokens(results.map((r) => `Result of ${r.name}: ${r.content}`).join(" ")), limit)

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Tools named as whole words in the prompt, in order of first mention. */
export const mentioned = (tools: ReadonlyArray<Tool>, prompt: string): ReadonlyArray<Tool> =>
  tools
    .map((t) => ({ t, at: t.name === "" ? -1 : prompt.search(new RegExp(`(^|[^A-Za-z0-9_])${escape(t.name)}($|[^A-Za-z0-9_])`)) }))
    .filter((x) => x.at >= 0)
    .sort((a, b) => a.at - b.at)
    .map((x) => x.t)

/** `key=value` pairs in the prompt; a value that parses as JSON is taken as that JSON. */
export const pinned = (prompt: string): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const m of prompt.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)) {
    const key = m[1] ?? ""
    const raw = (m[2] ?? "").replace(/[,;.!?]+$/, "")
    try {
      out[key] = JSON.parse(raw)
    } catch {
      out[key] = raw
    }
  }
  return out
}

/** The arguments the model "generates" for a tool: a schema instance, with pinned values. */
export const argumentsFor = (tool: Tool, prompt: string): Record<string, unknown> => {
  const generated = JsonInstance.make(tool.parameters, `${prompt}#${tool.name}`)
  const args: Record<string, unknown> = isRecord(generated) ? { ...generated } : {}
  const props = isRecord(tool.parameters) && isRecord(tool.parameters["properties"]) ? tool.parameters["properties"] : undefined
  for (const [k, v] of Object.entries(pinned(prompt))) if (props === undefined || k in props) args[k] = v
  return args
}

export const decide = (input: Input): Turn => {
  if (input.results !== undefined && input.results.length > 0) return { kind: "text", answer: resultAnswer(input.results, input.limit) }
  if (input.tools.length === 0 || input.choice.kind === "none") return { kind: "text", answer: input.answer }
  let chosen: ReadonlyArray<Tool>
  if (input.choice.kind === "named") {
    const name = input.choice.name
    chosen = input.tools.filter((t) => t.name === name).slice(0, 1)
  } else {
    chosen = mentioned(input.tools, input.prompt)
    if (chosen.length === 0 && input.choice.kind === "required") chosen = input.tools.slice(0, 1)
  }
  if (!input.parallel) chosen = chosen.slice(0, 1)
  if (chosen.length === 0) return { kind: "text", answer: input.answer }
  return { kind: "calls", calls: chosen.map((t) => ({ name: t.name, arguments: argumentsFor(t, input.prompt) })) }
}

/** The reasoning a thinking model shows before its answer: 3-8 words, distinct from the answer. */
export const thinking = (prompt: string): ReadonlyArray<string> => Answer.make({ prompt: `reasoning about: ${prompt}` }).tokens

/** A string cut into pieces of at most `size` characters (streamed argument fragments). */
export const fragments = (text: string, size = 8): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/** Structured output: a schema's instance, or `{"answer": text}` for plain JSON mode. */
export type Format = { readonly kind: "json" } | { readonly kind: "schema"; readonly schema: unknown }

export const structured = (format: Format, prompt: string, text: string): string =>
  JSON.stringify(format.kind === "json" ? { answer: text } : JsonInstance.make(format.schema, prompt))

/** A structured answer as streamed tokens (finish "stop": JSON is never cut by the cap here). */
export const structuredAnswer = (format: Format, prompt: string, text: string): Answer.Output => {
  const json = structured(format, prompt, text)
  return { tokens: JsonInstance.tokens(json), text: json, finish: "stop" }
}

// ---- Reading the wires' shapes into neutral terms ----

/** The `function.arguments` of every tool call in a chat history, as the client sent them. */
export const historyArguments = (messages: unknown): ReadonlyArray<unknown> => {
  if (!Array.isArray(messages)) return []
  return messages.flatMap((m) => {
    const calls = (m as { tool_calls?: unknown } | null)?.tool_calls
    return Array.isArray(calls) ? calls.map((c) => (c as { function?: { arguments?: unknown } } | null)?.function?.arguments) : []
  })
}

/** OpenAI/Ollama `tools: [{type:"function", function:{name, parameters}}]`. */
export const functionTools = (tools: unknown): ReadonlyArray<Tool> =>
  Array.isArray(tools)
    ? tools.flatMap((t) => {
        const f = isRecord(t) && isRecord(t["function"]) ? t["function"] : undefined
        return f !== undefined && typeof f["name"] === "string" ? [{ name: f["name"], parameters: f["parameters"] ?? {} }] : []
      })
    : []

/** Anthropic `tools: [{name, input_schema}]` (server tools without a schema are skipped). */
export const anthropicTools = (tools: unknown): ReadonlyArray<Tool> =>
  Array.isArray(tools)
    ? tools.flatMap((t) => (isRecord(t) && typeof t["name"] === "string" && isRecord(t["input_schema"]) ? [{ name: t["name"], parameters: t["input_schema"] }] : []))
    : []

const textOf = (content: unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return content === undefined || content === null ? "" : JSON.stringify(content)
  return content.map((p) => (isRecord(p) && typeof p["text"] === "string" ? p["text"] : "")).join("")
}

/** Names of earlier calls by id, from OpenAI/Ollama assistant `tool_calls`. */
const callNames = (messages: ReadonlyArray<unknown>): Map<string, string> => {
  const names = new Map<string, string>()
  for (const m of messages) {
    const calls = isRecord(m) && Array.isArray(m["tool_calls"]) ? m["tool_calls"] : []
    for (const c of calls) {
      const f = isRecord(c) && isRecord(c["function"]) ? c["function"] : undefined
      if (isRecord(c) && typeof c["id"] === "string" && typeof f?.["name"] === "string") names.set(c["id"], f["name"])
    }
  }
  return names
}

/**
 * The trailing `role:"tool"` messages of an OpenAI or Ollama conversation, or undefined when
 * it does not end with tool results. The name comes from `tool_name` (Ollama), `name`, or the
 * call the `tool_call_id` points to.
 */
export const trailingToolResults = (messages: unknown): ReadonlyArray<Result> | undefined => {
  if (!Array.isArray(messages)) return undefined
  let start = messages.length
  while (start > 0 && isRecord(messages[start - 1]) && (messages[start - 1] as Record<string, unknown>)["role"] === "tool") start--
  if (start === messages.length) return undefined
  const names = callNames(messages.slice(0, start))
  return messages.slice(start).map((m: Record<string, unknown>) => {
    const id = typeof m["tool_call_id"] === "string" ? m["tool_call_id"] : ""
    const name = typeof m["tool_name"] === "string" ? m["tool_name"] : typeof m["name"] === "string" ? m["name"] : (names.get(id) ?? "tool")
    return { name, content: textOf(m["content"]) }
  })
}

/** The `tool_result` blocks of an Anthropic conversation's last (user) message, if any. */
export const anthropicToolResults = (messages: unknown): ReadonlyArray<Result> | undefined => {
  if (!Array.isArray(messages) || messages.length === 0) return undefined
  const last = messages[messages.length - 1]
  if (!isRecord(last) || last["role"] !== "user" || !Array.isArray(last["content"])) return undefined
  const blocks = last["content"].filter((b) => isRecord(b) && b["type"] === "tool_result") as Array<Record<string, unknown>>
  if (blocks.length === 0) return undefined
  const names = new Map<string, string>()
  for (const m of messages) {
    const content = isRecord(m) && Array.isArray(m["content"]) ? m["content"] : []
    for (const b of content) if (isRecord(b) && b["type"] === "tool_use" && typeof b["id"] === "string" && typeof b["name"] === "string") names.set(b["id"], b["name"])
  }
  return blocks.map((b) => ({ name: names.get(String(b["tool_use_id"])) ?? "tool", content: textOf(b["content"]) }))
}

/** OpenAI `tool_choice`: "none" | "auto" | "required" | {type:"function", function:{name}}. */
export const openAiChoice = (choice: unknown): Choice => {
  if (choice === "none" || choice === "required") return { kind: choice }
  if (isRecord(choice) && isRecord(choice["function"]) && typeof choice["function"]["name"] === "string") return { kind: "named", name: choice["function"]["name"] }
  return { kind: "auto" }
}

/** Anthropic `tool_choice`: {type:"auto"|"any"|"tool"|"none"}. */
export const anthropicChoice = (choice: unknown): Choice => {
  if (!isRecord(choice)) return { kind: "auto" }
  if (choice["type"] === "none") return { kind: "none" }
  if (choice["type"] === "any") return { kind: "required" }
  if (choice["type"] === "tool" && typeof choice["name"] === "string") return { kind: "named", name: choice["name"] }
  return { kind: "auto" }
}
