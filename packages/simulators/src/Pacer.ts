/**
 * Emits a token stream one token per write, applying the token faults of a request's plan:
 * slow tokens, a hang after N tokens, a cut after N tokens (connection dropped, no terminal
 * marker), or an in-band error after N tokens. Every simulator's streaming path goes through
 * here, so a fault means the same thing on every wire.
 */
import { setTimeout as sleep } from "node:timers/promises"
import type { Plan } from "./FaultBook.ts"
import type { Reply } from "./Reply.ts"

/**
 * `complete`: write your terminal marker. `error`: write your in-band error form instead.
 * `cut` / `gone`: the connection is over; write nothing.
 */
export type Outcome = "complete" | "error" | "cut" | "gone"

export interface Result {
  readonly outcome: Outcome
  readonly emitted: number
}

/** What must happen before token `index` (also checked once after the last token). */
const interrupt = async (reply: Reply, plan: Plan, index: number): Promise<Outcome | undefined> => {
  if (reply.closed) return "gone"
  if (plan.cutAfterTokens === index) {
    reply.destroy()
    return "cut"
  }
  if (plan.hangAfterTokens === index) {
    await reply.gone
    return "gone"
  }
  if (plan.errorBody !== undefined && (plan.errorBody.afterTokens ?? 0) === index) return "error"
  return undefined
}

/**
 * A "token" is whatever one write carries: a word, a thinking word, a tool-call argument
 * fragment, a whole tool call (Ollama, mlx). Faults count them all alike, so a cut or hang lands
 * mid-tool-call exactly as it lands mid-text.
 */
export const run = async <T>(
  reply: Reply,
  tokens: ReadonlyArray<T>,
  plan: Plan,
  baseTokenMs: number,
  emit: (token: T, index: number) => void
): Promise<Result> => {
  const delay = plan.slowTokensMs > 0 ? plan.slowTokensMs : baseTokenMs
  for (let i = 0; i < tokens.length; i++) {
    const stop = await interrupt(reply, plan, i)
    if (stop !== undefined) return { outcome: stop, emitted: i }
    if (delay > 0) await sleep(delay)
    if (reply.closed) return { outcome: "gone", emitted: i }
    emit(tokens[i] as T, i)
  }
  const stop = await interrupt(reply, plan, tokens.length)
  return { outcome: stop ?? "complete", emitted: tokens.length }
}

/** Waits out a hang-before-headers fault; false when the client gave up meanwhile. */
export const holdHeaders = async (reply: Reply, hold: number | "forever" | undefined): Promise<boolean> => {
  if (hold === undefined) return true
  if (hold === "forever") {
    await reply.gone
    return false
  }
  await Promise.race([sleep(hold), reply.gone])
  return !reply.closed
}
