/** Recent requests (newest first), each opening to the router's trace; and per backend, the last hour in two small charts. */
import { type Minute, ms, type Request } from "./Data.ts"

const time = (at: number) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })

export const Requests = ({ recent }: { readonly recent: ReadonlyArray<Request> }) => (
  <section>
    <h2>Recent requests</h2>
    {recent.length === 0 ? <p class="muted">No requests yet. They appear here as apps use local-router (prompts are never shown or kept).</p> : (
      <div class="requests">
        {recent.map((r) => (
          <details class={`request ${r.outcome}`} key={`${r.at}-${r.totalMs}-${r.category}`} data-request={r.category ?? "pinned"}>
            <summary>
              <span class="when">{time(r.at)}</span>
              <span class="what">{r.category ?? "pinned"}</span>
              <span class="who">{r.backend ? `${r.backend} · ${r.model ?? ""}` : "no backend answered"}</span>
              <span class="num" title="backends tried">{r.attempts} {r.attempts === 1 ? "try" : "tries"}</span>
              <span class="num" title="time to first token">{r.ttftMs === null ? "whole" : `first ${ms(r.ttftMs)}`}</span>
              <span class="num" title="total time">{ms(r.totalMs)}</span>
              <span class={`outcome ${r.outcome}`}>{r.outcome === "cut" ? "cut after start" : r.outcome}</span>
            </summary>
            <ol class="trace">
              {r.trace.attempts.map((a, i) => (
                <li key={i} class={a.outcome}>
                  <strong>{a.backend}</strong>
                  {a.model ? ` (${a.model})` : ""} {a.outcome}
                  {a.reason ? ` — ${a.reason}` : ""}
                  {a.outcome === "skipped" ? "" : ` in ${ms(a.durationMs)}`}
                  {a.message ? `: ${a.message}` : ""}
                </li>
              ))}
            </ol>
            <p class="muted">{r.endpoint} · HTTP {r.status} · routing.yaml v{r.trace.configVersion}</p>
          </details>
        ))}
      </div>
    )}
  </section>
)

const width = 240
const height = 44

/** Sixty one-minute slots ending now; `value` of each minute that had requests, as bars or a line. */
const Chart = (
  { label, minutes, now, pick, unit }: {
    readonly label: string
    readonly minutes: ReadonlyArray<Minute>
    readonly now: number
    readonly pick: (m: Minute) => number | null
    readonly unit: (v: number) => string
  }
) => {
  const slot = width / 60
  const start = now - (now % 60_000) - 59 * 60_000
  const points = minutes.flatMap((m) => {
    const v = pick(m)
    return v === null ? [] : [{ x: Math.round((m.minute - start) / 60_000), v, failed: m.failed }]
  }).filter((p) => p.x >= 0 && p.x < 60)
  const max = Math.max(1, ...points.map((p) => p.v))
  const last = points[points.length - 1]
  return (
    <figure class="chart">
      <figcaption>
        {label}: <strong>{last ? unit(last.v) : "—"}</strong> <span class="muted">(max {points.length ? unit(max) : "—"})</span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" width="100%" height={height} role="img" aria-label={`${label}, last hour`}>
        <rect x="0" y="0" width={width} height={height} class="frame" />
        {points.map((p) => (
          <rect
            key={p.x}
            x={p.x * slot + 0.5}
            y={height - (p.v / max) * (height - 4)}
            width={Math.max(1, slot - 1)}
            height={(p.v / max) * (height - 4)}
            class={p.failed > 0 && label === "requests" ? "bar failed" : "bar"}
          />
        ))}
      </svg>
      <div class="axis"><span>an hour ago</span><span>now</span></div>
    </figure>
  )
}

export const Charts = ({ hour, now }: { readonly hour: Readonly<Record<string, ReadonlyArray<Minute>>>; readonly now: number }) => {
  const backends = Object.entries(hour).filter(([, minutes]) => minutes.length > 0)
  return (
    <section>
      <h2>Last hour, per backend</h2>
      {backends.length === 0 ? <p class="muted">Charts of requests and time to first token appear once requests are routed.</p> : (
        <div class="cards">
          {backends.map(([backend, minutes]) => (
            <article class="card idle" key={backend} data-chart={backend}>
              <h3>{backend}</h3>
              <Chart label="requests" minutes={minutes} now={now} pick={(m) => m.requests} unit={(v) => `${v}/min`} />
              <Chart label="first token" minutes={minutes} now={now} pick={(m) => m.ttftMs} unit={ms} />
              <p class="muted">{minutes.reduce((n, m) => n + m.requests, 0)} tries, {minutes.reduce((n, m) => n + m.failed, 0)} failed</p>
            </article>
          ))}
        </div>
      )}
    </section>
  )
}
