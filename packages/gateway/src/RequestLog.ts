/**
 * The gateway's memory of recent routed requests, for the status page and `status --watch`:
 * the last ones in full (category, who answered, attempts, time to first token, total time,
 * outcome and the router's trace) and, per backend, a count and the time to first token for
 * each minute of the last hour. Never the prompt or the answer: only what the trace says.
 *
 * Bounded: `keep` entries and sixty minutes of buckets, whatever the traffic.
 *
 * Each entry also goes to `sink` when one is given: serve writes it as one JSON line
 * (`jsonLine`) to its rotating request log file, for `local-router logs`.
 */
import type { Trace } from "@local-router/core"

export type Outcome = "answered" | "failed" | "cut"

export interface Entry {
  /** Epoch ms when the request arrived. */
  readonly at: number
  readonly endpoint: string
  readonly category: string | null
  readonly backend: string | null
  readonly model: string | null
  /** Backends tried (skipped ones not counted). */
  readonly attempts: number
  /** Until the first token reached the caller; null for an answer sent whole or one that failed first. */
  readonly ttftMs: number | null
  readonly totalMs: number
  /** `cut`: failed after its first token (the caller got an explicit error event). */
  readonly outcome: Outcome
  readonly status: number
  /** Bytes of the response body sent to the caller (frames of a stream included). */
  readonly bytes: number
  readonly trace: Trace.Trace
}

/** One minute of one backend's answers. */
export interface Minute {
  /** Epoch ms of the minute's start. */
  readonly minute: number
  readonly requests: number
  readonly failed: number
  /** Mean time to first token of the streamed answers this minute (null when none streamed). */
  readonly ttftMs: number | null
}

export interface RequestLog {
  readonly record: (entry: Entry) => void
  /** Newest first. */
  readonly recent: () => ReadonlyArray<Entry>
  /** Per backend, the minutes of the last hour that had requests, oldest first. */
  readonly hour: (now: number) => Readonly<Record<string, ReadonlyArray<Minute>>>
}

interface Bucket {
  minute: number
  requests: number
  failed: number
  ttftSum: number
  ttftCount: number
}

const minuteMs = 60_000
const hourMs = 60 * minuteMs

export const make = (keep = 50, sink?: (entry: Entry) => void): RequestLog => {
  const entries: Array<Entry> = []
  const buckets = new Map<string, Array<Bucket>>()
  const bucketOf = (backend: string, at: number): Bucket => {
    const minute = at - (at % minuteMs)
    const list = buckets.get(backend) ?? []
    if (!buckets.has(backend)) buckets.set(backend, list)
    let last = list[list.length - 1]
    if (!last || last.minute !== minute) {
      last = { minute, requests: 0, failed: 0, ttftSum: 0, ttftCount: 0 }
      list.push(last)
      while (list.length > 0 && list[0]!.minute <= minute - hourMs) list.shift()
    }
    return last
  }
  return {
    record: (entry) => {
      sink?.(entry)
      entries.push(entry)
      if (entries.length > keep) entries.shift()
      // A request no backend answered counts against each backend that failed it.
      const tried = entry.trace.attempts.filter((a) => a.outcome !== "skipped")
      for (const attempt of tried) {
        const bucket = bucketOf(attempt.backend, entry.at)
        bucket.requests++
        if (attempt.outcome === "failed") bucket.failed++
        if (attempt.outcome === "answered" && entry.ttftMs !== null) {
          bucket.ttftSum += entry.ttftMs
          bucket.ttftCount++
        }
      }
    },
    recent: () => entries.slice().reverse(),
    hour: (now) =>
      Object.fromEntries([...buckets].map(([backend, list]) => [
        backend,
        list.filter((b) => b.minute > now - hourMs).map((b) => ({
          minute: b.minute,
          requests: b.requests,
          failed: b.failed,
          ttftMs: b.ttftCount ? Math.round(b.ttftSum / b.ttftCount) : null
        }))
      ]))
  }
}

/** The entry for one finished exchange. */
export const entry = (input: {
  readonly endpoint: string
  readonly started: number
  readonly committed: number | undefined
  readonly status: number
  readonly outcome: Outcome
  readonly bytes: number
  readonly trace: Trace.Trace
}): Entry => {
  const now = performance.now()
  return {
    at: Date.now() - Math.round(now - input.started),
    endpoint: input.endpoint,
    category: input.trace.category ?? null,
    backend: input.trace.backend ?? null,
    model: input.trace.model ?? null,
    attempts: input.trace.attempts.filter((a) => a.outcome !== "skipped").length,
    ttftMs: input.committed === undefined ? null : Math.round(input.committed - input.started),
    totalMs: Math.round(now - input.started),
    outcome: input.outcome,
    status: input.status,
    bytes: input.bytes,
    trace: input.trace
  }
}

/** The API dialect a metrics endpoint label belongs to (`openai_chat` -> openai). */
export const dialectOf = (endpoint: string): string => endpoint.split("_")[0] ?? endpoint

/**
 * One line of the request log file: what was asked of whom and how it went, never the prompt,
 * the answer, a header or a key (the trace holds only names, models, outcomes and timings, and
 * of it only the counts are written).
 */
export const jsonLine = (entry: Entry): string =>
  JSON.stringify({
    time: new Date(entry.at).toISOString(),
    dialect: dialectOf(entry.endpoint),
    endpoint: entry.endpoint,
    category: entry.category,
    backend: entry.backend,
    model: entry.model,
    attempts: entry.attempts,
    firstTokenMs: entry.ttftMs,
    totalMs: entry.totalMs,
    status: entry.status,
    outcome: entry.outcome,
    bytes: entry.bytes
  }) + "\n"
