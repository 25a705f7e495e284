/**
 * The faults a simulator can be told to inject, and the parsing of them from a flag or a
 * JSON body. One shape serves the command line, `POST /__sim/faults` and the programmatic
 * API, so a test can move a fault from start-up to run time without rewriting it.
 */

/** Narrows a fault to some requests. Every given key must match; absent keys match all. */
export interface Scope {
  /** Exact request path (`/api/chat`), or a prefix when it ends with `*` (`/v1/*`). */
  readonly route?: string
  /** Model named by the request (`model`, or `name` for Ollama pulls), compared case-insensitively. */
  readonly model?: string
  /** Apply to this many matching requests only, then retire the fault. */
  readonly count?: number
}

export type Fault = Scope &
  (
    | { readonly kind: "slowStart"; readonly ms: number }
    | { readonly kind: "crashAfter"; readonly requests: number }
    | { readonly kind: "hangBeforeHeaders"; readonly ms?: number }
    | { readonly kind: "hangAfterTokens"; readonly tokens: number }
    | { readonly kind: "cutAfterTokens"; readonly tokens: number }
    | { readonly kind: "slowTokens"; readonly ms: number }
    | {
        readonly kind: "status"
        readonly status: number
        readonly message?: string
        /** Provider error code/type override, e.g. OpenAI `insufficient_quota`. */
        readonly code?: string
        /** Seconds, sent as `Retry-After` (429 defaults to 1). */
        readonly retryAfter?: number
        /** Sent as `x-should-retry`, which the Stainless SDKs obey over their own policy. */
        readonly shouldRetry?: boolean
      }
    | { readonly kind: "malformedJson" }
    | { readonly kind: "errorBody"; readonly message?: string; readonly afterTokens?: number }
    | { readonly kind: "refuseModel"; readonly model: string }
    | { readonly kind: "dropConnection" }
  )

export type Kind = Fault["kind"]

export const kinds: ReadonlyArray<Kind> = [
  "slowStart",
  "crashAfter",
  "hangBeforeHeaders",
  "hangAfterTokens",
  "cutAfterTokens",
  "slowTokens",
  "status",
  "malformedJson",
  "errorBody",
  "refuseModel",
  "dropConnection"
]

/** The key that `kind=value` in a flag fills, per kind. */
const primaryKey: Record<Kind, string | undefined> = {
  slowStart: "ms",
  crashAfter: "requests",
  hangBeforeHeaders: "ms",
  hangAfterTokens: "tokens",
  cutAfterTokens: "tokens",
  slowTokens: "ms",
  status: "status",
  malformedJson: undefined,
  errorBody: "message",
  refuseModel: "model",
  dropConnection: undefined
}

const numericKeys = new Set(["ms", "requests", "tokens", "status", "count", "retryAfter", "afterTokens"])

export class FaultError extends Error {
  override readonly name = "FaultError"
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const needNumber = (o: Record<string, unknown>, key: string, optional = false): void => {
  const v = o[key]
  if (v === undefined && optional) return
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new FaultError(`fault "${String(o["kind"])}" needs "${key}" as a non-negative number`)
  }
}

const needString = (o: Record<string, unknown>, key: string, optional = false): void => {
  const v = o[key]
  if (v === undefined && optional) return
  if (typeof v !== "string" || v === "") throw new FaultError(`fault "${String(o["kind"])}" needs "${key}" as a string`)
}

/** Validates one fault from untrusted JSON; throws FaultError naming what is wrong. */
export const decode = (u: unknown): Fault => {
  if (!isRecord(u)) throw new FaultError("a fault must be a JSON object with a \"kind\"")
  const kind = u["kind"]
  if (typeof kind !== "string" || !(kinds as ReadonlyArray<string>).includes(kind)) {
    throw new FaultError(`unknown fault kind ${JSON.stringify(kind)}; known: ${kinds.join(", ")}`)
  }
  needString(u, "route", true)
  needString(u, "model", kind !== "refuseModel")
  needNumber(u, "count", true)
  switch (kind as Kind) {
    case "slowStart":
    case "slowTokens":
      needNumber(u, "ms")
      break
    case "hangBeforeHeaders":
      needNumber(u, "ms", true)
      break
    case "crashAfter":
      needNumber(u, "requests")
      break
    case "hangAfterTokens":
    case "cutAfterTokens":
      needNumber(u, "tokens")
      break
    case "status": {
      needNumber(u, "status")
      const s = u["status"] as number
      if (s < 100 || s > 599) throw new FaultError(`fault "status" needs an HTTP status, got ${s}`)
      needString(u, "message", true)
      needString(u, "code", true)
      needNumber(u, "retryAfter", true)
      if (u["shouldRetry"] !== undefined && typeof u["shouldRetry"] !== "boolean") {
        throw new FaultError(`fault "status" needs "shouldRetry" as a boolean`)
      }
      break
    }
    case "errorBody":
      needString(u, "message", true)
      needNumber(u, "afterTokens", true)
      break
    case "malformedJson":
    case "refuseModel":
    case "dropConnection":
      break
  }
  return u as unknown as Fault
}

/** A fault set is a JSON array, or `{"faults":[...]}` as `GET /__sim/faults` returns it. */
export const decodeSet = (u: unknown): ReadonlyArray<Fault> => {
  const list = isRecord(u) && Array.isArray(u["faults"]) ? u["faults"] : u
  if (!Array.isArray(list)) throw new FaultError("expected a JSON array of faults or {\"faults\":[...]}")
  return list.map(decode)
}

/**
 * Reads a `--fault` flag: either JSON (`{"kind":"status","status":503}`) or the short form
 * `kind[=value][,key=value...]`, e.g. `status=503,route=/api/chat,count=1` or `cutAfterTokens=3`.
 */
export const fromFlag = (text: string): Fault => {
  const trimmed = text.trim()
  if (trimmed.startsWith("{")) return decode(JSON.parse(trimmed))
  const [head = "", ...rest] = trimmed.split(",")
  const [kind = "", value] = splitOnce(head)
  const o: Record<string, unknown> = { kind }
  const primary = primaryKey[kind as Kind]
  if (value !== undefined) {
    if (primary === undefined) throw new FaultError(`fault "${kind}" takes no value`)
    o[primary] = value
  }
  for (const part of rest) {
    const [k = "", v = ""] = splitOnce(part)
    o[k] = v
  }
  for (const [k, v] of Object.entries(o)) {
    if (numericKeys.has(k) && typeof v === "string") o[k] = Number(v)
    if (k === "shouldRetry") o[k] = v === "true"
  }
  return decode(o)
}

const splitOnce = (s: string): [string, string | undefined] => {
  const i = s.indexOf("=")
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)]
}
