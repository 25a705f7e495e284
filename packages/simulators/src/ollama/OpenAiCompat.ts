/**
 * Ollama's OpenAI-compatible surface: `POST /v1/chat/completions` and `GET /v1/models`.
 * Shapes follow Ollama's converter, not OpenAI itself: `system_fingerprint: "fp_ollama"`,
 * a small non-unique id, a separate empty-delta finish chunk, `data: null` for no models,
 * errors typed by status, and a mid-stream failure that simply ends the stream.
 */
import * as Answer from "../Answer.ts"
import type { Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText } from "../Prompt.ts"
import { findImages } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import * as Sse from "../Sse.ts"
import * as Decode from "./Decode.ts"
import type { Context } from "./Generate.ts"

const typeFor = (status: number): string => (status === 400 ? "invalid_request_error" : status === 404 ? "not_found_error" : "api_error")

export const error = (ex: Exchange, status: number, message: string, headers: Send.Headers = {}): void =>
  Send.json(ex.reply, status, { error: { message, type: typeFor(status), param: null, code: null } }, headers)

const imageProblem = (messages: ReadonlyArray<unknown>): string | undefined => {
  for (const m of messages) {
    const content = (m as { content?: unknown } | null)?.content
    if (!Array.isArray(content)) continue
    for (const p of content as ReadonlyArray<{ type?: unknown; image_url?: unknown }>) {
      if (p?.type !== "image_url") continue
      const url = typeof p.image_url === "string" ? p.image_url : String((p.image_url as { url?: unknown } | null)?.url ?? "")
      if (/^https?:\/\//.test(url)) return "image URLs are not currently supported, please use base64 encoded data instead"
      if (!/^data:(image\/(jpeg|jpg|png|webp))?;base64,/.test(url)) return "invalid image input"
    }
  }
  return undefined
}

export const models = (ctx: Context, ex: Exchange): void => {
  const list = ctx.store.list()
  Send.json(ex.reply, 200, {
    object: "list",
    // Ollama marshals an empty Go slice as null here.
    data:
      list.length === 0
        ? null
        : list.map((c) => ({ id: c.name, object: "model", created: Math.floor(c.modifiedAt.getTime() / 1000), owned_by: "library" }))
  })
}

export const chat = async (ctx: Context, ex: Exchange): Promise<void> => {
  const decoded = Decode.body(ex)
  if (!decoded.ok) return error(ex, decoded.status, decoded.error)
  const b = decoded.body
  const messages = Array.isArray(b["messages"]) ? b["messages"] : []
  if (messages.length === 0) return error(ex, 400, "[] is too short - 'messages'")
  const model = typeof b["model"] === "string" ? b["model"] : ""
  const card = ctx.store.find(model)
  if (card === undefined) return error(ex, 404, `model '${model}' not found`)
  if (ex.plan.refusedModel) return error(ex, 404, `model "${model}" not found, try pulling it first`)
  const bad = imageProblem(messages)
  if (bad !== undefined) return error(ex, 400, bad)

  const images = findImages(messages).map((i) => ({ bytes: i.bytes, sha256: i.sha256 }))
  const limit = typeof b["max_tokens"] === "number" ? b["max_tokens"] : undefined
  const prompt = lastUserText(messages)
  const answer = Answer.make({ prompt, images, ...(ctx.tokens !== undefined ? { tokens: ctx.tokens } : {}), ...(limit !== undefined ? { limit } : {}) })
  await ctx.store.load(card)
  if (ex.reply.closed) return

  const id = `chatcmpl-${Math.floor(Math.random() * 999)}`
  const created = Math.floor(Date.now() / 1000)
  const base = { id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_ollama" }
  const usage = (completion: number) => {
    const p = Answer.promptTokens(prompt) + images.length * 576
    return { prompt_tokens: p, completion_tokens: completion, total_tokens: p + completion }
  }
  const plan = ex.plan

  if (b["stream"] === true) {
    ex.reply.head(200, Sse.headers)
    const r = await Pacer.run(ex.reply, answer.tokens, plan, ctx.tokenMs, (t) =>
      ex.reply.write(Sse.data({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: t }, finish_reason: null }] }))
    )
    // Ollama's converter cannot express a mid-stream error: the stream just ends.
    if (r.outcome === "error") return ex.reply.end()
    if (r.outcome !== "complete") return
    const finish = { ...base, choices: [{ index: 0, delta: {}, finish_reason: answer.finish }] }
    ex.reply.write(plan.malformedJson ? `data: ${Send.halfLine(finish)}\n\n` : Sse.data(finish))
    const opts = b["stream_options"] as { include_usage?: unknown } | undefined
    if (opts?.include_usage === true) ex.reply.write(Sse.data({ ...base, choices: [], usage: usage(r.emitted) }))
    ex.reply.end(Sse.done)
  } else {
    const r = await Pacer.run(ex.reply, answer.tokens, plan, ctx.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    if (r.outcome === "error") return error(ex, 500, plan.errorBody?.message ?? "an error was encountered while running the model")
    const body = {
      id,
      object: "chat.completion",
      created,
      model,
      system_fingerprint: "fp_ollama",
      choices: [{ index: 0, message: { role: "assistant", content: answer.text }, finish_reason: answer.finish }],
      usage: usage(r.emitted)
    }
    if (plan.malformedJson) Send.malformed(ex.reply, body)
    else Send.json(ex.reply, 200, body)
  }
  ctx.store.touch(card, undefined)
}
