/**
 * `POST /api/chat` and `POST /api/generate`: validation in the real server's order (body,
 * model name, installed?, keep_alive, images, capabilities), the cold load spent before the
 * headers, the preload/unload forms, and the NDJSON stream ending in a `done:true` object
 * with nanosecond metrics. `stream` absent means stream, as on the real server.
 *
 * Agent features (README, "Agent features"): tool calls sent whole, one NDJSON line each,
 * before the done line (the rendered path); `format` answered with matching JSON; thinking
 * models think unless `think:false`, thinking chunks first.
 */
import * as Agent from "../Agent.ts"
import * as Answer from "../Answer.ts"
import type { Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText } from "../Prompt.ts"
import { splitDataUrl } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import * as Decode from "./Decode.ts"
import { fullName, type Store } from "./Store.ts"
import { randomBytes } from "node:crypto"

export interface Context {
  readonly store: Store
  readonly tokens: number | undefined
  readonly tokenMs: number
  /**
   * The native path (a GGUF model on the embedded llama-server): tool calls arrive all at once
   * on the final `done:true` line, with llama-server's 32-character ids.
   */
  readonly toolCallsOnDone?: boolean
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

/** `call_` + 8 of [a-z0-9], new for each call, as routes.go `toolCallId`. */
export const toolCallId = (): string => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
  return `call_${[...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join("")}`
}

/** llama-server's gen_tool_call_id, copied through unchanged on the native path. */
const nativeToolCallId = (): string => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  return [...randomBytes(32)].map((b) => alphabet[b % alphabet.length]).join("")
}

/** One streamed piece of an answer: a thinking word, a content token, or a whole tool call. */
export type Step =
  | { readonly kind: "thinking"; readonly text: string }
  | { readonly kind: "content"; readonly text: string }
  | { readonly kind: "call"; readonly call: { id: string; function: { index: number; name: string; arguments: Record<string, unknown> } } }

export interface Outline {
  readonly steps: ReadonlyArray<Step>
  readonly finish: "stop" | "length"
  readonly prompt: string
  readonly images: number
}

/**
 * Decides what the model "generates" for an already-validated chat or generate body: the
 * steps to stream, in the order Ollama sends them (thinking, then content or tool calls).
 */
export const planAnswer = (
  ctx: Context,
  kind: "chat" | "generate",
  b: Record<string, unknown>,
  options: { thinks: boolean; format: Agent.Format | undefined; images: ReadonlyArray<Answer.ImageFacts> }
): Outline => {
  const prompt = kind === "generate" ? String(b["prompt"]) : lastUserText(b["messages"])
  const opts = (typeof b["options"] === "object" && b["options"] !== null ? b["options"] : {}) as Record<string, unknown>
  const numPredict = opts["num_predict"]
  const limit = typeof numPredict === "number" && numPredict >= 0 ? numPredict : undefined
  const answer = Answer.make({ prompt, images: options.images, ...(ctx.tokens !== undefined ? { tokens: ctx.tokens } : {}), ...(limit !== undefined ? { limit } : {}) })
  // Ollama has no tool_choice and no switch for parallel calls.
  const turn =
    kind === "chat"
      ? Agent.decide({
          tools: Agent.functionTools(b["tools"]),
          prompt,
          results: Agent.trailingToolResults(b["messages"]),
          choice: { kind: "auto" },
          parallel: true,
          answer,
          limit
        })
      : ({ kind: "text", answer } as const)
  const thinking: Array<Step> = options.thinks ? Agent.thinking(prompt).map((text) => ({ kind: "thinking", text })) : []
  if (turn.kind === "calls") {
    const id = ctx.toolCallsOnDone === true ? nativeToolCallId : toolCallId
    const calls: Array<Step> = turn.calls.map((c, index) => ({ kind: "call", call: { id: id(), function: { index, name: c.name, arguments: c.arguments } } }))
    return { steps: [...thinking, ...calls], finish: "stop", prompt, images: options.images.length }
  }
  const text = options.format !== undefined ? Agent.structuredAnswer(options.format, prompt, turn.answer.text) : turn.answer
  return { steps: [...thinking, ...text.tokens.map((t): Step => ({ kind: "content", text: t }))], finish: text.finish, prompt, images: options.images.length }
}

export const handle = async (ctx: Context, ex: Exchange, kind: "chat" | "generate"): Promise<void> => {
  const decoded = Decode.body(ex)
  if (!decoded.ok) return error(ex, decoded.status, decoded.error)
  const b = decoded.body
  const think = Decode.think(b["think"])
  if ("error" in think) return error(ex, 400, think.error)
  if (kind === "chat") {
    const bad = Decode.toolCallArgumentsError(b["messages"])
    if (bad !== undefined) return error(ex, 400, bad)
  }
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
  // routes.go: a thinking model thinks unless told not to; asking a non-thinking model is a 400.
  const canThink = card.capabilities.includes("thinking")
  if (!canThink && think.think !== undefined && think.think !== false) return error(ex, 400, `"${model}" does not support thinking`)
  const thinks = canThink && think.think !== false
  // scheduleRunner's CheckCapabilities: completion first (its own message), then the rest.
  if (!card.capabilities.includes("completion")) return error(ex, 400, `"${model}" does not support ${kind}`)
  if (kind === "chat" && Array.isArray(b["tools"]) && b["tools"].length > 0 && !card.capabilities.includes("tools")) {
    return error(ex, 400, `${fullName(model)} does not support tools`)
  }

  const stream = b["stream"] !== false
  const started = performance.now()
  const loadMs = await ctx.store.load(card)
  if (ex.reply.closed) return

  const base = () => ({ model, created_at: rfc3339() })
  const chunk = (content: string, done: boolean) =>
    kind === "chat" ? { ...base(), message: { role: "assistant", content }, done } : { ...base(), response: content, done }

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

  // The runner rejects a bad format when the completion starts, after the load.
  const format = Decode.format(b["format"])
  if ("error" in format) return error(ex, 500, format.error)

  const answer = planAnswer(ctx, kind, b, { thinks, format: format.format, images })
  const promptCount = Answer.promptTokens(answer.prompt) + images.length * 576

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

  /** One step as the streamed object: `thinking` and `tool_calls` only when present. */
  const stepChunk = (step: Step) => {
    if (kind === "generate") return step.kind === "thinking" ? { ...base(), response: "", thinking: step.text, done: false } : chunk(step.kind === "content" ? step.text : "", false)
    if (step.kind === "thinking") return { ...base(), message: { role: "assistant", content: "", thinking: step.text }, done: false }
    if (step.kind === "call") return { ...base(), message: { role: "assistant", content: "", tool_calls: [step.call] }, done: false }
    return chunk(step.text, false)
  }

  const plan = ex.plan
  if (stream) {
    ex.reply.head(200, ndjson)
    // The native path holds the calls back for the done line; the rendered path streams each whole.
    const onDone = ctx.toolCallsOnDone === true && kind === "chat"
    const streamedSteps = onDone ? answer.steps.filter((s) => s.kind !== "call") : answer.steps
    const held = onDone ? answer.steps.flatMap((s) => (s.kind === "call" ? [s.call] : [])) : []
    const r = await Pacer.run(ex.reply, streamedSteps, plan, ctx.tokenMs, (step) => ex.reply.write(`${JSON.stringify(stepChunk(step))}\n`))
    if (r.outcome === "complete") {
      const done = chunk("", true)
      const last = { ...done, ...(held.length > 0 ? { message: { role: "assistant", content: "", tool_calls: held } } : {}), ...metrics(r.emitted) }
      ex.reply.end(plan.malformedJson ? `${Send.halfLine(last)}\n` : `${JSON.stringify(last)}\n`)
    } else if (r.outcome === "error") {
      ex.reply.end(`${JSON.stringify({ error: plan.errorBody?.message ?? streamErrorText })}\n`)
    }
  } else {
    const r = await Pacer.run(ex.reply, answer.steps, plan, ctx.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    if (r.outcome === "error") return Send.json(ex.reply, 200, { error: plan.errorBody?.message ?? streamErrorText })
    // writeChatResponse: the chunks' content and thinking joined, their tool_calls concatenated.
    const joined = (k: "thinking" | "content") => answer.steps.flatMap((s) => (s.kind === k ? [s.text] : [])).join("")
    const calls = answer.steps.flatMap((s) => (s.kind === "call" ? [s.call] : []))
    const thinking = joined("thinking")
    const whole =
      kind === "chat"
        ? {
            ...base(),
            message: { role: "assistant", content: joined("content"), ...(thinking !== "" ? { thinking } : {}), ...(calls.length > 0 ? { tool_calls: calls } : {}) },
            done: true,
            ...metrics(r.emitted)
          }
        : { ...base(), response: joined("content"), ...(thinking !== "" ? { thinking } : {}), done: true, ...metrics(r.emitted) }
    if (plan.malformedJson) Send.malformed(ex.reply, whole)
    else Send.json(ex.reply, 200, whole)
  }
  ctx.store.touch(card, keepAlive.ms)
}
