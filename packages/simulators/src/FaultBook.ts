/**
 * The live fault set of one simulator process and what it means for one request (a Plan).
 * Counted faults are consumed when a request matches them, so "fail the next request only"
 * (`count: 1`) works for retry and fallback tests.
 */
import type { Fault } from "./Faults.ts"

/** What the faults say about one request, resolved once when the request arrives. */
export interface Plan {
  readonly hangBeforeHeadersMs: number | "forever" | undefined
  readonly hangAfterTokens: number | undefined
  readonly cutAfterTokens: number | undefined
  readonly slowTokensMs: number
  readonly status: Extract<Fault, { kind: "status" }> | undefined
  readonly malformedJson: boolean
  readonly errorBody: Extract<Fault, { kind: "errorBody" }> | undefined
  readonly refusedModel: boolean
  readonly dropConnection: boolean
}

export const emptyPlan: Plan = {
  hangBeforeHeadersMs: undefined,
  hangAfterTokens: undefined,
  cutAfterTokens: undefined,
  slowTokensMs: 0,
  status: undefined,
  malformedJson: false,
  errorBody: undefined,
  refusedModel: false,
  dropConnection: false
}

interface Entry {
  readonly fault: Fault
  remaining: number
}

const sameModel = (a: string, b: string): boolean => normaliseModel(a) === normaliseModel(b)

/** Ollama-style name comparison: case-insensitive, `:latest` implied. Harmless for other servers. */
export const normaliseModel = (name: string): string => {
  const lower = name.toLowerCase()
  const lastSegment = lower.slice(lower.lastIndexOf("/") + 1)
  return lastSegment.includes(":") ? lower : `${lower}:latest`
}

const routeMatches = (pattern: string, path: string): boolean =>
  pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : pattern === path

export class FaultBook {
  private entries: Array<Entry> = []

  constructor(initial: ReadonlyArray<Fault> = []) {
    this.replace(initial)
  }

  replace(faults: ReadonlyArray<Fault>): void {
    this.entries = faults.map((fault) => ({ fault, remaining: fault.count ?? Number.POSITIVE_INFINITY }))
  }

  list(): ReadonlyArray<Fault> {
    return this.entries.map((e) => e.fault)
  }

  /** The first fault of a kind that is not scoped to requests (used for process-wide faults). */
  global<K extends Fault["kind"]>(kind: K): Extract<Fault, { kind: K }> | undefined {
    return this.entries.find((e) => e.fault.kind === kind)?.fault as Extract<Fault, { kind: K }> | undefined
  }

  /** Resolves the faults that apply to a request and consumes their counts. */
  plan(path: string, model: string | undefined): Plan {
    const hits = this.entries.filter((e) => {
      const f = e.fault
      if (f.kind === "slowStart" || f.kind === "crashAfter") return false
      if (f.route !== undefined && !routeMatches(f.route, path)) return false
      if (f.model !== undefined && (model === undefined || !sameModel(f.model, model))) return false
      return e.remaining > 0
    })
    for (const e of hits) e.remaining -= 1
    this.entries = this.entries.filter((e) => e.remaining > 0)
    let plan: Plan = emptyPlan
    for (const { fault: f } of hits) {
      switch (f.kind) {
        case "hangBeforeHeaders":
          plan = { ...plan, hangBeforeHeadersMs: f.ms ?? "forever" }
          break
        case "hangAfterTokens":
          plan = { ...plan, hangAfterTokens: f.tokens }
          break
        case "cutAfterTokens":
          plan = { ...plan, cutAfterTokens: f.tokens }
          break
        case "slowTokens":
          plan = { ...plan, slowTokensMs: f.ms }
          break
        case "status":
          plan = { ...plan, status: f }
          break
        case "malformedJson":
          plan = { ...plan, malformedJson: true }
          break
        case "errorBody":
          plan = { ...plan, errorBody: f }
          break
        case "refuseModel":
          plan = { ...plan, refusedModel: true }
          break
        case "dropConnection":
          plan = { ...plan, dropConnection: true }
          break
        case "slowStart":
        case "crashAfter":
          break
      }
    }
    return plan
  }
}
