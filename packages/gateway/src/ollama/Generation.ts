/**
 * `POST /api/chat` and `POST /api/generate` as Ollama defines them. The two differ only in
 * where text goes (`message.content` or `response`) and how the prompt is given, so one
 * module reads both into a router request and writes both back.
 *
 * - `stream` defaults to true, as on Ollama (its npm client always sends it explicitly).
 * - Streaming is NDJSON, one object per token, then a `done:true` object with `done_reason`
 *   and nanosecond durations; metric keys that would be zero are left out, as Ollama does.
 * - A failure after the first token is an `{"error":"..."}` line and the body ends without
 *   `done:true`: the `ollama` client throws on it.
 * - An empty prompt (or no messages) is Ollama's "load the model" call: it is answered at
 *   once with `done_reason:"load"`, since the router loads nothing ahead of time.
 */
import type { Backend, Router } from "@local-router/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import * as ApiError from "../ApiError.ts"
import * as Catalog from "../Catalog.ts"
import * as Exchange from "../Exchange.ts"
import * as Handler from "../Handler.ts"
import * as ImageInput from "../ImageInput.ts"
import * as AgentFields from "./AgentFields.ts"
import * as OllamaError from "./OllamaError.ts"

export type Kind = "chat" | "generate"

export interface Decoded {
  readonly model: string
  readonly stream: boolean
  /** An empty prompt: answer the load call without routing. */
  readonly load: boolean
  readonly request: Router.Request
}

const images = (raw: unknown, at: string): Result.Result<ReadonlyArray<Backend.Image> | undefined, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (!Array.isArray(raw)) return Result.fail(ApiError.invalid(`${at} must be an array of base64 strings`))
  const out: Array<Backend.Image> = []
  for (let i = 0; i < raw.length; i++) {
    const value = raw[i]
    if (typeof value !== "string") return Result.fail(ApiError.invalid(`${at}[${i}] must be a base64 string`))
    const image = ImageInput.fromBase64(value)
    if (Result.isFailure(image)) return Result.fail(ApiError.invalid(`${at}[${i}]: ${image.failure}`))
    out.push(image.success)
  }
  return Result.succeed(out.length > 0 ? out : undefined)
}

const options = (raw: unknown): Result.Result<Backend.Options, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed({})
  if (typeof raw !== "object") return Result.fail(ApiError.invalid("options must be an object"))
  const o = raw as Record<string, unknown>
  const out: { -readonly [K in keyof Backend.Options]: Backend.Options[K] } = {}
  for (const [key, field] of [["temperature", "temperature"], ["top_p", "topP"], ["seed", "seed"], ["num_predict", "maxTokens"]] as const) {
    const value = o[key]
    if (value === undefined || value === null) continue
    if (typeof value !== "number" || !Number.isFinite(value)) return Result.fail(ApiError.invalid(`options.${key} must be a number`))
    // num_predict -1 (or -2) means "no limit" on Ollama.
    if (field === "maxTokens" && value < 0) continue
    out[field] = value
  }
  if (Array.isArray(o.stop) && o.stop.every((s) => typeof s === "string")) out.stop = o.stop as Array<string>
  else if (o.stop !== undefined && o.stop !== null) return Result.fail(ApiError.invalid("options.stop must be an array of strings"))
  return Result.succeed(out)
}

const roles: Record<string, Backend.Message["role"]> = { system: "system", user: "user", assistant: "assistant", tool: "tool" }

const messages = (raw: unknown): Result.Result<ReadonlyArray<Backend.Message>, ApiError.ApiError> => {
  if (raw === undefined || raw === null) return Result.succeed([])
  if (!Array.isArray(raw)) return Result.fail(ApiError.invalid("messages must be an array"))
  const read: Array<AgentFields.Read> = []
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i] as Record<string, unknown> | null
    const role = typeof m?.role === "string" ? roles[m.role] : undefined
    if (role === undefined) return Result.fail(ApiError.invalid(`messages[${i}].role must be system, user, assistant or tool`))
    const content = m?.content ?? ""
    if (typeof content !== "string") return Result.fail(ApiError.invalid(`messages[${i}].content must be a string`))
    const imgs = images(m?.images, `messages[${i}].images`)
    if (Result.isFailure(imgs)) return Result.fail(imgs.failure)
    const message: Backend.Message = imgs.success ? { role, content, images: imgs.success } : { role, content }
    if (role === "tool") {
      // Ollama names a result's tool `tool_name`; older clients and its /v1 layer say `name`.
      const name = typeof m?.tool_name === "string" && m.tool_name !== "" ? m.tool_name : typeof m?.name === "string" && m.name !== "" ? m.name : undefined
      const callId = typeof m?.tool_call_id === "string" && m.tool_call_id !== "" ? m.tool_call_id : undefined
      read.push({ message: name === undefined ? message : { ...message, toolName: name }, ...(callId === undefined ? {} : { callId }) })
      continue
    }
    if (role !== "assistant") {
      read.push({ message })
      continue
    }
    const calls = AgentFields.toolCalls(m?.tool_calls, `messages[${i}].tool_calls`)
    if (Result.isFailure(calls)) return Result.fail(calls.failure)
    const thinking = typeof m?.thinking === "string" && m.thinking !== "" ? m.thinking : undefined
    read.push({ message: thinking === undefined ? message : { ...message, reasoning: thinking }, ...(calls.success ? { calls: calls.success } : {}) })
  }
  return Result.succeed(AgentFields.link(read))
}

export const decode = (kind: Kind, body: Record<string, unknown>, snapshot: Router.Snapshot): Result.Result<Decoded, ApiError.ApiError> => {
  const model = body.model
  if (typeof model !== "string" || model === "") return Result.fail(ApiError.invalid("model is required"))
  const opts = options(body.options)
  if (Result.isFailure(opts)) return Result.fail(opts.failure)
  const format = AgentFields.format(body.format)
  if (Result.isFailure(format)) return Result.fail(format.failure)
  const think = AgentFields.think(body.think)
  if (Result.isFailure(think)) return Result.fail(think.failure)
  // /api/generate has no tools on Ollama; only /api/chat reads them.
  const tools = kind === "chat" ? AgentFields.tools(body.tools) : Result.succeed(undefined)
  if (Result.isFailure(tools)) return Result.fail(tools.failure)
  const agent = {
    ...(tools.success ? { tools: tools.success } : {}),
    ...(format.success ? { responseFormat: format.success } : {}),
    ...(think.success ? { reasoning: think.success } : {})
  }
  const target = Catalog.resolve(snapshot, model)
  const stream = body.stream !== false
  if (kind === "chat") {
    const list = messages(body.messages)
    if (Result.isFailure(list)) return Result.fail(list.failure)
    return Result.succeed({ model, stream, load: list.success.length === 0, request: { ...target, messages: list.success, options: opts.success, ...agent } })
  }
  const prompt = body.prompt ?? ""
  if (typeof prompt !== "string") return Result.fail(ApiError.invalid("prompt must be a string"))
  const system = typeof body.system === "string" && body.system !== "" ? body.system : undefined
  const imgs = images(body.images, "images")
  if (Result.isFailure(imgs)) return Result.fail(imgs.failure)
  const user: Backend.Message = imgs.success ? { role: "user", content: prompt, images: imgs.success } : { role: "user", content: prompt }
  return Result.succeed({
    model,
    stream,
    load: prompt === "" && imgs.success === undefined,
    request: { ...target, system, messages: [user], options: opts.success, ...agent }
  })
}

const doneReason = (reason: Backend.FinishReason) => (reason === "length" ? "length" : "stop")

/** Ollama's final metrics: nanoseconds, and absent when zero. */
const metrics = (usage: Backend.Usage, durationMs: number) => ({
  ...(durationMs > 0 ? { total_duration: Math.round(durationMs * 1e6) } : {}),
  ...(usage.inputTokens ? { prompt_eval_count: usage.inputTokens } : {}),
  ...(usage.outputTokens ? { eval_count: usage.outputTokens } : {})
})

const text = (kind: Kind, content: string) =>
  kind === "chat" ? { message: { role: "assistant", content } } : { response: content }

/** A call as Ollama writes it: arguments as an object, `index` inside `function`. */
const callOf = (call: Backend.ToolCall, index: number, args: Readonly<Record<string, unknown>>) => ({
  id: call.id,
  function: { index, name: call.name, arguments: args }
})

/** A call's arguments as the object Ollama sends, or undefined when they are not a JSON object. */
const argumentsOf = (text: string): Readonly<Record<string, unknown>> | undefined => {
  if (text.trim() === "") return {}
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/**
 * Ollama's clients read a call's arguments as an object; a model that wrote something else
 * (broken JSON) cannot be said in this dialect, so the answer fails explicitly rather than
 * handing the agent a string where its code expects an object, or an empty object that hides
 * the fault.
 */
const brokenCall = (backend: string, call: Backend.ToolCall) =>
  new ApiError.ApiError({
    reason: "AllFailed",
    message: `${backend}'s tool call ${call.name} has arguments that are not a JSON object: ${
      call.arguments.length > 200 ? `${call.arguments.slice(0, 200)}...` : call.arguments
    }`
  })

/** What the answer says besides its text: thinking, and (chat) the calls; or why a call cannot be sent. */
const answerOf = (kind: Kind, answer: Router.Answer) => {
  if (kind === "generate") return { response: answer.text, ...(answer.reasoning ? { thinking: answer.reasoning } : {}) }
  const calls: Array<ReturnType<typeof callOf>> = []
  for (const [index, call] of answer.toolCalls.entries()) {
    const args = argumentsOf(call.arguments)
    if (args === undefined) return brokenCall(answer.backend, call)
    calls.push(callOf(call, index, args))
  }
  return {
    message: {
      role: "assistant",
      content: answer.text,
      ...(answer.reasoning ? { thinking: answer.reasoning } : {}),
      ...(calls.length > 0 ? { tool_calls: calls } : {})
    }
  }
}

export const render = (kind: Kind, model: string) => (answer: Router.Answer): string | ApiError.ApiError => {
  const said = answerOf(kind, answer)
  if (said instanceof ApiError.ApiError) return said
  return JSON.stringify({
    model,
    created_at: new Date().toISOString(),
    ...said,
    done: true,
    done_reason: doneReason(answer.finishReason),
    ...metrics(answer.usage, answer.trace.durationMs)
  })
}

export const loaded = (kind: Kind, model: string): string =>
  JSON.stringify({ model, created_at: new Date().toISOString(), ...text(kind, ""), done: true, done_reason: "load" })

/**
 * NDJSON lines. Thinking is its own line (`message.thinking`, or `thinking` on generate).
 * A tool call is written whole on the line after its end, as Ollama sends calls: never as
 * fragments, arguments as an object, `id` and `function.index`.
 */
export const encoder = (kind: Kind, model: string, backend: string): Exchange.StreamEncoder => {
  // Each line is stamped; the stamp is recomputed only when the millisecond changes.
  let stampedAt = 0
  let stamp = ""
  const now = () => {
    const ms = Date.now()
    if (ms !== stampedAt) {
      stampedAt = ms
      stamp = new Date(ms).toISOString()
    }
    return stamp
  }
  const head = `{"model":${JSON.stringify(model)},"created_at":"`
  const open = kind === "chat" ? `",${`"message":{"role":"assistant","content":`}` : `","response":`
  const close = kind === "chat" ? `},"done":false}\n` : `,"done":false}\n`
  const thinkingOpen = kind === "chat" ? `",${`"message":{"role":"assistant","content":"","thinking":`}` : `","response":"","thinking":`
  const calls = new Map<number, { id: string; name: string; arguments: string }>()
  /** Set once a call could not be sent: the error line went out, and nothing follows it. */
  let broken = false
  /** The line for a whole call (generate has no tools: nothing), or the error line for a broken one. */
  const flush = (index: number): string => {
    const call = calls.get(index)
    calls.delete(index)
    if (!call || kind !== "chat") return ""
    const args = argumentsOf(call.arguments)
    if (args === undefined) {
      broken = true
      return OllamaError.line(brokenCall(backend, call)) + "\n"
    }
    return JSON.stringify({ model, created_at: now(), message: { role: "assistant", content: "", tool_calls: [callOf(call, index, args)] }, done: false }) + "\n"
  }
  return {
    events: (events) => {
      let out = ""
      for (const event of Chunk.toReadonlyArray(events)) {
        if (broken) break
        switch (event._tag) {
          case "TextDelta":
            out += head + now() + open + JSON.stringify(event.text) + close
            break
          case "ReasoningDelta":
            out += head + now() + thinkingOpen + JSON.stringify(event.text) + close
            break
          case "ToolCallStart":
            calls.set(event.index, { id: event.id, name: event.name, arguments: "" })
            break
          case "ToolCallDelta": {
            const call = calls.get(event.index)
            if (call) call.arguments += event.arguments
            break
          }
          case "ToolCallEnd":
            out += flush(event.index)
            break
          case "Done":
            // A call the backend never ended is still a call the model made: sent before the end.
            for (const index of [...calls.keys()]) out += flush(index)
            if (broken) break
            out += JSON.stringify({
              model,
              created_at: now(),
              ...text(kind, ""),
              done: true,
              done_reason: doneReason(event.finishReason),
              ...metrics(event.usage, event.trace.durationMs)
            }) + "\n"
            break
        }
      }
      return out
    },
    // A stream already ended by a broken call's error line says nothing more.
    failed: (error) => (broken ? "" : OllamaError.line(error) + "\n")
  }
}

/** The route for `kind`: the load call answered at once, else the answer whole or as NDJSON. */
export const handle = (kind: Kind): Handler.Handler => {
  const endpoint = `ollama_${kind}`
  return (ctx, request, started) =>
    Handler.routed(ctx, "ollama", endpoint, request, started, (body, snapshot) =>
      Effect.flatMap(Effect.fromResult(decode(kind, body, snapshot)), (decoded) => {
        if (decoded.load) {
          const line = loaded(kind, decoded.model)
          return Effect.succeed(
            decoded.stream
              ? HttpServerResponse.text(`${line}\n`, { contentType: "application/x-ndjson" })
              : Handler.json(line)
          )
        }
        const context = Handler.exchange(ctx, request, "ollama", endpoint, started, decoded.model)
        return decoded.stream
          ? Exchange.stream(context, decoded.request, "application/x-ndjson", (routedTo) => encoder(kind, decoded.model, routedTo.backend))
          : Exchange.run(context, decoded.request, render(kind, decoded.model))
      }))
}
