/**
 * The gateway's Prometheus metrics, in a registry of its own (two gateways in one process,
 * as in tests, do not share counters).
 *
 * Label values come only from closed sets or routing.yaml names, never from request text, so
 * a client cannot grow the series without bound. Breaker states are read from the router when
 * /metrics is scraped, not tracked on the request path.
 */
import type { CircuitBreaker, Trace } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { createRequire } from "node:module"
import type * as PromClient from "prom-client"
import type * as Handler from "./Handler.ts"

/**
 * prom-client's metric and registry classes, required one by one: its index also loads the
 * Pushgateway (https, tls, zlib), the cluster aggregator (cluster, dgram) and the default
 * process metrics, none of which the gateway uses, and which a long-running serve would hold.
 */
const require = createRequire(import.meta.url)
const Prom = {
  Registry: require("prom-client/lib/registry") as typeof PromClient.Registry,
  Counter: require("prom-client/lib/counter") as typeof PromClient.Counter,
  Gauge: require("prom-client/lib/gauge") as typeof PromClient.Gauge,
  Histogram: require("prom-client/lib/histogram") as typeof PromClient.Histogram
}

export interface Metrics {
  readonly registry: PromClient.Registry
  /** One finished request: its endpoint, status, total time and the gateway's own share of it. */
  readonly request: (endpoint: string, status: number, seconds: number, overheadSeconds: number) => void
  /** What the router did for one request: every attempt, and the fallbacks between them. */
  readonly trace: (trace: Trace.Trace) => void
  readonly firstToken: (backend: string, seconds: number) => void
  readonly breakers: (circuits: Readonly<Record<string, CircuitBreaker.View>>) => void
  /** The exposition text, with its content type. */
  readonly render: () => Promise<string>
}

/** Skip reasons are sentences; their first words name the kind. */
const skipKind = (reason: string | undefined): string => {
  if (reason === undefined) return "other"
  for (const kind of ["circuit open", "no model", "disabled", "not loaded", "failed to load", "no image input", "needs an image"]) {
    if (reason.startsWith(kind)) return kind.replace(/ /g, "_")
  }
  return "other"
}

const states: ReadonlyArray<CircuitBreaker.View> = ["closed", "open", "half-open"]

export const make = (): Metrics => {
  const registry = new Prom.Registry()
  const registers = [registry]
  const requests = new Prom.Counter({
    name: "local_router_requests_total",
    help: "Routed (chat, generate, vision) requests answered by the gateway, by endpoint and status",
    labelNames: ["endpoint", "status"] as const,
    registers
  })
  const duration = new Prom.Histogram({
    name: "local_router_request_duration_seconds",
    help: "Time from request to response headers (non-streaming: the whole answer)",
    labelNames: ["endpoint"] as const,
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers
  })
  const overhead = new Prom.Histogram({
    name: "local_router_gateway_overhead_seconds",
    help: "Time the gateway itself spent on a request (parsing, encoding), excluding the router and backends",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers
  })
  const attempts = new Prom.Counter({
    name: "local_router_attempts_total",
    help: "Backends the router tried or skipped, by outcome and reason",
    labelNames: ["backend", "outcome", "reason"] as const,
    registers
  })
  const fallbacks = new Prom.Counter({
    name: "local_router_fallbacks_total",
    help: "Times the router moved on from a failed backend to the next candidate",
    labelNames: ["from", "reason"] as const,
    registers
  })
  const firstToken = new Prom.Histogram({
    name: "local_router_time_to_first_token_seconds",
    help: "Streaming: time from request to the first token, by the backend that answered",
    labelNames: ["backend"] as const,
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers
  })
  const breaker = new Prom.Gauge({
    name: "local_router_breaker_state",
    help: "1 for each backend's current circuit state (closed, open, half-open)",
    labelNames: ["backend", "state"] as const,
    registers
  })

  return {
    registry,
    request: (endpoint, status, seconds, overheadSeconds) => {
      requests.inc({ endpoint, status: String(status) })
      duration.observe({ endpoint }, seconds)
      overhead.observe(overheadSeconds)
    },
    trace: (trace) => {
      const list = trace.attempts
      for (let i = 0; i < list.length; i++) {
        const a = list[i]!
        const reason = a.outcome === "skipped" ? skipKind(a.reason) : a.outcome === "failed" ? (a.reason ?? "other") : ""
        attempts.inc({ backend: a.backend, outcome: a.outcome, reason })
        if (a.outcome === "failed" && !a.committed && i < list.length - 1) fallbacks.inc({ from: a.backend, reason })
      }
    },
    firstToken: (backend, seconds) => firstToken.observe({ backend }, seconds),
    breakers: (circuits) => {
      for (const [backend, view] of Object.entries(circuits)) {
        for (const state of states) breaker.set({ backend, state }, state === view ? 1 : 0)
      }
    },
    render: () => registry.metrics()
  }
}

/** `GET /metrics`: the breaker gauges set from the router now, then the exposition text. */
export const scrape = (ctx: Handler.Context) =>
  Effect.flatMap(ctx.router.circuits, (circuits) => {
    ctx.metrics.breakers(circuits)
    return Effect.map(
      Effect.promise(() => ctx.metrics.render()),
      (text) => HttpServerResponse.text(text, { contentType: ctx.metrics.registry.contentType })
    )
  })
