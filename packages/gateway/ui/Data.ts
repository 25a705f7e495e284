/** What the page reads: the gateway's /status JSON (the events stream sends the same). */
export interface Status {
  readonly gateway: { readonly url: string; readonly uptimeSeconds: number; readonly memory: { readonly rss: number } }
  readonly router: {
    readonly file: string
    readonly configVersion: number
    readonly lastError: string | null
    readonly backends: Readonly<Record<string, Backend>>
    readonly routes: ReadonlyArray<Route>
  }
  readonly supervisor: { readonly servers: ReadonlyArray<Server> } | null
  readonly requests?: {
    readonly recent: ReadonlyArray<Request>
    readonly hour: Readonly<Record<string, ReadonlyArray<Minute>>>
  }
}

export interface Attempt {
  readonly backend: string
  readonly model?: string
  readonly outcome: "answered" | "failed" | "skipped"
  readonly reason?: string
  readonly message?: string
  readonly durationMs: number
}

export interface Request {
  readonly at: number
  readonly endpoint: string
  readonly category: string | null
  readonly backend: string | null
  readonly model: string | null
  readonly attempts: number
  readonly ttftMs: number | null
  readonly totalMs: number
  readonly outcome: "answered" | "failed" | "cut"
  readonly status: number
  readonly trace: { readonly attempts: ReadonlyArray<Attempt>; readonly configVersion: number }
}

export interface Minute {
  readonly minute: number
  readonly requests: number
  readonly failed: number
  readonly ttftMs: number | null
}

export interface Backend {
  readonly type: string
  readonly url: string | null
  readonly enabled: boolean
  readonly loaded: boolean
  readonly loadError?: string
  readonly circuit: "closed" | "open" | "half-open"
}

export interface Route {
  readonly category: string
  readonly input: string
  readonly answer: { readonly backend: string; readonly model: string } | undefined
  readonly candidates: ReadonlyArray<{ readonly backend: string; readonly model: string | null; readonly skip?: string }>
}

export interface Server {
  readonly name: string
  readonly type: string
  readonly phase: string
  readonly reason: string
  readonly address: string
  readonly pid?: number
  readonly uptimeMs?: number
  readonly restarts: number
  /** `loaded`: of `present`, what the server itself reports in memory (absent from an older serve). */
  readonly models?: { readonly present: ReadonlyArray<string>; readonly missing: ReadonlyArray<string>; readonly loaded?: ReadonlyArray<string> }
  /** Whether a missing model can be pulled here (absent from an older serve: assume it can). */
  readonly canPull?: boolean
  readonly lastError?: string
  readonly lastLines: ReadonlyArray<string>
  readonly pull?: { readonly model: string; readonly status: string; readonly total?: number; readonly completed?: number }
}

/** One model on a server's card. */
export interface ModelRow {
  readonly model: string
  /** "loaded": the server reports it in memory; "present": on disk, not reported loaded (or the server cannot tell). */
  readonly state: "loaded" | "present" | "missing"
  /** Offer a Pull button: missing, the server can pull, and no pull runs now. */
  readonly pull: boolean
}

export const modelRows = (server: Server): ReadonlyArray<ModelRow> => {
  if (!server.models) return []
  const loaded = new Set(server.models.loaded ?? [])
  const pullable = server.canPull !== false && server.pull === undefined
  return [
    ...server.models.present.map((model): ModelRow => ({ model, state: loaded.has(model) ? "loaded" : "present", pull: false })),
    ...server.models.missing.map((model): ModelRow => ({ model, state: "missing", pull: pullable }))
  ]
}

/** `3 s`, `4 min`, `2 h 5 min`, `3 d 4 h`. */
export const duration = (ms: number): string => {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h} h ${m % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}

/** How a phase reads at a glance: good, busy, bad or idle. */
export const tone = (phase: string): "good" | "busy" | "bad" | "idle" =>
  phase === "ready" || phase === "adopted"
    ? "good"
    : phase === "starting" || phase === "unhealthy" || phase === "backing-off"
    ? "busy"
    : phase === "failed" || phase === "not-installed"
    ? "bad"
    : "idle"

/** `850 ms`, `1.2 s`. */
export const ms = (value: number | null): string =>
  value === null ? "—" : value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`
