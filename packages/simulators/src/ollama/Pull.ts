/**
 * `POST /api/pull`: NDJSON progress over real time. The main layer's downloaded bytes are
 * kept per model, so a pull cut by the client or by a fault resumes where it stopped, as the
 * real blob downloader does. Each progress line counts as one "token" for the token faults,
 * so `cutAfterTokens` cuts a pull mid-layer.
 */
import { sha256 } from "../Answer.ts"
import { normaliseModel } from "../FaultBook.ts"
import type { Exchange } from "../Harness.ts"
import * as Pacer from "../Pacer.ts"
import * as Send from "../Send.ts"
import * as Decode from "./Decode.ts"
import { error, ndjson } from "./Generate.ts"
import { card, type Store } from "./Store.ts"

export interface Context {
  readonly store: Store
  /** How long a full download of the main layer takes. */
  readonly pullMs: number
  /** Interval between progress lines for the active layer. */
  readonly tickMs: number
}

interface Step {
  readonly line: Record<string, unknown>
  /** Main-layer bytes on disk once this line is sent. */
  readonly downloaded?: number
  readonly installs?: boolean
}

const missingManifest = "pull model manifest: file does not exist"

/** Small layers (template, license, params) arrive in one line each, already complete. */
const smallLayers = (name: string) =>
  [
    ["template", 1429],
    ["license", 1084],
    ["params", 148]
  ].map(([what, size]) => ({ digest: sha256(`${what}:${name}`), size: Number(size) }))

const steps = (ctx: Context, name: string): ReadonlyArray<Step> => {
  const main = card(name)
  const installed = ctx.store.find(name) !== undefined
  const have = installed ? main.size : (ctx.store.downloaded.get(main.name) ?? 0)
  const status = `pulling ${main.digest.slice(0, 12)}`
  const layer = { status, digest: `sha256:${main.digest}`, total: main.size }
  const out: Array<Step> = [{ line: { status: "pulling manifest" } }]
  // `completed` is omitted while zero, as Go's omitempty does.
  out.push({ line: have === 0 ? layer : { ...layer, completed: have }, downloaded: have })
  const ticks = Math.max(1, Math.ceil(ctx.pullMs / ctx.tickMs))
  const perTick = Math.ceil(main.size / ticks)
  for (let done = have; done < main.size; ) {
    done = Math.min(main.size, done + perTick)
    out.push({ line: { ...layer, completed: done }, downloaded: done })
  }
  for (const l of smallLayers(main.name)) {
    out.push({ line: { status: `pulling ${l.digest.slice(0, 12)}`, digest: `sha256:${l.digest}`, total: l.size, completed: l.size } })
  }
  out.push({ line: { status: "verifying sha256 digest" } }, { line: { status: "writing manifest" } }, { line: { status: "success" }, installs: true })
  return out
}

export const handle = async (ctx: Context, ex: Exchange): Promise<void> => {
  const decoded = Decode.body(ex)
  if (!decoded.ok) return error(ex, decoded.status, decoded.error)
  const b = decoded.body
  // ollama-js sends `name`; the API docs say `model`. Both work on the real server.
  const name = typeof b["model"] === "string" && b["model"] !== "" ? b["model"] : typeof b["name"] === "string" ? b["name"] : ""
  if (name === "" || !Decode.validName(name)) return error(ex, 400, "invalid model name")
  const stream = b["stream"] !== false
  const known = ctx.store.inRegistry(name) && !ex.plan.refusedModel

  if (!known) {
    if (!stream) return error(ex, 500, missingManifest)
    ex.reply.head(200, ndjson)
    ex.reply.write(`${JSON.stringify({ status: "pulling manifest" })}\n`)
    return ex.reply.end(`${JSON.stringify({ error: missingManifest })}\n`)
  }

  const plan = steps(ctx, name)
  const key = normaliseModel(name)
  const apply = (s: Step) => {
    if (s.downloaded !== undefined && ctx.store.find(name) === undefined) ctx.store.downloaded.set(key, s.downloaded)
    if (s.installs === true) {
      ctx.store.downloaded.delete(key)
      if (ctx.store.find(name) === undefined) ctx.store.install(name)
    }
  }
  const lines = plan.map((s) => JSON.stringify(s.line))
  if (stream) ex.reply.head(200, ndjson)
  const r = await Pacer.run(ex.reply, lines, ex.plan, ctx.tickMs, (line, i) => {
    const s = plan[i]
    if (s !== undefined) apply(s)
    if (stream) ex.reply.write(`${line}\n`)
  })
  if (r.outcome === "error") {
    const message = ex.plan.errorBody?.message ?? "max retries exceeded: unexpected EOF"
    return stream ? ex.reply.end(`${JSON.stringify({ error: message })}\n`) : error(ex, 500, message)
  }
  if (r.outcome !== "complete") return
  if (stream) return ex.reply.end()
  Send.json(ex.reply, 200, { status: "success" })
}
