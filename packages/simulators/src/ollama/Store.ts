/**
 * The simulated Ollama model store: what is installed (`/api/tags`), what is resident in
 * memory (`/api/ps`, with `expires_at` from `keep_alive`), what the "registry" offers for
 * pulling, and how many bytes of an interrupted pull are already on disk (pulls resume).
 */
import { setTimeout as sleep } from "node:timers/promises"
import { sha256 } from "../Answer.ts"
import { normaliseModel } from "../FaultBook.ts"

export interface Card {
  readonly name: string
  readonly size: number
  readonly digest: string
  readonly family: string
  readonly families: ReadonlyArray<string>
  readonly parameterSize: string
  readonly quantization: string
  readonly capabilities: ReadonlyArray<string>
  /** Vector length for models with `embedding`. */
  readonly embedDims?: number
  readonly modifiedAt: Date
}

interface Resident {
  readonly card: Card
  expiresAt: Date
  usedAt: number
}

const known: Record<string, Omit<Card, "name" | "digest" | "modifiedAt">> = {
  "phi3.5:3.8b": { size: 2176178913, family: "phi3", families: ["phi3"], parameterSize: "3.8B", quantization: "Q4_0", capabilities: ["completion"] },
  "moondream:latest": { size: 1738451197, family: "phi2", families: ["phi2", "clip"], parameterSize: "1B", quantization: "Q4_0", capabilities: ["completion", "vision"] },
  "llava:7b": { size: 4733363377, family: "llama", families: ["llama", "clip"], parameterSize: "7B", quantization: "Q4_0", capabilities: ["completion", "vision"] },
  "tinyllama:1.1b-chat": { size: 637700138, family: "llama", families: ["llama"], parameterSize: "1B", quantization: "Q4_0", capabilities: ["completion"] },
  "all-minilm:latest": { size: 45960996, family: "bert", families: ["bert"], parameterSize: "23M", quantization: "F16", capabilities: ["embedding"], embedDims: 384 },
  "nomic-embed-text:latest": { size: 274302450, family: "nomic-bert", families: ["nomic-bert"], parameterSize: "137M", quantization: "F16", capabilities: ["embedding"], embedDims: 768 },
  "mxbai-embed-large:latest": { size: 669615493, family: "bert", families: ["bert"], parameterSize: "334M", quantization: "F16", capabilities: ["embedding"], embedDims: 1024 },
  "llama3.2:latest": { size: 2019393189, family: "llama", families: ["llama"], parameterSize: "3.2B", quantization: "Q4_K_M", capabilities: ["completion", "tools"] },
  "llama3.2:3b": { size: 2019393189, family: "llama", families: ["llama"], parameterSize: "3.2B", quantization: "Q4_K_M", capabilities: ["completion", "tools"] },
  "llama3.2:1b": { size: 1321098329, family: "llama", families: ["llama"], parameterSize: "1.2B", quantization: "Q8_0", capabilities: ["completion", "tools"] },
  "llama3.1:8b": { size: 4920753328, family: "llama", families: ["llama"], parameterSize: "8.0B", quantization: "Q4_K_M", capabilities: ["completion", "tools"] },
  "qwen2.5:7b": { size: 4683087332, family: "qwen2", families: ["qwen2"], parameterSize: "7.6B", quantization: "Q4_K_M", capabilities: ["completion", "tools"] },
  "qwen2.5:0.5b": { size: 397821319, family: "qwen2", families: ["qwen2"], parameterSize: "494.03M", quantization: "Q4_K_M", capabilities: ["completion", "tools"] },
  "qwen3:8b": { size: 5225388164, family: "qwen3", families: ["qwen3"], parameterSize: "8.2B", quantization: "Q4_K_M", capabilities: ["completion", "tools", "thinking"] },
  "deepseek-r1:8b": { size: 5225376047, family: "qwen3", families: ["qwen3"], parameterSize: "8.2B", quantization: "Q4_K_M", capabilities: ["completion", "tools", "thinking"] },
  "gpt-oss:20b": { size: 13780173724, family: "gptoss", families: ["gptoss"], parameterSize: "20.9B", quantization: "MXFP4", capabilities: ["completion", "tools", "thinking"] },
  "qwen3-vl:8b": { size: 6138290000, family: "qwen3vl", families: ["qwen3vl"], parameterSize: "8.8B", quantization: "Q4_K_M", capabilities: ["completion", "vision", "tools", "thinking"] }
}

/** Details for a model the table above does not know, guessed from its name. */
const guess = (name: string): Omit<Card, "name" | "digest" | "modifiedAt"> => {
  const vision = /llava|moondream|vision|-vl/.test(name)
  const embed = /embed|minilm/.test(name)
  const thinks = /qwen3|deepseek-r1|gpt-oss|magistral/.test(name)
  return {
    size: 100_000_000 + (Number.parseInt(sha256(name).slice(0, 6), 16) % 900_000_000),
    family: "llama",
    families: vision ? ["llama", "clip"] : ["llama"],
    parameterSize: "1B",
    quantization: "Q4_K_M",
    capabilities: embed ? ["embedding"] : [...(vision ? ["completion", "vision"] : ["completion"]), ...(thinks ? ["tools", "thinking"] : [])],
    ...(embed ? { embedDims: 768 } : {})
  }
}

export const card = (name: string, modifiedAt = new Date(), capabilities?: ReadonlyArray<string>): Card => {
  const full = normaliseModel(name)
  const base = known[full] ?? guess(full)
  return {
    name: full,
    digest: sha256(`model:${full}`),
    modifiedAt,
    ...base,
    ...(capabilities !== undefined ? { capabilities } : {}),
    ...(capabilities?.includes("embedding") === true && base.embedDims === undefined ? { embedDims: 768 } : {})
  }
}

/**
 * The name the server uses in capability errors: `scheduleRunner` prints model.Name, the full
 * registry path (`registry.ollama.ai/library/phi3.5:3.8b`), not what the request said.
 */
export const fullName = (name: string): string => {
  const n = normaliseModel(name)
  const parts = n.split("/")
  if (parts.length >= 3 || (parts.length === 2 && /[.:]/.test(parts[0] ?? ""))) return n
  return parts.length === 2 ? `registry.ollama.ai/${n}` : `registry.ollama.ai/library/${n}`
}

/** `--capabilities "a=completion+tools,b=embedding"` → per-model capability lists. */
export const parseCapabilities = (text: string): ReadonlyMap<string, ReadonlyArray<string>> => {
  const allowed = ["completion", "tools", "insert", "vision", "embedding", "thinking", "image", "audio"]
  const out = new Map<string, ReadonlyArray<string>>()
  for (const entry of text.split(",").map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.lastIndexOf("=")
    if (eq <= 0) throw new Error(`--capabilities: "${entry}" is not model=capability+capability`)
    const caps = entry.slice(eq + 1).split("+").map((c) => c.trim()).filter(Boolean)
    const bad = caps.find((c) => !allowed.includes(c))
    if (bad !== undefined) throw new Error(`--capabilities: unknown capability "${bad}" for ${entry.slice(0, eq)} (one of ${allowed.join(", ")})`)
    out.set(normaliseModel(entry.slice(0, eq)), caps)
  }
  return out
}

/** The JSON shape `/api/tags`, `/api/ps` and `/api/show` share. */
export const details = (c: Card) => ({
  parent_model: "",
  format: "gguf",
  family: c.family,
  families: c.families,
  parameter_size: c.parameterSize,
  quantization_level: c.quantization
})

export interface StoreOptions {
  readonly installed: ReadonlyArray<string>
  /** Names `/api/pull` can fetch; "any" lets every well-formed name be pulled. */
  readonly registry: ReadonlyArray<string> | "any"
  readonly loadMs: number
  readonly maxLoaded: number
  /** Default keep-alive in ms; negative keeps models forever. */
  readonly keepAliveMs: number
  /** Per-model capability overrides (`--capabilities`), keyed by normalised name. */
  readonly capabilities?: ReadonlyMap<string, ReadonlyArray<string>>
}

export class Store {
  private readonly installed = new Map<string, Card>()
  private readonly resident = new Map<string, Resident>()
  private readonly loading = new Map<string, Promise<void>>()
  /** Bytes of the main layer already downloaded, per model, so a cut pull resumes. */
  readonly downloaded = new Map<string, number>()
  readonly options: StoreOptions

  constructor(options: StoreOptions) {
    this.options = options
    // A fixed date so `/api/tags` is stable across runs.
    for (const name of options.installed) this.install(name, new Date("2025-05-10T15:06:48.639Z"))
  }

  find(name: string): Card | undefined {
    return this.installed.get(normaliseModel(name))
  }

  list(): ReadonlyArray<Card> {
    return [...this.installed.values()]
  }

  install(name: string, at = new Date()): Card {
    const c = card(name, at, this.options.capabilities?.get(normaliseModel(name)))
    this.installed.set(c.name, c)
    return c
  }

  remove(name: string): boolean {
    const key = normaliseModel(name)
    this.resident.delete(key)
    this.downloaded.delete(key)
    return this.installed.delete(key)
  }

  inRegistry(name: string): boolean {
    const r = this.options.registry
    return r === "any" || r.some((n) => normaliseModel(n) === normaliseModel(name))
  }

  /** Resident models still inside their keep-alive, longest remaining lifetime first. */
  loaded(): ReadonlyArray<{ card: Card; expiresAt: Date }> {
    const now = Date.now()
    for (const [k, r] of this.resident) if (r.expiresAt.getTime() <= now) this.resident.delete(k)
    return [...this.resident.values()].sort((a, b) => b.expiresAt.getTime() - a.expiresAt.getTime())
  }

  isLoaded(name: string): boolean {
    return this.loaded().some((r) => r.card.name === normaliseModel(name))
  }

  /**
   * Makes a model resident, waiting out the load delay when it is cold; returns the ms spent
   * loading. Concurrent requests for the same cold model share one load, as the scheduler does.
   */
  async load(c: Card): Promise<number> {
    if (this.isLoaded(c.name)) return 0
    const started = Date.now()
    let pending = this.loading.get(c.name)
    if (pending === undefined) {
      pending = sleep(this.options.loadMs).then(() => {
        this.loading.delete(c.name)
        this.evictFor(c.name)
        this.resident.set(c.name, { card: c, expiresAt: this.expiry(this.options.keepAliveMs), usedAt: Date.now() })
      })
      this.loading.set(c.name, pending)
    }
    await pending
    return Date.now() - started
  }

  /** The last request to a model sets its expiry; 0 unloads it right away. */
  touch(c: Card, keepAliveMs: number | undefined): void {
    const ms = keepAliveMs ?? this.options.keepAliveMs
    if (ms === 0) {
      this.resident.delete(c.name)
      return
    }
    this.resident.set(c.name, { card: c, expiresAt: this.expiry(ms), usedAt: Date.now() })
  }

  unload(c: Card): void {
    this.resident.delete(c.name)
  }

  private expiry(ms: number): Date {
    // Negative keep-alive never expires; Ollama shows a far-future timestamp.
    return new Date(ms < 0 ? Date.now() + 100 * 365 * 24 * 3600 * 1000 : Date.now() + ms)
  }

  private evictFor(incoming: string): void {
    const others = [...this.resident.entries()].filter(([k]) => k !== incoming).sort((a, b) => a[1].usedAt - b[1].usedAt)
    while (others.length >= this.options.maxLoaded) {
      const [k] = others.shift() ?? []
      if (k !== undefined) this.resident.delete(k)
    }
  }
}
