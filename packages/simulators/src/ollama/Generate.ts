/**
 * `POST /api/chat` and `POST /api/generate`: validation in the real server's order (body,
 * model name, installed?, keep_alive, images, capabilities), the cold load spent before the
 * headers, the preload/unload forms, and the NDJSON stream ending in a `done:true` object
 * with nanosecond metrics. `stream` absent means stream, as on the real server.
 */
import * as Answer from "../Answer.ts"
import type { Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText } from "../Prompt.ts"
import { splitDataUrl } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import * as Decode from "./Decode.ts"
import type { Store } from "./Store.ts"

export interface Context {
  readonly store: Store
  readonly tokens: number | undefined
  readonly tokenMs: number
}

export const ndjson = { "Content-Type": "application/x-ndjson" } as const

export const error = (ex: Exchange, status: number, message: string): void => Send.json(ex.reply, status, { error: message })

/** The midstream error text a runner failure produces. */
export const streamErrorText = "an error was encountered while running the model: unexpected EOF"

const rfc3339 = (): string => new Date().toISOString()

const ns = (ms: number): number => Math.max(1, Math.round(ms * 1e6))

const imagesOf = (kind: "chat" | "generate", b: Record<string, unknown>): ReadonlyArray<unknown> => {
  if (kind === "generate") return Array.isArray(b["images"]) ? b["images"] : []
  if (!Array.isArray(b["messages"])) return []
  return b["messages"].flatMap((m: unknown) => {
    const imgs = (m as { images?: unknown } | null)?.images
    return Array.isArray(imgs) ? imgs : []
  })
}

export const handle = async (ctx: Context, ex: Exchange, kind: "chat" | "generate"): Promise<void> => {
  const decoded = Decode.body(ex)
  if (!decoded.ok) return error(ex, decoded.status, decoded.error)
  const b = decoded.body
  const model = typeof b["model"] === "string" ? b["model"] : ""
  if (model === "") return kind === "chat" ? error(ex, 400, "model is required") : error(ex, 404, "model '' not found")
  if (!Decode.validName(model)) return error(ex, 400, "invalid model name")
  const card = ctx.store.find(model)
  if (card === undefined) return error(ex, 404, `model '${model}' not found`)
  // The scheduler's wording: the model vanished between lookup and load.
  if (ex.plan.refusedModel) return error(ex, 404, `model "${model}" not found, try pulling it first`)
  const keepAlive = Decode.keepAlive(b["keep_alive"])
  if ("error" in keepAlive) return error(ex, 400, keepAlive.error)

  const images: Array<Answer.ImageFacts> = []
  for (const img of imagesOf(kind, b)) {
    if (typeof img !== "string") return error(ex, 400, "json: cannot unmarshal number into Go struct field .images of type []uint8")
    const bad = Decode.base64Error(img)
    if (bad !== undefined) return error(ex, 400, bad)
    const bytes = Buffer.from(splitDataUrl(img).payload, "base64")
    images.push({ bytes: bytes.length, sha256: Answer.sha256(bytes) })
  }
  if (b["think"] !== undefined && b["think"] !== false && !card.capabilities.includes("thinking")) {
    return error(ex, 400, `"${model}" does not support thinking`)
  }
  if (kind === "chat" && Array.isArray(b["tools"]) && b["tools"].length > 0 && !card.capabilities.includes("tools")) {
    return error(ex, 400, `${model} does not support tools`)
  }

  const stream = b["stream"] !== false
  const started = performance.now()
  const loadMs = await ctx.store.load(card)
  if (ex.reply.closed) return

  const chunk = (content: string, done: boolean) =>
    kind === "chat"
      ? { model, created_at: rfc3339(), message: { role: "assistant", content }, done }
      : { model, created_at: rfc3339(), response: content, done }

  const empty = kind === "generate" ? typeof b["prompt"] !== "string" || b["prompt"] === "" : !Array.isArray(b["messages"]) || b["messages"].length === 0
  if (empty) {
    const unload = keepAlive.ms === 0
    if (unload) ctx.store.unload(card)
    else ctx.store.touch(card, keepAlive.ms)
    const body = { ...chunk("", true), done_reason: unload ? "unload" : "load" }
    if (!stream) return Send.json(ex.reply, 200, body)
    ex.reply.head(200, ndjson)
    return ex.reply.end(`${JSON.stringify(body)}\n`)
  }

  const prompt = kind === "generate" ? String(b["prompt"]) : lastUserText(b["messages"])
  const options = (typeof b["options"] === "object" && b["options"] !== null ? b["options"] : {}) as Record<string, unknown>
  const numPredict = options["num_predict"]
  const limit = typeof numPredict === "number" && numPredict >= 0 ? numPredict : undefined
  const answer = Answer.make({ prompt, images, ...(ctx.tokens !== undefined ? { tokens: ctx.tokens } : {}), ...(limit !== undefined ? { limit } : {}) })
  const promptCount = Answer.promptTokens(prompt) + images.length * 576

  const evalStarted = performance.now()
  const metrics = (evalCount: number) => ({
    done_reason: answer.finish,
    ...(kind === "generate" && b["raw"] !== true ? { context: Array.from({ length: promptCount + evalCount }, (_, i) => 1000 + ((i * 7919) % 30000)) } : {}),
    total_duration: ns(performance.now() - started),
    load_duration: ns(loadMs),
    prompt_eval_count: promptCount,
    prompt_eval_duration: ns(promptCount * 0.5),
    eval_count: evalCount,
    eval_duration: ns(performance.now() - evalStarted)
  })

  const plan = ex.plan
  if (stream) {
    ex.reply.head(200, ndjson)
    const r = await Pacer.run(ex.reply, answer.tokens, plan, ctx.tokenMs, (t) => ex.reply.write(`${JSON.stringify(chunk(t, false))}\n`))
    if (r.outcome === "complete") {
      const last = { ...chunk("", true), ...metrics(r.emitted) }
      ex.reply.end(plan.malformedJson ? `${Send.halfLine(last)}\n` : `${JSON.stringify(last)}\n`)
    } else if (r.outcome === "error") {
      ex.reply.end(`${JSON.stringify({ error: plan.errorBody?.message ?? streamErrorText })}\n`)
    }
  } else {
    const r = await Pacer.run(ex.reply, answer.tokens, plan, ctx.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    if (r.outcome === "error") return Send.json(ex.reply, 200, { error: plan.errorBody?.message ?? streamErrorText })
    const whole = { ...chunk(answer.text, true), ...metrics(r.emitted) }
    if (plan.malformedJson) Send.malformed(ex.reply, whole)
    else Send.json(ex.reply, 200, whole)
  }
  ctx.store.touch(card, keepAlive.ms)
}
