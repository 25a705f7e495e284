/**
 * The fault matrix: one row per (backend kind, fault), a request streamed and one answered
 * whole, and what the router did with each, judged against what a person must see:
 * an answer from another backend (fallback before the first token), an explicit error once
 * tokens had reached them, never a hang, and never a partial answer that ends like a whole one.
 *
 * Every answer is compared with the exact text a healthy backend gives for the same request,
 * so a half answer cannot pass for a whole one. Answers with reasoning or tool calls are
 * compared whole too: their text, reasoning and every call's name and arguments (`render`).
 */
import type { Router } from "@local-router/core"
import type { Fault } from "@local-router/simulators"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"

export type Kind = "mlx" | "ollama" | "moondream" | "cloud"
export const kinds: ReadonlyArray<Kind> = ["mlx", "ollama", "moondream", "cloud"]

/** How a fault is put in place: a simulator fault, or a backend entry pointed somewhere wrong. */
export type Setup =
  | { readonly _tag: "Faults"; readonly faults: (model: string) => ReadonlyArray<Fault> }
  | { readonly _tag: "Entry"; readonly suffix: "refused" | "taken" }
  | { readonly _tag: "CrashLoop" }

/** Where the fault strikes relative to the first token, which decides what a streaming caller must see. */
export type Strikes = "before-commit" | "after-commit" | "at-the-end"

export interface FaultCase {
  readonly id: string
  readonly label: string
  readonly setup: Setup
  readonly strikes: Strikes
  /** Reasons the trace may give for the failed attempt (the fault, named). */
  readonly reasons: ReadonlyArray<string>
  /** Whether repeated failures open the backend's circuit. */
  readonly opensBreaker: boolean
  /** Kinds the fault cannot happen to, and why. */
  readonly notApplicable?: Partial<Record<Kind, string>>
}

const faults = (f: (model: string) => ReadonlyArray<Fault>): Setup => ({ _tag: "Faults", faults: f })

/**
 * The agent streams (tool calls, reasoning) through the kinds that have them; Moondream
 * Station has neither; the cloud runs as OpenAI and as Anthropic. Their faults strike relative to the first visible event (a reasoning
 * word or a tool call), counted in the simulators' pieces: a whole Ollama or mlx call, an
 * OpenAI tool-call header or argument fragment, an Anthropic tool_use start or input_json_delta
 * fragment, a reasoning (thinking) word.
 */
export type AgentStream = "tools" | "reasoning"
export const agentStreams: ReadonlyArray<AgentStream> = ["tools", "reasoning"]
/** The cloud twice: OpenAI (tool-call deltas) and Anthropic (tool_use blocks, thinking blocks). */
export type AgentKind = "mlx" | "ollama" | "cloud" | "anthropic"
export const agentKinds: ReadonlyArray<AgentKind> = ["mlx", "ollama", "cloud", "anthropic"]

export const agentCases: ReadonlyArray<FaultCase> = [
  { id: "cut-0", label: "cut before the first event", setup: faults(() => [{ kind: "cutAfterTokens", tokens: 0 }]), strikes: "before-commit", reasons: ["StreamCut", "Unreachable", "Upstream"], opensBreaker: true },
  { id: "hang-0", label: "hang before the first event", setup: faults(() => [{ kind: "hangAfterTokens", tokens: 0 }]), strikes: "before-commit", reasons: ["Timeout"], opensBreaker: true },
  // Anthropic's in-band error is an `overloaded_error` event, which the trace rightly calls Overloaded.
  { id: "error-0", label: "in-band error before the first event", setup: faults(() => [{ kind: "errorBody", message: "model runner crashed", afterTokens: 0 }]), strikes: "before-commit", reasons: ["Upstream", "StreamCut", "Unreachable", "Overloaded"], opensBreaker: true },
  { id: "cut-1", label: "cut after the first event", setup: faults(() => [{ kind: "cutAfterTokens", tokens: 1 }]), strikes: "after-commit", reasons: ["StreamCut", "Unreachable", "Upstream"], opensBreaker: true },
  { id: "hang-1", label: "hang after the first event", setup: faults(() => [{ kind: "hangAfterTokens", tokens: 1 }]), strikes: "after-commit", reasons: ["Timeout"], opensBreaker: true },
  { id: "error-1", label: "in-band error after the first event", setup: faults(() => [{ kind: "errorBody", message: "model runner crashed", afterTokens: 1 }]), strikes: "after-commit", reasons: ["Upstream", "StreamCut", "Unreachable", "Overloaded"], opensBreaker: true }
]

/** Arguments compared as JSON values, whatever their spacing (mlx writes Python's json.dumps). */
const canonical = (json: string): string => {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : typeof v === "object" && v !== null ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sort(x)])) : v
  try {
    return JSON.stringify(sort(JSON.parse(json)))
  } catch {
    return `unparsable ${JSON.stringify(json)}`
  }
}

/**
 * One answer as comparable text: the text alone when there is nothing else (so text rows read
 * as before), else the text, the reasoning and each call's name and arguments.
 */
export const render = (text: string, reasoning: string, calls: ReadonlyArray<{ readonly name: string; readonly arguments: string }>): string =>
  reasoning === "" && calls.length === 0
    ? text
    : [text, ...(reasoning === "" ? [] : [`[reasoning] ${reasoning}`]), ...calls.map((c) => `[call] ${c.name} ${canonical(c.arguments)}`)].join("\n")

/** Deadlines the test config gives every category, so a hang resolves in seconds. */
export const timeouts = { connect: 2_000, firstToken: 2_000, idle: 500, total: 20_000 } as const

export const cases: ReadonlyArray<FaultCase> = [
  { id: "refused", label: "connection refused", setup: { _tag: "Entry", suffix: "refused" }, strikes: "before-commit", reasons: ["Unreachable"], opensBreaker: true },
  { id: "5xx", label: "HTTP 500", setup: faults(() => [{ kind: "status", status: 500 }]), strikes: "before-commit", reasons: ["Upstream", "Overloaded"], opensBreaker: true },
  { id: "404-model", label: "404 model not found", setup: faults((model) => [{ kind: "refuseModel", model }]), strikes: "before-commit", reasons: ["ModelMissing"], opensBreaker: false, notApplicable: { moondream: "n/a: Station serves one model and is sent none (its errors are the 200-with-error row)" } },
  { id: "hang-headers", label: "hang before headers", setup: faults(() => [{ kind: "hangBeforeHeaders" }]), strikes: "before-commit", reasons: ["Timeout"], opensBreaker: true },
  { id: "drop", label: "connection dropped, no response", setup: faults(() => [{ kind: "dropConnection" }]), strikes: "before-commit", reasons: ["Unreachable", "Upstream", "StreamCut"], opensBreaker: true },
  { id: "error-200", label: "200 with an error body", setup: faults(() => [{ kind: "errorBody", message: "model runner crashed" }]), strikes: "before-commit", reasons: ["Upstream", "StreamCut", "Unreachable"], opensBreaker: true },
  { id: "hang-tokens", label: "hang after 2 tokens", setup: faults(() => [{ kind: "hangAfterTokens", tokens: 2 }]), strikes: "after-commit", reasons: ["Timeout"], opensBreaker: true },
  { id: "cut", label: "stream cut after 2 tokens", setup: faults(() => [{ kind: "cutAfterTokens", tokens: 2 }]), strikes: "after-commit", reasons: ["StreamCut", "Unreachable", "Upstream"], opensBreaker: true },
  { id: "error-mid", label: "in-band error after 2 tokens", setup: faults(() => [{ kind: "errorBody", message: "model runner crashed", afterTokens: 2 }]), strikes: "after-commit", reasons: ["Upstream", "StreamCut", "Unreachable"], opensBreaker: true },
  { id: "slow", label: "tokens slower than the idle deadline", setup: faults(() => [{ kind: "slowTokens", ms: 1_000 }]), strikes: "after-commit", reasons: ["Timeout"], opensBreaker: true },
  { id: "malformed", label: "malformed JSON (last event cut short)", setup: faults(() => [{ kind: "malformedJson" }]), strikes: "at-the-end", reasons: ["Upstream", "StreamCut"], opensBreaker: true },
  { id: "port-taken", label: "port taken by another program", setup: { _tag: "Entry", suffix: "taken" }, strikes: "before-commit", reasons: ["ModelMissing", "Upstream", "Unreachable"], opensBreaker: true },
  { id: "crash-loop", label: "crash loop (dies on every request)", setup: { _tag: "CrashLoop" }, strikes: "before-commit", reasons: ["Unreachable", "StreamCut", "Upstream"], opensBreaker: true }
]

/** What one request ended as, from the caller's side. */
export type Outcome =
  | { readonly _tag: "Answered"; readonly backend: string; readonly text: string; readonly failed: ReadonlyArray<Router.Answer["trace"]["attempts"][number]>; readonly ms: number }
  | { readonly _tag: "ErrorAfterCommit"; readonly backend: string; readonly reason: string | undefined; readonly ms: number }
  | { readonly _tag: "Error"; readonly reason: string; readonly failed: ReadonlyArray<Router.Answer["trace"]["attempts"][number]>; readonly ms: number }
  | { readonly _tag: "Hang"; readonly ms: number }

/** Longer than any deadline in the test config: past it, the request is a hang. */
export const hangAfter = Duration.seconds(25)

const failedOf = (trace: Router.Answer["trace"]) => trace.attempts.filter((a) => a.outcome !== "answered")

export const streamed = (router: Router.Router, request: Router.Request): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const t0 = Date.now()
    const events = yield* Stream.runCollect(router.stream(request)).pipe(Effect.result, Effect.timeoutOption(hangAfter))
    const ms = Date.now() - t0
    if (Option.isNone(events)) return { _tag: "Hang", ms } as const
    if (Result.isSuccess(events.value)) {
      const all = events.value.success
      const done = all.at(-1)
      const routed = all.find((e) => e._tag === "Routed")
      const text = all.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")
      const reasoning = all.flatMap((e) => (e._tag === "ReasoningDelta" ? [e.text] : [])).join("")
      const calls: Array<{ name: string; arguments: string }> = []
      for (const e of all) {
        if (e._tag === "ToolCallStart") calls[e.index] = { name: e.name, arguments: "" }
        else if (e._tag === "ToolCallDelta" && calls[e.index] !== undefined) calls[e.index]!.arguments += e.arguments
      }
      if (done?._tag !== "Done") return { _tag: "Error", reason: "stream ended without Done", failed: [], ms } as const
      const answer = render(text, reasoning, calls.filter((c) => c !== undefined))
      return { _tag: "Answered", backend: routed?._tag === "Routed" ? routed.backend : "?", text: answer, failed: failedOf(done.trace), ms } as const
    }
    const error = events.value.failure
    if (error.reason === "StreamFailed") {
      const last = error.trace.attempts.at(-1)
      return { _tag: "ErrorAfterCommit", backend: error.trace.backend ?? "?", reason: last?.reason, ms } as const
    }
    return { _tag: "Error", reason: error.reason, failed: failedOf(error.trace), ms } as const
  })

export const whole = (router: Router.Router, request: Router.Request): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const t0 = Date.now()
    const result = yield* router.run(request).pipe(Effect.result, Effect.timeoutOption(hangAfter))
    const ms = Date.now() - t0
    if (Option.isNone(result)) return { _tag: "Hang", ms } as const
    if (Result.isSuccess(result.value)) {
      const answer = result.value.success
      return { _tag: "Answered", backend: answer.backend, text: render(answer.text, answer.reasoning, answer.toolCalls), failed: failedOf(answer.trace), ms } as const
    }
    const error = result.value.failure
    return { _tag: "Error", reason: error.reason, failed: failedOf(error.trace), ms } as const
  })

export interface Cell {
  readonly kind: Kind | AgentKind
  readonly fault: FaultCase
  /** The agent stream the row runs (tool calls or reasoning); absent for the text rows. */
  readonly agent?: AgentStream
  /** Set when the fault cannot happen to this kind; the outcomes are then not judged. */
  readonly skipped?: string
  readonly stream: Outcome
  readonly whole: Outcome
  /** A request after the two above: skipped the broken backend (circuit open), or tried it again. */
  readonly breaker: { readonly open: boolean; readonly ms: number; readonly answeredBy: string | undefined }
  /** Everything wrong with this cell; empty when the router did the right thing. */
  readonly problems: ReadonlyArray<string>
}

export interface Expectation {
  /** The backend entry the category tries first. */
  readonly primary: string
  /** The text a healthy primary and the spare give for the request. */
  readonly texts: Readonly<Record<string, string>>
}

/** Judge one request's outcome against what the fault allows. */
export const judge = (fault: FaultCase, mode: "stream" | "whole", outcome: Outcome, expected: Expectation): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const where = `${mode}:`
  const namesFault = (reason: string | undefined) => reason !== undefined && fault.reasons.includes(reason)
  switch (outcome._tag) {
    case "Hang":
      problems.push(`${where} HANG (no answer or error in ${outcome.ms}ms)`)
      break
    case "Answered": {
      const wanted = expected.texts[outcome.backend]
      if (wanted === undefined || outcome.text !== wanted) problems.push(`${where} HALF ANSWER from ${outcome.backend}: ${JSON.stringify(outcome.text)} (whole: ${JSON.stringify(wanted)})`)
      if (outcome.backend === expected.primary) {
        // Only a fault at the very end may leave a whole answer in place; the rest must fall back.
        if (fault.strikes !== "at-the-end") problems.push(`${where} answered by the faulty ${outcome.backend} as if nothing happened`)
      } else {
        const first = outcome.failed.find((a) => a.backend === expected.primary)
        if (!first) problems.push(`${where} the trace does not show ${expected.primary} failing`)
        else if (!namesFault(first.reason)) problems.push(`${where} the trace names ${first.reason} for ${fault.label} (expected ${fault.reasons.join(" or ")})`)
        if (mode === "stream" && fault.strikes === "after-commit") problems.push(`${where} fell back after tokens had been streamed`)
      }
      break
    }
    case "ErrorAfterCommit":
      if (mode === "stream" && fault.strikes === "before-commit") problems.push(`${where} committed to a backend that failed before its first token`)
      if (!namesFault(outcome.reason)) problems.push(`${where} error after commit names ${outcome.reason} (expected ${fault.reasons.join(" or ")})`)
      break
    case "Error":
      problems.push(`${where} error ${outcome.reason} although ${Object.keys(expected.texts).filter((b) => b !== expected.primary).join(", ")} was healthy`)
      break
  }
  return problems
}

export const describeOutcome = (outcome: Outcome, primary: string): string => {
  switch (outcome._tag) {
    case "Hang":
      return `HANG ${outcome.ms}ms`
    case "Answered": {
      const failure = outcome.failed.find((a) => a.backend === primary)
      return outcome.backend === primary
        ? `answered whole by ${primary}`
        : `fallback -> ${outcome.backend} (${failure?.reason ?? "?"})`
    }
    case "ErrorAfterCommit":
      return `error after commit (${outcome.reason ?? "?"})`
    case "Error":
      return `ERROR ${outcome.reason}`
  }
}

/** The matrix as a table a person can read in a CI log. */
export const table = (cells: ReadonlyArray<Cell>): string => {
  const name = (c: Cell) => (c.agent === undefined ? c.kind : `${c.kind} (${c.agent})`)
  const rows = cells.map((c) => c.skipped ? [name(c), c.fault.label, c.skipped, "", "", "-"] : [
    name(c),
    c.fault.label,
    describeOutcome(c.stream, primaryOf(c)),
    describeOutcome(c.whole, primaryOf(c)),
    c.breaker.open ? `open: skipped, ${c.breaker.answeredBy} in ${c.breaker.ms}ms` : `closed: tried again (${c.breaker.ms}ms)`,
    c.problems.length ? `FAIL: ${c.problems.join("; ")}` : "ok"
  ])
  const header = ["backend", "fault", "stream", "non-stream", "breaker (next request)", "verdict"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n")
}

export const primaryOf = (cell: Pick<Cell, "kind" | "fault" | "agent">): string =>
  cell.agent === undefined && cell.fault.setup._tag === "Entry" ? `${cell.kind}_${cell.fault.setup.suffix}` : cell.kind
