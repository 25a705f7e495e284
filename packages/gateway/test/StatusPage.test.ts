/**
 * The status page's pure parts, as tables: who may take an action, what the request log keeps,
 * and how each category's route is read from core's Plan plus the running process's state.
 */
import { describe, expect, it } from "vitest"
import * as Actions from "../src/Actions.ts"
import * as RequestLog from "../src/RequestLog.ts"
import * as StatusPage from "../src/StatusPage.ts"
import * as Data from "../ui/Data.ts"

describe("Actions.refusal: actions come only from the gateway's own page or from no page", () => {
  const host = "127.0.0.1:4141"
  it.each([
    ["curl, the CLI (no Origin)", { host }, true],
    ["the gateway's own page", { host, origin: "http://127.0.0.1:4141", "sec-fetch-site": "same-origin" }, true],
    ["the page opened as localhost", { host: "localhost:4141", origin: "http://localhost:4141" }, true],
    ["another app on this machine", { host, origin: "http://localhost:3000" }, false],
    ["same host, other port", { host, origin: "http://127.0.0.1:4142" }, false],
    ["another site", { host, origin: "https://evil.example" }, false],
    ["a cross-site fetch without Origin", { host, "sec-fetch-site": "cross-site" }, false],
    ["a same-site page (another port of this machine)", { host, "sec-fetch-site": "same-site" }, false],
    ["Origin: null (a sandboxed frame)", { host, origin: "null" }, false]
  ])("%s", (_name, headers, allowed) => {
    expect(Actions.refusal(headers) === undefined).toBe(allowed)
  })
})

describe("RequestLog", () => {
  const trace = (backend: string, outcome: "answered" | "failed") => ({
    category: "fast",
    backend,
    model: "m",
    configVersion: 1,
    durationMs: 5,
    attempts: [
      { backend: "mlx", model: "m", outcome: "skipped" as const, reason: "circuit open", durationMs: 0 },
      { backend, model: "m", outcome, durationMs: 5 }
    ]
  })
  const entry = (at: number, backend: string, outcome: "answered" | "failed", ttftMs: number | null): RequestLog.Entry => ({
    at,
    endpoint: "openai_chat",
    category: "fast",
    backend,
    model: "m",
    attempts: 1,
    ttftMs,
    totalMs: 9,
    outcome,
    status: outcome === "answered" ? 200 : 502,
    bytes: 120,
    trace: trace(backend, outcome)
  })

  it("keeps the newest entries, newest first, and no more than it was told", () => {
    const log = RequestLog.make(3)
    for (let i = 0; i < 5; i++) log.record(entry(i, "ollama", "answered", 10))
    expect(log.recent().map((e) => e.at)).toEqual([4, 3, 2, 1, 0].slice(0, 3))
  })

  it("counts tries per backend per minute (skips not counted), failures apart, and averages first-token times of streamed answers", () => {
    const log = RequestLog.make()
    const t0 = 10 * 60_000
    log.record(entry(t0 + 1_000, "ollama", "answered", 100))
    log.record(entry(t0 + 2_000, "ollama", "answered", 300))
    log.record(entry(t0 + 3_000, "ollama", "answered", null))
    log.record(entry(t0 + 4_000, "ollama", "failed", null))
    log.record(entry(t0 + 61_000, "ollama", "answered", 50))
    expect(log.hour(t0 + 62_000)).toEqual({
      ollama: [
        { minute: t0, requests: 4, failed: 1, ttftMs: 200 },
        { minute: t0 + 60_000, requests: 1, failed: 0, ttftMs: 50 }
      ]
    })
    // An hour later the first minute has gone.
    expect(log.hour(t0 + 60 * 60_000 + 30_000).ollama).toEqual([{ minute: t0 + 60_000, requests: 1, failed: 0, ttftMs: 50 }])
  })
})

describe("StatusPage", () => {
  it.each([
    ["a browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true],
    ["Ollama's client", "application/json", false],
    ["curl", "*/*", false],
    ["no Accept", undefined, false]
  ])("/ is the page for %s: %s", (_name, accept, html) => {
    expect(StatusPage.wantsHtml(accept)).toBe(html)
  })
})

describe("Data.modelRows: what a server card says about each model", () => {
  const server = (patch: Partial<Data.Server>): Data.Server => ({
    name: "s",
    type: "ollama",
    phase: "ready",
    reason: "",
    address: "",
    restarts: 0,
    lastLines: [],
    ...patch
  })
  const rows = (patch: Partial<Data.Server>) => Data.modelRows(server(patch)).map((r) => `${r.model}:${r.state}${r.pull ? ":pull" : ""}`)
  it.each([
    ["Ollama reports one of its models in memory", { models: { present: ["a", "b"], missing: [], loaded: ["b"] }, canPull: true }, ["a:present", "b:loaded"]],
    ["a server that cannot tell (loaded empty): present, never a guessed state", { models: { present: ["a"], missing: [], loaded: [] } }, ["a:present"]],
    ["a missing model on a server that can pull: a Pull button", { models: { present: [], missing: ["m"], loaded: [] }, canPull: true }, ["m:missing:pull"]],
    ["a missing model on Moondream (cannot pull): no Pull button", { models: { present: [], missing: ["m"], loaded: [] }, canPull: false }, ["m:missing"]],
    ["while a pull runs: no second Pull button", { models: { present: [], missing: ["m"], loaded: [] }, canPull: true, pull: { model: "m", status: "pulling" } }, ["m:missing"]],
    ["an older serve (no loaded, no canPull)", { models: { present: ["a"], missing: ["m"] } }, ["a:present", "m:missing:pull"]],
    ["no probe has listed models yet", {}, []]
  ] as const)("%s", (_name, patch, expected) => {
    expect(rows(patch as Partial<Data.Server>)).toEqual(expected)
  })
})
