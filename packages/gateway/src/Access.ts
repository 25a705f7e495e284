/**
 * Who may talk to the gateway.
 *
 * - A loopback bind is reachable only from this machine, so it may run without a token. Any
 *   other bind exposes local models (and the cloud keys behind them) to the network, so it
 *   refuses to start without one.
 * - With a token, every request carries `Authorization: Bearer <token>` (or `x-api-key: <token>`,
 *   as Anthropic's clients send it). Both sides are
 *   hashed before comparing so the comparison takes the same time whatever the length or
 *   the first differing byte.
 * - Without a token (loopback), a browser page on another site could still reach us through
 *   DNS rebinding; like Ollama, such requests are recognised by their `Host` header and refused.
 */
import * as Redacted from "effect/Redacted"
import * as net from "node:net"
import * as os from "node:os"

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export const isLoopback = (host: string): boolean => {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase()
  if (bare === "localhost" || bare.endsWith(".localhost")) return true
  if (net.isIPv4(bare)) return bare.startsWith("127.")
  if (net.isIPv6(bare)) return bare === "::1" || bare.startsWith("::ffff:127.")
  return false
}


/** Checks a request's token against the configured one. */
export interface Gate {
  /** An `Authorization: Bearer <token>` header. */
  readonly allows: (authorization: string | undefined) => boolean
  /** An `x-api-key: <token>` header, as Anthropic's clients send their key (Claude Code with ANTHROPIC_API_KEY). */
  readonly allowsKey: (key: string | undefined) => boolean
}

export const bearer = (token: Redacted.Redacted<string>): Gate => {
  // Loaded only with a token: a loopback gateway without one should not hold node:crypto (~3 MB).
  const crypto = process.getBuiltinModule("node:crypto")
  const digest = (value: string): Buffer => crypto.createHash("sha256").update(value).digest()
  const expected = digest(Redacted.value(token))
  return {
    allows: (authorization) => {
      if (authorization === undefined || !authorization.startsWith("Bearer ")) return false
      return crypto.timingSafeEqual(digest(authorization.slice(7).trim()), expected)
    },
    allowsKey: (key) => key !== undefined && crypto.timingSafeEqual(digest(key.trim()), expected)
  }
}

const hostname = os.hostname().toLowerCase()

/**
 * May a request with this `Host` header be served on a loopback bind without a token?
 * IP literals, localhost and local-only names pass; a public name means a rebinding attack.
 */
export const isLocalHostHeader = (header: string | undefined): boolean => {
  if (header === undefined) return true
  const name = (header.startsWith("[") ? header.slice(1, header.indexOf("]")) : header.replace(/:\d+$/, "")).toLowerCase()
  if (net.isIP(name) !== 0) return true
  return name === "localhost" || name === hostname || name.endsWith(".localhost") || name.endsWith(".local") ||
    name.endsWith(".internal")
}

/**
 * Browser origins allowed to call the gateway, as Ollama's OLLAMA_ORIGINS: pages served from
 * this machine and desktop-app origins. A web page anywhere else can still make a browser send
 * a "simple" request (a text/plain POST, no preflight) to a loopback port, so any request that
 * carries an `Origin` outside this list is refused before any work is done. `null` (sandboxed
 * frames, redirects) is never in it: any site can produce it.
 */
export const defaultOrigins: ReadonlyArray<string> = [
  ...["localhost", "127.0.0.1", "[::1]"].flatMap((host) => [`http://${host}`, `https://${host}`, `http://${host}:*`, `https://${host}:*`]),
  "app://*",
  "file://*",
  "tauri://*",
  "vscode-webview://*",
  "vscode-file://*"
]

/** Is an `Origin` header allowed? A pattern is an exact origin, `*` for any, or has `*` wildcards. */
export const origins = (patterns: ReadonlyArray<string>): ((origin: string) => boolean) => {
  const exact = new Set<string>()
  const wild: Array<RegExp> = []
  for (const pattern of patterns) {
    const p = pattern.trim().toLowerCase().replace(/\/+$/, "")
    if (p === "*") wild.push(/^/)
    else if (!p.includes("*")) exact.add(p)
    else {
      // A `*` port is digits; any other `*` stays within the host (`https://*.example.com`).
      const escaped = p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:\*$/, ":\\d+").replaceAll("*", "[^/]*")
      wild.push(new RegExp(`^${escaped}$`))
    }
  }
  return (origin) => {
    const o = origin.toLowerCase()
    return exact.has(o) || wild.some((re) => re.test(o))
  }
}
