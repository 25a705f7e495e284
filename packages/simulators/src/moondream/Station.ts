/**
 * The Moondream Station simulator: a static `/health`, dispatch on the last path segment
 * (`/v1/caption` = `/caption`), a body ignored unless it is labelled JSON, every failure as
 * HTTP 200 with an `error` key, the single worker with its queue limit and timeout, and SSE
 * streams of `chunk` events ending in `{"completed": true}`.
 */
import * as Answer from "../Answer.ts"
import type * as Cli from "../Cli.ts"
import type { Definition, Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { splitDataUrl } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import type { Worker } from "./Worker.ts"

export const flags: ReadonlyArray<Cli.Flag> = [
  { name: "home", type: "string", help: "home directory holding .moondream-station/config.json (default: $HOME)" },
  { name: "load-ms", type: "string", default: "0", help: "lazy model load on the first inference" },
  { name: "infer-ms", type: "string", default: "0", help: "worker time per non-streamed request" },
  { name: "queue-size", type: "string", help: "waiting requests before `Queue is full` (default: config inference_max_queue_size, 10)" },
  { name: "timeout-ms", type: "string", help: "request wait limit (default: config inference_timeout, 30 s)" },
  { name: "model", type: "string", help: "model id reported by /v1/models and /v1/stats (default: config current_model)" }
]

export interface Config {
  readonly worker: Worker
  readonly timeoutMs: number
  readonly inferMs: number
  readonly model: string
  readonly tokens: number | undefined
  readonly tokenMs: number
}

const lengths: Record<string, number> = { short: 4, normal: 8, long: 16 }

/** Python's json.dumps spacing, which Station's hand-built SSE lines use. */
const py = (value: unknown): string => JSON.stringify(value).replace(/":/g, '": ').replace(/,"/g, ', "')

const reply200 = (ex: Exchange, value: unknown): void => Send.json(ex.reply, 200, value, {}, "application/json")

type Image = { readonly ok: true; readonly facts: Answer.ImageFacts } | { readonly ok: false; readonly error: string }

const signatures: ReadonlyArray<(b: Buffer) => boolean> = [
  (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  (b) => b[0] === 0xff && b[1] === 0xd8,
  (b) => b.subarray(0, 4).toString("latin1") === "GIF8",
  (b) => b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP",
  (b) => b.subarray(0, 2).toString("latin1") === "BM"
]

/** Everything up to the first comma is dropped, the rest is base64 that Pillow must recognise. */
const decodeImage = (value: string): Image => {
  const payload = splitDataUrl(value).payload.replace(/\s/g, "")
  if (/[^A-Za-z0-9+/=]/.test(payload) || payload.length % 4 !== 0) return { ok: false, error: "Incorrect padding" }
  const bytes = Buffer.from(payload, "base64")
  if (!signatures.some((s) => s(bytes))) return { ok: false, error: "cannot identify image file <_io.BytesIO object at 0x10f2c3a60>" }
  return { ok: true, facts: { bytes: bytes.length, sha256: Answer.sha256(bytes) } }
}

const stats = (text: string, seconds: number) => {
  const words = text.split(/\s+/).filter(Boolean).length
  return { tokens: words, duration: Number(seconds.toFixed(3)), tokens_per_sec: Number((words / Math.max(seconds, 0.001)).toFixed(1)) }
}

/** Normalised 0-1 boxes and points derived from the image and the object name. */
const places = (facts: Answer.ImageFacts, object: string, max: number) => {
  const h = Answer.sha256(`${facts.sha256}:${object}`)
  const n = Math.min(max, 1 + (Number.parseInt(h.slice(0, 2), 16) % 3))
  return Array.from({ length: n }, (_, i) => {
    const at = (k: number) => Number.parseInt(h.slice(4 + i * 8 + k * 2, 6 + i * 8 + k * 2), 16) / 255
    const x = 0.05 + at(0) * 0.6
    const y = 0.05 + at(1) * 0.6
    const round = (v: number) => Number(v.toFixed(3))
    return { x_min: round(x), y_min: round(y), x_max: round(x + 0.1 + at(2) * 0.25), y_max: round(y + 0.1 + at(3) * 0.25) }
  })
}

const streamAnswer = async (config: Config, ex: Exchange, tokens: ReadonlyArray<string>): Promise<void> => {
  // The model load happens in the worker before the stream starts; tokens are produced outside it.
  const prepared = await config.worker.submit(async () => undefined, config.timeoutMs)
  if (!prepared.ok) return reply200(ex, prepared.reason === "full" ? { error: "Queue is full", status: "rejected" } : { error: "Request timeout", status: "timeout" })
  if (ex.reply.closed) return
  const started = performance.now()
  ex.reply.head(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache" })
  const r = await Pacer.run(ex.reply, tokens, ex.plan, config.tokenMs, (t) => ex.reply.write(`data: ${py({ chunk: t })}\n\n`))
  // A failure inside the generator aborts the body: no error event, no `completed`.
  if (r.outcome === "error") return ex.reply.destroy()
  if (r.outcome !== "complete") return
  if (r.emitted > 0) ex.reply.write(`data: ${py({ stats: stats(tokens.join(""), (performance.now() - started) / 1000) })}\n\n`)
  ex.reply.end(ex.plan.malformedJson ? `data: {"completed": tr\n\n` : `data: ${py({ completed: true })}\n\n`)
}

/** A non-streamed call: the whole inference runs in the worker, bounded by the wait limit. */
const inWorker = async (config: Config, ex: Exchange, timeoutMs: number, result: () => Record<string, unknown>, text?: string): Promise<void> => {
  const started = performance.now()
  const outcome = await config.worker.submit(async () => {
    await new Promise((r) => setTimeout(r, config.inferMs))
    return result()
  }, timeoutMs)
  if (ex.reply.closed) return
  if (!outcome.ok) return reply200(ex, outcome.reason === "full" ? { error: "Queue is full", status: "rejected" } : { error: "Request timeout", status: "timeout" })
  const r = await Pacer.run(ex.reply, [], ex.plan, 0, () => {})
  if (r.outcome === "cut" || r.outcome === "gone") return
  if (r.outcome === "error") return reply200(ex, { error: ex.plan.errorBody?.message ?? "Inference failed: MPS backend out of memory" })
  const body = text === undefined ? outcome.value : { ...outcome.value, _stats: stats(text, (performance.now() - started) / 1000) }
  return ex.plan.malformedJson ? Send.malformed(ex.reply, body, {}, "application/json") : reply200(ex, body)
}

const call = async (config: Config, ex: Exchange, fn: string, args: Record<string, unknown>): Promise<void> => {
  const timeoutMs = typeof args["timeout"] === "number" ? args["timeout"] * 1000 : config.timeoutMs
  const imageUrl = typeof args["image_url"] === "string" ? args["image_url"] : undefined
  const object = typeof args["object"] === "string" ? args["object"] : typeof args["obj"] === "string" ? args["obj"] : undefined
  const settings = (typeof args["settings"] === "object" && args["settings"] !== null ? args["settings"] : {}) as Record<string, unknown>
  const max = typeof settings["max_objects"] === "number" ? settings["max_objects"] : 50
  const stream = args["stream"] === true

  if (fn === "caption" && imageUrl === undefined) return reply200(ex, { error: "image_url is required" })
  if (fn === "query" && (imageUrl === undefined || typeof args["question"] !== "string")) return reply200(ex, { error: "image_url and question are required" })
  if ((fn === "detect" || fn === "point") && (imageUrl === undefined || object === undefined)) return reply200(ex, { error: "image_url and object are required" })
  const image = decodeImage(imageUrl ?? "")
  if (!image.ok) return reply200(ex, { error: image.error })
  const words = (n: number) => config.tokens ?? n

  if (fn === "caption") {
    const length = typeof args["length"] === "string" ? args["length"] : "normal"
    const count = lengths[length]
    if (count === undefined) return reply200(ex, { error: `Model does not support caption length '${length}'.` })
    const answer = Answer.make({ prompt: `caption:${length}`, images: [image.facts], tokens: words(count) })
    if (stream) return streamAnswer(config, ex, answer.tokens)
    return inWorker(config, ex, timeoutMs, () => ({ caption: answer.text }), answer.text)
  }
  if (fn === "query") {
    const question = String(args["question"])
    const answer = Answer.make({ prompt: question, images: [image.facts], ...(config.tokens !== undefined ? { tokens: config.tokens } : {}) })
    if (stream) return streamAnswer(config, ex, answer.tokens)
    const reasoning = args["reasoning"] === true ? { reasoning: { text: `Looking at the image to answer: ${question}`, grounding: [] } } : {}
    return inWorker(config, ex, timeoutMs, () => ({ answer: answer.text, ...reasoning }), answer.text)
  }
  const boxes = places(image.facts, object ?? "", max)
  if (fn === "detect") return inWorker(config, ex, timeoutMs, () => ({ objects: boxes }))
  const points = boxes.map((b) => ({ x: Number(((b.x_min + b.x_max) / 2).toFixed(3)), y: Number(((b.y_min + b.y_max) / 2).toFixed(3)) }))
  return inWorker(config, ex, timeoutMs, () => ({ points, count: points.length }))
}

/** The function a path names: the segment after `v1`, else the last one. */
const functionName = (path: string): string => {
  const segments = path.split("/").filter(Boolean)
  const v1 = segments.indexOf("v1")
  return (v1 >= 0 ? segments[v1 + 1] : undefined) ?? segments.at(-1) ?? ""
}

export const make = (config: Config): Definition => ({
  sim: "moondream",
  async handle(ex) {
    if (ex.method === "GET" && ex.path === "/health") return reply200(ex, { status: "ok", server: "moondream-station" })
    if (ex.method === "GET" && ex.path === "/v1/models") {
      return reply200(ex, { models: [{ id: config.model, name: "Moondream 3 MLX INT4", description: "Simulated Moondream model", version: "3.0.0" }] })
    }
    if (ex.method === "GET" && ex.path === "/v1/stats") {
      const w = config.worker
      return reply200(ex, {
        workers: 1,
        queue_size: w.queueSize,
        max_queue_size: w.maxQueue,
        processing: w.processing,
        timeouts: w.timeouts,
        default_timeout: config.timeoutMs / 1000,
        model: config.model,
        status: "running",
        requests_processed: w.processed
      })
    }
    // The body only counts when labelled JSON; query parameters override it.
    const labelled = String(ex.req.headers["content-type"] ?? "").includes("application/json")
    const body = labelled && typeof ex.json === "object" && ex.json !== null && !Array.isArray(ex.json) ? (ex.json as Record<string, unknown>) : {}
    const args = { ...body, ...Object.fromEntries(ex.url.searchParams) }
    const fn = functionName(ex.path)
    if (ex.plan.refusedModel) return reply200(ex, { error: `Model '${ex.model ?? ""}' is not available` })
    if (!["caption", "query", "detect", "point"].includes(fn)) return reply200(ex, { error: `Function '${fn}' not available` })
    await call(config, ex, fn, args)
  },
  fail(ex, fault) {
    const detail = fault.message ?? (fault.status === 503 ? "Inference service not running" : "Internal Server Error")
    Send.json(ex.reply, fault.status, { detail }, fault.retryAfter !== undefined ? { "Retry-After": fault.retryAfter } : {}, "application/json")
  },
  state: () => ({ queue: config.worker.queueSize, processing: config.worker.processing, timeouts: config.worker.timeouts })
})
