/**
 * The status page: which servers are up, what each has, where each category would go now and
 * why. It renders the gateway's /status as the events stream sends it, and reconnects by itself
 * when serve goes away and comes back.
 */
import { render } from "preact"
import { useEffect, useState } from "preact/hooks"
import { type Backend, duration, type Route, type Server, type Status, tone } from "./Data.ts"
import { styles } from "./Styles.ts"

type Link = "connecting" | "live" | "lost"

/** Follows /status/events; a stream the browser gave up on (an error status) is opened again after a second. */
const useStatus = (): { readonly status: Status | undefined; readonly link: Link } => {
  const [status, setStatus] = useState<Status | undefined>(undefined)
  const [link, setLink] = useState<Link>("connecting")
  useEffect(() => {
    let source: EventSource | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    const open = () => {
      source = new EventSource("/status/events")
      source.onmessage = (event: MessageEvent<string>) => {
        setStatus(JSON.parse(event.data) as Status)
        setLink("live")
      }
      source.onerror = () => {
        setLink("lost")
        if (source?.readyState === EventSource.CLOSED) timer = setTimeout(open, 1000)
      }
    }
    open()
    return () => {
      source?.close()
      clearTimeout(timer)
    }
  }, [])
  return { status, link }
}

const App = () => {
  const { link, status } = useStatus()
  return (
    <>
      <style>{styles}</style>
      <header>
        <h1>local-router</h1>
        <span class={`link ${link}`} data-link={link}>
          {link === "live" ? "live" : link === "lost" ? "reconnecting…" : "connecting…"}
        </span>
        {status && (
          <span class="meta">
            {status.gateway.url} · up {duration(status.gateway.uptimeSeconds * 1000)} · config v{status.router.configVersion} ·{" "}
            {status.gateway.memory.rss} MB
          </span>
        )}
      </header>
      <main class={link === "lost" ? "stale" : ""}>
        {link === "lost" && status && <p class="banner bad">local-router is not answering; the page shows its last state and reconnects by itself.</p>}
        {status?.router.lastError && (
          <p class="banner bad">routing.yaml has an error, so the previous version keeps running: {status.router.lastError}</p>
        )}
        {status && <Servers status={status} />}
        {status && <Routes routes={status.router.routes} />}
      </main>
    </>
  )
}

const Servers = ({ status }: { readonly status: Status }) => {
  const supervised = status.supervisor?.servers ?? []
  const names = new Set(supervised.map((s) => s.name))
  const others = Object.entries(status.router.backends).filter(([name]) => !names.has(name))
  return (
    <section>
      <h2>Servers</h2>
      <div class="cards">
        {supervised.map((server) => <ServerCard key={server.name} server={server} backend={status.router.backends[server.name]} />)}
        {others.map(([name, backend]) => <BackendCard key={name} name={name} backend={backend} />)}
      </div>
    </section>
  )
}

const Field = ({ children, label, wide }: { readonly label: string; readonly wide?: boolean; readonly children: preact.ComponentChildren }) => (
  <div class={wide ? "field wide" : "field"}>
    <dt>{label}</dt>
    <dd>{children}</dd>
  </div>
)

const Breaker = ({ backend }: { readonly backend: Backend | undefined }) =>
  backend === undefined ? <span class="muted">not routed</span> : (
    <span class={backend.circuit === "closed" ? "" : "warn"}>
      {backend.circuit === "closed" ? "closed (healthy)" : backend.circuit === "open" ? "open: skipped for now" : "half-open: trying one request"}
    </span>
  )

const ServerCard = ({ backend, server }: { readonly server: Server; readonly backend: Backend | undefined }) => (
  <article class={`card ${tone(server.phase)}`} data-server={server.name} data-phase={server.phase}>
    <div class="title">
      <h3>{server.name}</h3>
      <span class="type">{server.type}</span>
      <span class={`phase ${tone(server.phase)}`}>{server.phase}</span>
    </div>
    <p class="reason">{server.reason}</p>
    <dl>
      <Field label="pid">{server.pid ?? <span class="muted">{server.phase === "adopted" ? "not ours (adopted)" : "—"}</span>}</Field>
      <Field label="uptime">{server.uptimeMs === undefined ? "—" : duration(server.uptimeMs)}</Field>
      <Field label="restarts">{server.restarts}</Field>
      <Field label="breaker" wide>
        <Breaker backend={backend} />
      </Field>
    </dl>
    {server.models && (
      <ul class="models" aria-label="models">
        {server.models.present.map((m) => <li key={m} class="present">✓ {m}</li>)}
        {server.models.missing.map((m) => <li key={m} class="missing">✗ {m} (missing)</li>)}
      </ul>
    )}
    {server.pull && <PullBar pull={server.pull} />}
    {server.lastError && (
      <details class="error">
        <summary>last error: {server.lastError}</summary>
        {server.lastLines.length > 0 ? <pre>{server.lastLines.join("\n")}</pre> : <p class="muted">no output captured</p>}
      </details>
    )}
  </article>
)

const PullBar = ({ pull }: { readonly pull: NonNullable<Server["pull"]> }) => {
  const share = pull.total ? Math.min(1, (pull.completed ?? 0) / pull.total) : undefined
  return (
    <div class="pull" data-pull={pull.model}>
      <div class="label">pulling {pull.model}: {pull.status}{share === undefined ? "" : ` (${Math.round(share * 100)} %)`}</div>
      <progress max={1} value={share} />
    </div>
  )
}

const BackendCard = ({ backend, name }: { readonly name: string; readonly backend: Backend }) => {
  const phase = !backend.enabled ? "disabled" : backend.loaded ? "not supervised" : "failed to load"
  return (
    <article class={`card ${backend.loaded && backend.enabled ? "idle" : "bad"}`} data-server={name} data-phase={phase}>
      <div class="title">
        <h3>{name}</h3>
        <span class="type">{backend.type}</span>
        <span class={`phase ${backend.loaded ? "idle" : "bad"}`}>{phase}</span>
      </div>
      <p class="reason">{backend.loadError ?? (backend.url ? `routed to ${backend.url}; local-router does not start it` : "a remote service")}</p>
      <dl>
        <Field label="breaker" wide>
          <Breaker backend={backend} />
        </Field>
      </dl>
    </article>
  )
}

const Routes = ({ routes }: { readonly routes: ReadonlyArray<Route> }) => (
  <section>
    <h2>Routes right now</h2>
    <p class="muted">For each category: who would answer a request now, and why each server before it would be passed over.</p>
    <div class="routes">
      {routes.map((route) => (
        <div class="route" key={route.category} data-category={route.category}>
          <div class="category">
            <strong>{route.category}</strong> <span class="muted">{route.input}</span>
          </div>
          <div class="answer">
            {route.answer ? <span class="good-text">→ {route.answer.backend} · {route.answer.model}</span> : <span class="bad-text">no server can answer now</span>}
          </div>
          {route.candidates.some((c) => c.skip) && (
            <ul class="skips">
              {route.candidates.filter((c) => c.skip).map((c) => (
                <li key={c.backend} class={c.skip === "no model for this category" ? "muted" : ""}>{c.backend}: {c.skip}</li>
              ))}
            </ul>
          )}
        </div>
      ))}
    </div>
  </section>
)

const root = document.getElementById("app")!
// The loading line is the document's own, not Preact's: clear it so the page replaces it.
root.textContent = ""
render(<App />, root)
