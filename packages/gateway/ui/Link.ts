/**
 * The page's line to the gateway: the status as server-sent events read with fetch (so it can
 * carry the token, which EventSource cannot), opened again a second after it ends or fails, and
 * the actions as same-origin JSON POSTs with the token.
 */
import type { Status } from "./Data.ts"

export type State = "connecting" | "live" | "lost" | "needs-token"

const tokenKey = "local-router-token"

export const token = {
  get: (): string | undefined => sessionStorage.getItem(tokenKey) ?? undefined,
  set: (value: string) => sessionStorage.setItem(tokenKey, value)
}

const headers = (): Record<string, string> => {
  const t = token.get()
  return t ? { authorization: `Bearer ${t}` } : {}
}

/** Follow /status/events until `stop` is called. */
export const follow = (onStatus: (status: Status) => void, onState: (state: State) => void): () => void => {
  let stopped = false
  let controller: AbortController | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const again = () => {
    if (!stopped) timer = setTimeout(open, 1000)
  }
  const open = async () => {
    controller = new AbortController()
    try {
      const response = await fetch("/status/events", { headers: headers(), signal: controller.signal, cache: "no-store" })
      if (response.status === 401) {
        onState("needs-token")
        return
      }
      if (!response.ok || !response.body) throw new Error(`status ${response.status}`)
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += value
        let end: number
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n")
          if (data) {
            onStatus(JSON.parse(data) as Status)
            onState("live")
          }
        }
      }
      if (!stopped) onState("lost")
    } catch {
      if (!stopped) onState("lost")
    }
    again()
  }
  void open()
  return () => {
    stopped = true
    controller?.abort()
    clearTimeout(timer)
  }
}

export interface Outcome {
  readonly ok: boolean
  readonly message: string
  readonly status: number
}

/** POST an action; the answer's message either way. */
export const act = async (kind: "restart" | "pull" | "reload", body: Record<string, string>): Promise<Outcome> => {
  try {
    const response = await fetch(`/actions/${kind}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers() },
      body: JSON.stringify(body)
    })
    const answer = await response.json() as { message?: string; error?: { message?: string } }
    return { ok: response.ok, status: response.status, message: answer.message ?? answer.error?.message ?? `HTTP ${response.status}` }
  } catch (error) {
    return { ok: false, status: 0, message: `local-router did not answer: ${String(error)}` }
  }
}
