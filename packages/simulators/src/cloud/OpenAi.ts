/**
 * The OpenAI Chat Completions simulator, with an OpenRouter mode (flag, or the request header
 * `x-sim-openrouter: 1`): same request and stream shapes, but `: OPENROUTER PROCESSING`
 * comments in streams, numeric `error.code`, and errors after generation as HTTP 200 with
 * `finish_reason: "error"`.
 */
import * as Answer from "../Answer.ts"
import type * as Cli from "../Cli.ts"
import type { Definition, Exchange, StatusFault } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import { lastUserText } from "../Prompt.ts"
import { findImages } from "../RequestLog.ts"
import * as Send from "../Send.ts"
import * as Sse from "../Sse.ts"
import * as Keys from "./Keys.ts"

export const flags: ReadonlyArray<Cli.Flag> = [
  Keys.flag,
  { name: "models", type: "string", help: "models that exist, comma-separated, or * (default: gpt-4o-mini,gpt-4o; OpenRouter: openai/gpt-4o-mini,anthropic/claude-sonnet-4.5)" },
  { name: "openrouter", type: "boolean", help: "behave as OpenRouter (also per request: header x-sim-openrouter: 1)" }
]

export interface Config {
  readonly keys: Keys.Accepted
  readonly models: ReadonlyArray<string> | "any"
  readonly openrouter: boolean
  readonly tokens: number | undefined
  readonly tokenMs: number
}

export const openAiModels = ["gpt-4o-mini", "gpt-4o"]
export const openRouterModels = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"]

const isOpenRouter = (config: Config, ex: Exchange): boolean => config.openrouter || ex.req.headers["x-sim-openrouter"] === "1"

const rateHeaders = (): Send.Headers => ({
  "x-request-id": Keys.id("req_", 32),
  "openai-processing-ms": 42,
  "x-ratelimit-limit-requests": 10000,
  "x-ratelimit-remaining-requests": 9999,
  "x-ratelimit-reset-requests": "6ms",
  "x-ratelimit-limit-tokens": 200000,
  "x-ratelimit-remaining-tokens": 199000,
  "x-ratelimit-reset-tokens": "300ms"
})

const openAiType = (status: number): string => (status >= 500 ? "server_error" : "invalid_request_error")

/** Writes an error in the dialect of the current mode; `code`/`type` follow OpenAI's conventions. */
const error = (
  ex: Exchange,
  openrouter: boolean,
  status: number,
  message: string,
  extra: { type?: string; code?: string | null; param?: string | null; headers?: Send.Headers } = {}
): void => {
  const body = openrouter
    ? { error: { code: status, message, metadata: {} } }
    : { error: { message, type: extra.type ?? openAiType(status), param: extra.param ?? null, code: extra.code ?? null } }
  Send.json(ex.reply, status, body, { ...rateHeaders(), ...extra.headers }, "application/json")
}

const statusDefaults = (fault: StatusFault): { message: string; type: string; code: string | null } => {
  if (fault.status === 429 && fault.code === "insufficient_quota") {
    return { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", code: "insufficient_quota" }
  }
  if (fault.status === 429) {
    return { message: "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.", type: "requests", code: "rate_limit_exceeded" }
  }
  if (fault.status === 500) return { message: "The server had an error while processing your request. Sorry about that!", type: "server_error", code: null }
  if (fault.status >= 500) return { message: "The server is overloaded or not ready yet.", type: "server_error", code: null }
  return { message: `Simulated status ${fault.status}`, type: "invalid_request_error", code: fault.code ?? null }
}

const chat = async (config: Config, ex: Exchange, openrouter: boolean): Promise<void> => {
  if (ex.jsonError !== undefined || typeof ex.json !== "object" || ex.json === null) {
    return error(ex, openrouter, 400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)")
  }
  const b = ex.json as Record<string, unknown>
  const model = typeof b["model"] === "string" ? b["model"] : ""
  if (model === "") return error(ex, openrouter, 400, "you must provide a model parameter", { param: "model" })
  if (!Array.isArray(b["messages"])) {
    return error(ex, openrouter, 400, "Missing required parameter: 'messages'.", { param: "messages", code: "missing_required_parameter" })
  }
  const known = config.models === "any" || config.models.includes(model)
  if (!known || ex.plan.refusedModel) {
    return error(ex, openrouter, openrouter ? 400 : 404, openrouter ? `${model} is not a valid model ID` : `The model \`${model}\` does not exist or you do not have access to it.`, {
      code: "model_not_found"
    })
  }

  const images = findImages(b["messages"]).map((i) => ({ bytes: i.bytes, sha256: i.sha256 }))
  const limitRaw = b["max_completion_tokens"] ?? b["max_tokens"]
  const prompt = lastUserText(b["messages"])
  const answer = Answer.make({ prompt, images, ...(config.tokens !== undefined ? { tokens: config.tokens } : {}), ...(typeof limitRaw === "number" ? { limit: limitRaw } : {}) })
  const id = openrouter ? Keys.id("gen-", 24) : Keys.id("chatcmpl-", 29)
  const created = Math.floor(Date.now() / 1000)
  const promptTokens = Answer.promptTokens(prompt) + images.length * 85
  const usage = (n: number) => ({
    prompt_tokens: promptTokens,
    completion_tokens: n,
    total_tokens: promptTokens + n,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 }
  })
  const provider = openrouter ? { provider: "OpenAI" } : {}
  const headers = { ...rateHeaders(), ...(openrouter ? { "X-Generation-Id": id } : {}) }
  const plan = ex.plan
  const failure = plan.errorBody?.message ?? "Provider disconnected unexpectedly"

  if (b["stream"] !== true) {
    const r = await Pacer.run(ex.reply, answer.tokens, plan, config.tokenMs, () => {})
    if (r.outcome === "cut" || r.outcome === "gone") return
    const errored = r.outcome === "error"
    const body = {
      id,
      object: "chat.completion",
      created,
      model,
      ...provider,
      system_fingerprint: "fp_sim0000001",
      service_tier: "default",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: errored ? "" : answer.text, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: errored ? "error" : answer.finish
        }
      ],
      usage: usage(r.emitted),
      ...(errored ? { error: openrouter ? { code: 502, message: failure } : { message: failure, type: "server_error", param: null, code: null } } : {})
    }
    return plan.malformedJson ? Send.malformed(ex.reply, body, headers, "application/json") : Send.json(ex.reply, 200, body, headers, "application/json")
  }

  const includeUsage = (b["stream_options"] as { include_usage?: unknown } | undefined)?.include_usage === true
  const base = { id, object: "chat.completion.chunk", created, model, ...provider, system_fingerprint: "fp_sim0000001", service_tier: "default" }
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {})
  })
  ex.reply.head(200, { ...Sse.headers, ...headers })
  if (openrouter) ex.reply.write(Sse.comment("OPENROUTER PROCESSING"))
  ex.reply.write(Sse.data(chunk({ role: "assistant", content: "", refusal: null }, null)))
  const r = await Pacer.run(ex.reply, answer.tokens, plan, config.tokenMs, (t, i) => {
    if (openrouter && i > 0 && i % 4 === 0) ex.reply.write(Sse.comment("OPENROUTER PROCESSING"))
    ex.reply.write(Sse.data(chunk({ content: t }, null)))
  })
  if (r.outcome === "error") {
    const event = openrouter
      ? { ...base, error: { code: "server_error", message: failure }, choices: [{ index: 0, delta: { content: "" }, finish_reason: "error" }] }
      : { error: { message: failure, type: "server_error", param: null, code: null } }
    return ex.reply.end(Sse.data(event))
  }
  if (r.outcome !== "complete") return
  const finish = chunk({}, answer.finish)
  ex.reply.write(plan.malformedJson ? `data: ${Send.halfLine(finish)}\n\n` : Sse.data(finish))
  if (includeUsage) ex.reply.write(Sse.data({ ...base, choices: [], usage: usage(r.emitted) }))
  ex.reply.end(Sse.done)
}

export const make = (config: Config): Definition => ({
  sim: "openai",
  async handle(ex) {
    const openrouter = isOpenRouter(config, ex)
    // OpenRouter's base URL is /api/v1; accept it in both modes.
    const path = ex.path.startsWith("/api/v1/") ? ex.path.slice(4) : ex.path
    const key = Keys.bearer(ex.req.headers.authorization)
    if (!Keys.accepts(config.keys, key)) {
      if (openrouter) return error(ex, true, 401, key === undefined ? "No auth credentials found" : "User not found.")
      return key === undefined || key === ""
        ? error(ex, false, 401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        : error(ex, false, 401, `Incorrect API key provided: ${Keys.masked(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`, { code: "invalid_api_key" })
    }
    if (ex.method === "GET" && path === "/v1/models") {
      const ids = config.models === "any" ? (config.openrouter ? openRouterModels : openAiModels) : config.models
      return Send.json(ex.reply, 200, { object: "list", data: ids.map((id) => ({ id, object: "model", created: 1715367049, owned_by: "system" })) }, rateHeaders(), "application/json")
    }
    if (ex.method === "POST" && path === "/v1/chat/completions") return chat(config, ex, openrouter)
    error(ex, openrouter, 404, `Invalid URL (${ex.method} ${ex.path})`)
  },
  fail(ex, fault) {
    const d = statusDefaults(fault)
    const headers: Send.Headers = {}
    const retryAfter = fault.retryAfter ?? (fault.status === 429 && fault.code !== "insufficient_quota" ? 1 : undefined)
    if (retryAfter !== undefined) headers["retry-after"] = retryAfter
    if (fault.shouldRetry !== undefined) headers["x-should-retry"] = String(fault.shouldRetry)
    error(ex, isOpenRouter(config, ex), fault.status, fault.message ?? d.message, { type: d.type, code: fault.code ?? d.code, headers })
  }
})
