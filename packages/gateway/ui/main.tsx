/**
 * The status page: which servers are up, what each has, where each category would go now and
 * why. It renders the gateway's /status as the events stream sends it, and reconnects by itself
 * when serve goes away and comes back.
 */
import { render } from "preact"
import { useEffect, useState } from "preact/hooks"
import { type Backend, duration, modelRows, type Route, type Server, type Status, tone } from "./Data.ts"
import * as Link from "./Link.ts"
import { Charts, Requests } from "./Requests.tsx"
import { styles } from "./Styles.ts"

/** Follows /status/events, again after the token is given. */
const useStatus = (attempt: number): { readonly status: Status | undefined; readonly link: Link.State } => {
  const [status, setStatus] = useState<Status | undefined>(undefined)
  const [link, setLink] = useState<Link.State>("connecting")
  useEffect(() => {
    setLink("connecting")
    return Link.follow(setStatus, setLink)
  }, [attempt])
  return { status, link }
}

/** The last action's answer, shown under the header. */
let announce: (outcome: Link.Outcome & { readonly what: string }) => void = () => {}
let askToken: () => void = () => {}

const act = async (what: string, kind: "restart" | "pull" | "reload", body: Record<string, string> = {}) => {
  const outcome = await Link.act(kind, body)
  if (outcome.status === 401) askToken()
  announce({ ...outcome, what })
}

const Button = ({ children, label, onClick }: { readonly label: string; readonly onClick: () => Promise<void>; readonly children: preact.ComponentChildren }) => {
  const [busy, setBusy] = useState(false)
  return (
    <button
      type="button"
      aria-label={label}
      disabled={busy}
      onClick={() => {
        setBusy(true)
        void onClick().finally(() => setBusy(false))
      }}
    >
      {children}
    </button>
  )
}

const TokenForm = ({ onToken }: { readonly onToken: () => void }) => (
  <form
    class="banner token"
    onSubmit={(event) => {
      event.preventDefault()
      const input = (event.currentTarget as HTMLFormElement).elements.namedItem("token") as HTMLInputElement
      Link.token.set(input.value)
      onToken()
    }}
  >
    <label>
      This local-router needs its token (server.token in routing.yaml, or LOCAL_ROUTER_TOKEN):{" "}
      <input name="token" type="password" autocomplete="current-password" required />
    </label>{" "}
    <button type="submit">Connect</button>
  </form>
)

const App = () => {
  const [attempt, setAttempt] = useState(0)
  const { link, status } = useStatus(attempt)
  const [last, setLast] = useState<(Link.Outcome & { readonly what: string }) | undefined>(undefined)
  const [needsToken, setNeedsToken] = useState(false)
  announce = setLast
  askToken = () => setNeedsToken(true)
  const showToken = needsToken || link === "needs-token"
  return (
    <>
      <style>{styles}</style>
      <header>
        <h1>local-router</h1>
        <span class={`link ${link}`} data-link={link}>
          {link === "live" ? "live" : link === "lost" ? "reconnecting…" : link === "needs-token" ? "needs the token" : "connecting…"}
        </span>
        {status && (
          <span class="meta">
            {status.gateway.url} · up {duration(status.gateway.uptimeSeconds * 1000)} · config v{status.router.configVersion} ·{" "}
            {status.gateway.memory.rss} MB
          </span>
        )}
        {status && (
          <span class="actions">
            <Button label="reload routing.yaml" onClick={() => act("reload routing.yaml", "reload")}>Reload config</Button>
          </span>
        )}
      </header>
      <main class={link === "lost" ? "stale" : ""}>
        {showToken && (
          <TokenForm
            onToken={() => {
              setNeedsToken(false)
              setAttempt((n) => n + 1)
            }}
          />
        )}
        {last && (
          <p class={`banner ${last.ok ? "ok" : "bad"}`} role="status" data-outcome={last.ok ? "ok" : "refused"}>
            {last.what}: {last.message}
          </p>
        )}
        {link === "lost" && status && <p class="banner bad">local-router is not answering; the page shows its last state and reconnects by itself.</p>}
        {status?.router.lastError && (
          <p class="banner bad">routing.yaml has an error, so the previous version keeps running: {status.router.lastError}</p>
        )}
        {status && <Servers status={status} />}
        {status && <Routes routes={status.router.routes} />}
        {status?.requests && <Requests recent={status.requests.recent} />}
        {status?.requests && <Charts hour={status.requests.hour} now={Date.now()} />}
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
    {server.phase !== "adopted" && server.phase !== "stopped" && (
      <div class="buttons">
        <Button label={`restart ${server.name}`} onClick={() => act(`restart ${server.name}`, "restart", { server: server.name })}>
          {server.phase === "failed" || server.phase === "not-installed" ? "Try again" : "Restart"}
        </Button>
      </div>
    )}
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
        {modelRows(server).map((row) => (
          <li key={row.model} class={row.state === "loaded" ? "present loaded" : row.state}>
            {row.state === "missing" ? "✗" : "✓"} {row.model}
            {row.state === "loaded" && <span class="in-memory" title="the server reports this model in memory now: answers start without loading it"> ● loaded</span>}
            {row.state === "missing" && " (missing)"}
            {row.pull && (
              <>
                {" "}
                <Button label={`pull ${row.model} onto ${server.name}`} onClick={() => act(`pull ${row.model}`, "pull", { server: server.name, model: row.model })}>
                  Pull
                </Button>
              </>
            )}
          </li>
        ))}
      </ul>
    )}
    {server.models && server.models.missing.length > 0 && server.canPull === false && (
      <p class="muted">{server.type} cannot pull models: put missing ones on it by hand (or set pull.command in its supervise block).</p>
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
