/**
 * How Ollama's Go JSON binding accepts or rejects request bodies, with the error texts the
 * real server returns: missing body, decoder errors, `[]byte` images that are not bare
 * base64, `keep_alive` durations, model name grammar.
 */
import * as Agent from "../Agent.ts"
import type { Exchange } from "../Harness.ts"

export type Decoded = { readonly ok: true; readonly body: Record<string, unknown> } | { readonly ok: false; readonly status: number; readonly error: string }

const fail = (status: number, error: string): Decoded => ({ ok: false, status, error })

/** Go's encoding/json message for the first byte it cannot start a value with. */
const goSyntaxError = (text: string): string => {
  const first = text.trimStart()[0]
  if (first === undefined) return "unexpected EOF"
  if (!/[{["\-0-9tfn]/.test(first)) return `invalid character '${first}' looking for beginning of value`
  return "unexpected EOF"
}

export const body = (ex: Exchange): Decoded => {
  if (ex.body.length === 0) return fail(400, "missing request body")
  if (ex.jsonError !== undefined) return fail(400, goSyntaxError(ex.body.toString("utf8")))
  if (typeof ex.json !== "object" || ex.json === null || Array.isArray(ex.json)) {
    return fail(400, "json: cannot unmarshal array into Go value of type api.ChatRequest")
  }
  return { ok: true, body: ex.json as Record<string, unknown> }
}

/** Standard padded base64; Go reports the first offending byte offset. */
export const base64Error = (value: string): string | undefined => {
  const bad = value.search(/[^A-Za-z0-9+/=]/)
  if (bad >= 0) return `illegal base64 data at input byte ${bad}`
  const pad = value.indexOf("=")
  if (value.length % 4 !== 0 || (pad >= 0 && pad < value.length - 2)) return `illegal base64 data at input byte ${Math.max(0, pad >= 0 ? pad : value.length - (value.length % 4))}`
  return undefined
}

const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Go's time.ParseDuration, returning ms, or an error text. */
export const goDuration = (text: string): number | string => {
  if (text === "0") return 0
  const m = /^([-+]?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(text)
  if (m === null) return /^[-+]?\d+(\.\d+)?$/.test(text) ? `time: missing unit in duration "${text}"` : `time: invalid duration "${text}"`
  let ms = 0
  for (const part of (m[2] ?? "").matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(part[1]) * (units[part[2] ?? "ms"] ?? 1)
  return m[1] === "-" ? -ms : ms
}

/** `keep_alive` from a request: number = seconds, string = Go duration. */
export const keepAlive = (value: unknown): { ms: number | undefined } | { error: string } => {
  if (value === undefined || value === null) return { ms: undefined }
  if (typeof value === "number") return { ms: value * 1000 }
  if (typeof value === "string") {
    const d = goDuration(value)
    return typeof d === "string" ? { error: d } : { ms: d }
  }
  return { error: "json: cannot unmarshal keep_alive" }
}

/** The env var also accepts a bare integer (seconds), unlike the request field. */
export const keepAliveEnv = (value: string | undefined): number => {
  if (value === undefined || value === "") return 5 * 60_000
  if (/^[-+]?\d+$/.test(value)) return Number(value) * 1000
  const d = goDuration(value)
  return typeof d === "string" ? 5 * 60_000 : d
}

const part = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$/

/** `[host/][namespace/]model[:tag]`: each part starts alphanumeric or `_`. */
export const validName = (name: string): boolean => {
  const at = name.indexOf("@")
  const bare = at >= 0 ? name.slice(0, at) : name
  const colon = bare.lastIndexOf(":")
  const path = colon > bare.lastIndexOf("/") ? bare.slice(0, colon) : bare
  const tag = colon > bare.lastIndexOf("/") ? bare.slice(colon + 1) : undefined
  const segments = path.split("/")
  const model = segments[segments.length - 1] ?? ""
  return part.test(model) && (tag === undefined || part.test(tag))
}

/** `think` as api.ThinkValue unmarshals it: a boolean or one of the levels, else a 400 text. */
export const think = (value: unknown): { think: boolean | string | undefined } | { error: string } => {
  if (value === undefined || value === null) return { think: undefined }
  if (typeof value === "boolean") return { think: value }
  if (typeof value === "string") {
    return ["high", "medium", "low", "max"].includes(value)
      ? { think: value }
      : { error: `invalid think value: ${JSON.stringify(value)} (must be "high", "medium", "low", "max", true, or false)` }
  }
  return { error: 'think must be a boolean or string ("high", "medium", "low", "max", true, or false)' }
}

/**
 * `format`: "json", a JSON Schema object, or nothing (null and "" count as unset). Anything
 * else is the runner's `invalid format: %q` (Go quotes the raw JSON bytes).
 */
export const format = (value: unknown): { format: { kind: "json" } | { kind: "schema"; schema: unknown } | undefined } | { error: string } => {
  if (value === undefined || value === null || value === "") return { format: undefined }
  if (value === "json") return { format: { kind: "json" } }
  if (typeof value === "object" && !Array.isArray(value)) return { format: { kind: "schema", schema: value } }
  return { error: `invalid format: ${JSON.stringify(JSON.stringify(value))}; expected "json" or a valid JSON Schema object` }
}

/**
 * History tool calls must carry `arguments` as a JSON object (api.ToolCallFunctionArguments);
 * a string (the OpenAI spelling) fails the request body's decoding.
 */
export const toolCallArgumentsError = (messages: unknown): string | undefined => {
  const bad = Agent.historyArguments(messages).find((args) => args !== undefined && args !== null && (typeof args !== "object" || Array.isArray(args)))
  return bad === undefined
    ? undefined
    : `json: cannot unmarshal ${Array.isArray(bad) ? "array" : typeof bad} into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments`
}
