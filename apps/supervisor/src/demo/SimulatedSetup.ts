/**
 * The repo's routing.yaml, pointed at simulators instead of real servers: what `local-router
 * demo` runs and what the end-to-end tests use. Every simulator is a real process on a port
 * the OS picked; nothing here reaches the internet.
 */
import { Simulator } from "@local-router/simulators"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseDocument } from "yaml"

export type Server = "mlx" | "ollama" | "moondream" | "cloud"

export interface SimulatedSetup {
  /** The routing.yaml written for the simulators. */
  readonly file: string
  readonly dir: string
  readonly sims: Readonly<Record<Server, Simulator.Running>>
  /** Environment the config needs (the simulated cloud's key variable). */
  readonly env: Readonly<Record<string, string>>
  /** Stops the simulators, and removes `dir` when start made it (a `dir` given is left alone). */
  readonly stop: () => Promise<void>
}

/** The variable the simulated cloud key lives in; a real OPENAI_API_KEY is never sent anywhere. */
export const DEMO_KEY_ENV = "LOCAL_ROUTER_DEMO_KEY"

export interface StartOptions {
  /** The routing.yaml to start from (the repo's by default). */
  readonly config: string
  /** Delay per streamed token, so a person can watch tokens arrive. */
  readonly tokenMs?: number
  readonly dir?: string
}

/** Rewrite backend URLs in a routing.yaml, keeping its comments and layout. */
export const pointAt = (text: string, urls: Readonly<Partial<Record<string, string>>>, apiKeyEnv?: string): string => {
  const document = parseDocument(text)
  for (const [name, url] of Object.entries(urls)) {
    if (url === undefined || !document.hasIn(["backends", name])) continue
    document.setIn(["backends", name, "url"], url)
    if (apiKeyEnv && document.hasIn(["backends", name, "apiKey"])) document.setIn(["backends", name, "apiKey"], `env:${apiKeyEnv}`)
  }
  return document.toString()
}

/** Every model a backend is named with in the config, so a simulator can serve them all. */
const modelsFor = (text: string, backend: string): ReadonlyArray<string> => {
  const categories = (parseDocument(text).toJS() as { categories?: Record<string, { models?: Record<string, string> }> }).categories ?? {}
  return [...new Set(Object.values(categories).flatMap((c) => (c.models?.[backend] ? [c.models[backend]] : [])))]
}

export const start = async (options: StartOptions): Promise<SimulatedSetup> => {
  const text = fs.readFileSync(options.config, "utf8")
  const pace = options.tokenMs ? ["--token-ms", String(options.tokenMs)] : []
  const mlxModels = modelsFor(text, "mlx")
  const started: Array<Simulator.Running> = []
  const launch = async (kind: Simulator.Kind, args: ReadonlyArray<string>, home?: string) => {
    const sim = await Simulator.start(kind, { args, readyTimeoutMs: 30_000, ...(home ? { home } : {}) })
    started.push(sim)
    return sim
  }
  // One directory holds everything this set-up writes (Moondream Station's home included), so
  // stop removes all of it.
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "local-router-demo-"))
  const removeDir = () => {
    if (options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const [mlx, ollama, moondream, cloud] = await Promise.all([
      launch("mlx", [...(mlxModels[0] ? ["--model", mlxModels[0], "--models", mlxModels.join(",")] : []), "--load-ms", "200", ...pace]),
      launch("ollama", pace),
      launch("moondream", pace, path.join(dir, "moondream-home")),
      launch("openai", pace)
    ])
    const file = path.join(dir, "routing.yaml")
    const urls = { mlx: mlx.url, ollama: ollama.url, moondream: `${moondream.url}/v1`, cloud: `${cloud.url}/v1` }
    fs.writeFileSync(file, pointAt(text, urls, DEMO_KEY_ENV))
    return {
      file,
      dir,
      sims: { mlx, ollama, moondream, cloud },
      env: { [DEMO_KEY_ENV]: "sk-simulated-demo-key" },
      stop: async () => {
        await Promise.all(started.map((s) => s.stop()))
        removeDir()
      }
    }
  } catch (error) {
    await Promise.all(started.map((s) => s.stop()))
    removeDir()
    throw error
  }
}
