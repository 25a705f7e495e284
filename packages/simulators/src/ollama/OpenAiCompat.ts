/**
 * Ollama's OpenAI-compatible surface: `POST /v1/chat/completions` and `GET /v1/models`.
 * Shapes follow Ollama's converter, not OpenAI itself: `system_fingerprint: "fp_ollama"`,
 * a small non-unique id, a separate empty-delta finish chunk, `data: null` for no models,
 * errors typed by status, and a mid-stream failure that simply ends the stream.
 * Agent features go through the native planner: `response_format` becomes `format`,
 * `reasoning_effort` becomes `think`, reasoning comes out as `reasoning`, and each tool call
 * arrives whole in one chunk (arguments as a JSON string).
 */
import type * as Agent from "../Agent.ts"
import * as Answer from "../Answer.ts"
import type { Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText } from "../Prompt.ts"
import { findImages } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import * as Sse from "../Sse.ts"
import * as Vectors from "../Vectors.ts"
import * as Decode from "./Decode.ts"
import { type Context, planAnswer, type Step } from "./Generate.ts"
import * as Inventory from "./Inventory.ts"
import { fullName } from "./Store.ts"

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

/** openai.go `thinkFromReasoningEffort`. */
const thinkFrom = (b: Record<string, unknown>): { think: boolean | string | undefined } | { error: string } => {
  const reasoning = b["reasoning"] as { effort?: unknown } | null | undefined
  const effort = typeof reasoning === "object" && reasoning !== null ? reasoning.effort : b["reasoning_effort"]
  if (effort === undefined || effort === null || effort === "") return { think: undefined }
  const e = String(effort)
  if (e === "none") return { think: false }
  if (e === "minimal") return { think: "low" }
  if (["low", "medium", "high", "max"].includes(e)) return { think: e }
  if (e === "xhigh" || e === "ultra") return { think: "max" }
  return { error: `invalid reasoning value: ${JSON.stringify(e)} (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")` }
}

const formatFrom = (rf: unknown): Agent.Format | undefined => {
  const r = rf as { type?: unknown; json_schema?: { schema?: unknown } } | null | undefined
  if (typeof r !== "object" || r === null) return undefined
  const type = String(r.type ?? "").trim().toLowerCase()
  if (type === "json_object") return { kind: "json" }
  if (type === "json_schema" && r.json_schema?.schema !== undefined) return { kind: "schema", schema: r.json_schema.schema }
  return undefined
}

const badArguments = (messages: ReadonlyArray<unknown>): boolean =>
  messages.some((m) => {
    const calls = (m as { tool_calls?: unknown } | null)?.tool_calls
    return (
      Array.isArray(calls) &&
      calls.some((c) => {
        const a = (c as { function?: { arguments?: unknown } } | null)?.function?.arguments
        if (typeof a !== "string") return true
        try {
          JSON.parse(a)
          return false
        } catch {
          return true
        }
      })
    )
  })

const openAiCall = (step: Extract<Step, { kind: "call" }>) => ({
  id: step.call.id,
  index: step.call.function.index,
  type: "function",
  function: { name: step.call.function.name, arguments: JSON.stringify(step.call.function.arguments) }
})

export const chat = async (ctx: Context, ex: Exchange): Promise<void> => {
  const decoded = Decode.body(ex)
  if (!decoded.ok) return error(ex, decoded.status, decoded.error)
  const b = decoded.body
  const messages = Array.isArray(b["messages"]) ? b["messages"] : []
  if (messages.length === 0) return error(ex, 400, "[] is too short - 'messages'")
  if (badArguments(messages)) return error(ex, 400, "invalid tool call arguments")
  const think = thinkFrom(b)
  if ("error" in think) return error(ex, 400, think.error)
  const model = typeof b["model"] === "string" ? b["model"] : ""
  const card = ctx.store.find(model)
  if (card === undefined) return error(ex, 404, `model '${model}' not found`)
  if (ex.plan.refusedModel) return error(ex, 404, `model "${model}" not found, try pulling it first`)
  const bad = imageProblem(messages)
  if (bad !== undefined) return error(ex, 400, bad)
  const canThink = card.capabilities.includes("thinking")
  if (!canThink && think.think !== undefined && think.think !== false) return error(ex, 400, `"${model}" does not support thinking`)
  if (!card.capabilities.includes("completion")) return error(ex, 400, `"${model}" does not support chat`)
  if (Array.isArray(b["tools"]) && b["tools"].length > 0 && !card.capabilities.includes("tools")) return error(ex, 400, `${fullName(model)} does not support tools`)

  const images = findImages(messages).map((i) => ({ bytes: i.bytes, sha256: i.sha256 }))
  const limit = typeof b["max_tokens"] === "number" ? b["max_tokens"] : undefined
  const native = { messages, tools: b["tools"], ...(limit !== undefined ? { options: { num_predict: limit } } : {}) }
  const answer = planAnswer(ctx, "chat", native, { thinks: canThink && think.think !== false, format: formatFrom(b["response_format"]), images })
  const prompt = answer.prompt
  await ctx.store.load(card)
  if (ex.reply.closed) return

  const id = `chatcmpl-${Math.floor(Math.random() * 999)}`
  const created = Math.floor(Date.now() / 1000)
  const base = { id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_ollama" }
  const usage = (completion: number) => {
    const p = Answer.promptTokens(prompt) + images.length * 576
    return { prompt_tokens: p, completion_tokens: completion, total_tokens: p + completion }
  }
  const hasCalls = answer.steps.some((s) => s.kind === "call")
  // ToChatCompletion: "stop" with tool calls becomes "tool_calls".
  const finishReason = hasCalls && answer.finish === "stop" ? "tool_calls" : answer.finish
  const delta = (step: Step) =>
    step.kind === "thinking"
      ? { role: "assistant", content: "", reasoning: step.text }
      : step.kind === "call"
        ? { role: "assistant", content: "", tool_calls: [openAiCall(step)] }
        : { role: "assistant", content: step.text }
  const plan = ex.plan

  if (b["stream"] === true) {
    ex.reply.head(200, Sse.headers)
    const r = await Pacer.run(ex.reply, answer.steps, plan, ctx.tokenMs, (step) =>
      ex.reply.write(Sse.data({ ...base, choices: [{ index: 0, delta: delta(step), finish_reason: null }] }))
    )
    // Ollama's converter cannot express a mid-stream error: the stream just ends.
    if (r.outcome === "error") return ex.reply.end()
    if (r.outcome !== "complete") return
    const finish = { ...base, choices: [{ index: 0, delta: {}, finish_reason: finishReason }] }
    ex.reply.write(plan.malformedJson ? `data: ${Send.halfLine(finish)}\n\n` : Sse.data(finish))
    const opts = b["stream_options"] as { include_usage?: unknown } | undefined
    if (opts?.include_usage === true) ex.reply.write(Sse.data({ ...base, choices: [], usage: usage(r.emitted) }))
    ex.reply.end(Sse.done)
  } else {
    const r = await Pacer.run(ex.reply, answer.steps, plan, ctx.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    if (r.outcome === "error") return error(ex, 500, plan.errorBody?.message ?? "an error was encountered while running the model")
    const text = (k: "thinking" | "content") => answer.steps.flatMap((s) => (s.kind === k ? [s.text] : [])).join("")
    const calls = answer.steps.flatMap((s) => (s.kind === "call" ? [openAiCall(s)] : []))
    const reasoning = text("thinking")
    const body = {
      id,
      object: "chat.completion",
      created,
      model,
      system_fingerprint: "fp_ollama",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: text("content"), ...(reasoning !== "" ? { reasoning } : {}), ...(calls.length > 0 ? { tool_calls: calls } : {}) },
          finish_reason: finishReason
        }
      ],
      usage: usage(r.emitted)
    }
    if (plan.malformedJson) Send.malformed(ex.reply, body)
    else Send.json(ex.reply, 200, body)
  }
  ctx.store.touch(card, undefined)
}

/** `/v1/embeddings` (EmbeddingsMiddleware): input string or strings, encoding_format, dimensions. */
export const embeddings = async (ctx: Context, ex: Exchange): Promise<void> => {
  const decoded = Decode.body(ex)
  if (!decoded.ok) return error(ex, decoded.status, decoded.error)
  const b = decoded.body
  const enc = b["encoding_format"] === undefined || b["encoding_format"] === "" ? "float" : String(b["encoding_format"]).toLowerCase()
  if (enc !== "float" && enc !== "base64") return error(ex, 400, `Invalid value for 'encoding_format' = ${String(b["encoding_format"])}. Supported values: ['float', 'base64'].`)
  const input = b["input"]
  const inputs = typeof input === "string" ? [input] : Array.isArray(input) && input.every((i) => typeof i === "string") ? (input as Array<string>) : undefined
  if (inputs === undefined || inputs.length === 0) return error(ex, 400, "invalid input")
  const model = typeof b["model"] === "string" ? b["model"] : ""
  const card = ctx.store.find(model)
  if (card === undefined || ex.plan.refusedModel) return error(ex, 404, `model '${model}' not found`)
  await ctx.store.load(card)
  if (ex.reply.closed) return
  ctx.store.touch(card, undefined)
  if (!card.capabilities.includes("embedding")) return error(ex, 501, Inventory.notAnEmbedder)
  const dims = typeof b["dimensions"] === "number" ? b["dimensions"] : undefined
  const count = inputs.reduce((n, t) => n + Answer.promptTokens(t), 0)
  Send.json(ex.reply, 200, {
    object: "list",
    data: inputs.map((t, index) => {
      const v = Inventory.embedding(card, t, dims)
      return { object: "embedding", embedding: enc === "base64" ? Vectors.base64(v) : v, index }
    }),
    model,
    usage: { prompt_tokens: count, total_tokens: count }
  })
}
