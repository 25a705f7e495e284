/**
 * What the simulator received, for other packages' tests to assert on (`GET /__sim/requests`).
 * Credentials are left out so a log printed by a failing test never shows a key. Images are
 * summarised as decoded size and sha256 so a test can prove which bytes crossed the wire.
 */
import type { IncomingHttpHeaders } from "node:http"
import { sha256 } from "./Answer.ts"

export interface RecordedImage {
  /** Where in the body it was found, e.g. `messages[0].images[0]`. */
  readonly at: string
  /** The data-URL prefix when there was one (`data:image/jpeg;base64,`), else "". */
  readonly prefix: string
  readonly bytes: number
  readonly sha256: string
}

export interface RecordedRequest {
  readonly seq: number
  readonly at: string
  readonly method: string
  readonly path: string
  readonly query: Record<string, string>
  readonly headers: Record<string, string>
  /** Parsed JSON body; `null` when the body was empty or not JSON (see `rawBody`). */
  readonly body: unknown
  /** The body text when it was not JSON, truncated to 2 kB. */
  readonly rawBody?: string
  readonly images: ReadonlyArray<RecordedImage>
}

const secretHeaders = new Set(["authorization", "x-api-key", "x-moondream-auth", "proxy-authorization", "cookie"])

export const publicHeaders = (headers: IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (secretHeaders.has(k) || v === undefined) continue
    out[k] = Array.isArray(v) ? v.join(", ") : v
  }
  return out
}

/** Splits `data:image/png;base64,AAAA` into prefix and payload; bare base64 has an empty prefix. */
export const splitDataUrl = (value: string): { prefix: string; payload: string } => {
  if (!value.startsWith("data:")) return { prefix: "", payload: value }
  const comma = value.indexOf(",")
  return comma < 0 ? { prefix: value, payload: "" } : { prefix: value.slice(0, comma + 1), payload: value.slice(comma + 1) }
}

const facts = (at: string, value: string): RecordedImage => {
  const { prefix, payload } = splitDataUrl(value)
  const bytes = Buffer.from(payload, "base64")
  return { at, prefix, bytes: bytes.length, sha256: sha256(bytes) }
}

/**
 * Finds images in any of the wire shapes we simulate: Ollama `images: [b64]`, OpenAI
 * `image_url` (string or `{url}`), Anthropic `source: {type: "base64", data}`, Moondream `image_url`.
 */
export const findImages = (body: unknown): ReadonlyArray<RecordedImage> => {
  const found: Array<RecordedImage> = []
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, `${at}[${i}]`))
      return
    }
    if (typeof node !== "object" || node === null) return
    const o = node as Record<string, unknown>
    for (const [key, value] of Object.entries(o)) {
      const here = at === "" ? key : `${at}.${key}`
      if (key === "images" && Array.isArray(value)) {
        value.forEach((v, i) => {
          if (typeof v === "string") found.push(facts(`${here}[${i}]`, v))
        })
      } else if (key === "image_url" && typeof value === "string") {
        found.push(facts(here, value))
      } else if (key === "image_url" && typeof value === "object" && value !== null && typeof (value as { url?: unknown }).url === "string") {
        const url = (value as { url: string }).url
        if (url.startsWith("data:")) found.push(facts(`${here}.url`, url))
      } else if (key === "source" && typeof value === "object" && value !== null && (value as { type?: unknown }).type === "base64") {
        const data = (value as { data?: unknown }).data
        if (typeof data === "string") found.push(facts(`${here}.data`, data))
      } else {
        walk(value, here)
      }
    }
  }
  walk(body, "")
  return found
}

export class RequestLog {
  private entries: Array<RecordedRequest> = []
  private seq = 0

  add(entry: Omit<RecordedRequest, "seq" | "at">): void {
    this.seq += 1
    this.entries.push({ seq: this.seq, at: new Date().toISOString(), ...entry })
    // Bounded so a long-running demo simulator does not grow without limit.
    if (this.entries.length > 1000) this.entries.shift()
  }

  list(): ReadonlyArray<RecordedRequest> {
    return this.entries
  }

  clear(): void {
    this.entries = []
  }
}
