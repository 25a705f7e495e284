/**
 * The Ollama simulator: gin's routing behaviour (text 404/405), the DNS-rebinding Host guard,
 * and the route table. The handlers live beside it, one file per concern.
 */
import { hostname } from "node:os"
import { isIP } from "node:net"
import type * as Cli from "../Cli.ts"
import type { Definition, Exchange, StatusFault } from "../Harness.ts"
import * as Send from "../Send.ts"
import * as Generate from "./Generate.ts"
import * as Inventory from "./Inventory.ts"
import * as OpenAiCompat from "./OpenAiCompat.ts"
import * as Pull from "./Pull.ts"
import { Store } from "./Store.ts"

export const defaultModels = ["phi3.5:3.8b", "moondream", "llava:7b", "tinyllama:1.1b-chat"]
export const defaultRegistry = [...defaultModels, "all-minilm", "llama3.2:1b", "qwen2.5:0.5b", "nomic-embed-text"]

export const flags: ReadonlyArray<Cli.Flag> = [
  { name: "models", type: "string", default: defaultModels.join(","), help: "installed models, comma-separated (empty for none)" },
  { name: "registry", type: "string", default: defaultRegistry.join(","), help: "models /api/pull can fetch, or * for any name" },
  { name: "load-ms", type: "string", default: "0", help: "cold model load time, spent before response headers" },
  { name: "pull-ms", type: "string", default: "600", help: "time to download a model's main layer" },
  { name: "pull-tick-ms", type: "string", default: "60", help: "interval between pull progress lines" },
  { name: "max-loaded", type: "string", default: "3", help: "resident model cap (OLLAMA_MAX_LOADED_MODELS)" },
  { name: "keep-alive", type: "string", help: "default keep-alive, Go duration or seconds (default: $OLLAMA_KEEP_ALIVE or 5m)" },
  { name: "server-version", type: "string", default: "0.6.8", help: "what /api/version reports" },
  { name: "tool-calls-on-done", type: "boolean", help: "send tool calls all at once on the final done line with llama-server's 32-char ids (the native path)" },
  {
    name: "capabilities",
    type: "string",
    help: "per-model capabilities, overriding the built-in ones: model=cap+cap,... (completion, tools, vision, embedding, thinking, insert, image, audio)"
  }
]

export interface Config {
  readonly store: Store
  readonly tokens: number | undefined
  readonly tokenMs: number
  readonly pullMs: number
  readonly tickMs: number
  readonly version: string
  /** Bound to a loopback address, so the Host guard is on. */
  readonly loopback: boolean
  /** Tool calls on the final done line with 32-char ids (the native llama-server path). */
  readonly toolCallsOnDone: boolean
}

const busy = "server busy, please try again.  maximum pending requests exceeded"
const runnerDied = "llama runner process has terminated: signal: killed"

/** DNS-rebinding guard: on a loopback bind, only local-looking Host headers get through. */
const hostAllowed = (header: string | undefined): boolean => {
  if (header === undefined || header === "") return true
  const host = header.startsWith("[") ? header.slice(1, header.indexOf("]")) : header.replace(/:\d+$/, "")
  if (isIP(host) !== 0) return true
  const h = host.toLowerCase()
  return h === "localhost" || h === hostname().toLowerCase() || /\.(localhost|local|internal)$/.test(h)
}

type Route = (ex: Exchange) => void | Promise<void>

export const make = (config: Config): Definition => {
  const gen = { store: config.store, tokens: config.tokens, tokenMs: config.tokenMs, toolCallsOnDone: config.toolCallsOnDone }
  const routes: Record<string, Record<string, Route>> = {
    "/": {
      GET: (ex) => Send.text(ex.reply, 200, "Ollama is running", "text/plain; charset=utf-8"),
      HEAD: (ex) => Send.text(ex.reply, 200, "Ollama is running", "text/plain; charset=utf-8")
    },
    "/api/version": {
      GET: (ex) => Send.json(ex.reply, 200, { version: config.version }),
      HEAD: (ex) => Send.json(ex.reply, 200, { version: config.version })
    },
    "/api/tags": { GET: (ex) => Inventory.tags(config.store, ex), HEAD: (ex) => Inventory.tags(config.store, ex) },
    "/api/ps": { GET: (ex) => Inventory.ps(config.store, ex) },
    "/api/show": { POST: (ex) => Inventory.show(config.store, ex) },
    "/api/delete": { DELETE: (ex) => Inventory.remove(config.store, ex) },
    "/api/embed": { POST: (ex) => Inventory.embed(config.store, ex) },
    "/api/embeddings": { POST: (ex) => Inventory.embeddings(config.store, ex) },
    "/api/generate": { POST: (ex) => Generate.handle(gen, ex, "generate") },
    "/api/chat": { POST: (ex) => Generate.handle(gen, ex, "chat") },
    "/api/pull": { POST: (ex) => Pull.handle({ store: config.store, pullMs: config.pullMs, tickMs: config.tickMs }, ex) },
    "/v1/chat/completions": { POST: (ex) => OpenAiCompat.chat(gen, ex) },
    "/v1/models": { GET: (ex) => OpenAiCompat.models(gen, ex) },
    "/v1/embeddings": { POST: (ex) => OpenAiCompat.embeddings(gen, ex) }
  }

  return {
    sim: "ollama",
    async handle(ex) {
      if (config.loopback && !hostAllowed(ex.req.headers.host)) {
        ex.reply.head(403, { "Content-Length": 0 })
        return ex.reply.end()
      }
      const byMethod = routes[ex.path]
      if (byMethod === undefined) return Send.text(ex.reply, 404, "404 page not found", "text/plain")
      const route = byMethod[ex.method]
      if (route === undefined) return Send.text(ex.reply, 405, "405 method not allowed", "text/plain")
      await route(ex)
    },
    fail(ex, fault: StatusFault) {
      const message = fault.message ?? (fault.status === 503 ? busy : fault.status >= 500 ? runnerDied : `simulated status ${fault.status}`)
      const headers: Send.Headers = {}
      if (fault.retryAfter !== undefined) headers["Retry-After"] = fault.retryAfter
      if (ex.path.startsWith("/v1/")) return OpenAiCompat.error(ex, fault.status, message, headers)
      Send.json(ex.reply, fault.status, { error: message }, headers)
    },
    state: () => ({
      installed: config.store.list().map((c) => c.name),
      loaded: config.store.loaded().map((r) => r.card.name),
      downloaded: Object.fromEntries(config.store.downloaded)
    })
  }
}
