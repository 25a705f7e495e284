/**
 * Hostile HTTP requests written byte by byte to a raw socket, and what came back. Shared by the
 * front-door fuzz test (thousands of requests in CI) and bench/fuzz (a hundred thousand).
 *
 * Each generated request mixes: every route (and near misses), every method, malformed and
 * unicode percent-encoding, dot segments, very long paths and headers, odd and duplicate
 * headers, browser origins allowed and not, wrong content types, random JSON and random bytes,
 * routed requests that really run through the simulator, and chunked, truncated or
 * mis-framed bodies.
 */
import * as fc from "fast-check"
import * as net from "node:net"
import * as MinimalPdf from "../../../../packages/vision/test/support/MinimalPdf.ts"

/** A 1x1 PNG. */
const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")
const pdf = (lines: ReadonlyArray<string>) => Buffer.from(MinimalPdf.make({ pages: [{ lines }] }))

export interface RawRequest {
  /** The bytes written. */
  readonly bytes: Buffer
  /** Close our side after writing (a body cut short). */
  readonly halfClose: boolean
}

export interface Reply {
  /** The status of the first response, if one came. */
  readonly status: number | undefined
  /** How the exchange ended: a whole response read, the server closed, it reset, or we gave up. */
  readonly end: "response" | "closed" | "reset" | "timeout"
}

const routes = [
  "/",
  "/api/version",
  "/api/tags",
  "/api/ps",
  "/api/chat",
  "/api/generate",
  "/api/show",
  "/api/embed",
  "/api/embeddings",
  "/v1/models",
  "/v1/models/c_ollama",
  "/v1/models/ollama/phi3.5:3.8b",
  "/v1/chat/completions",
  "/v1/embeddings",
  "/v1/messages",
  "/v1/messages/count_tokens",
  "/v1/vision/describe",
  "/v1/vision/pdf",
  "/health",
  "/status",
  "/status/events",
  "/metrics",
  // The status page: its files, and the actions it posts (restart, pull, reload).
  "/ui",
  "/ui/app.js",
  "/actions/restart",
  "/actions/pull",
  "/actions/reload"
]

const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("GET", "HEAD", "POST", "POST", "POST", "OPTIONS") },
  { weight: 2, arbitrary: fc.constantFrom("PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "get", "FOO", "M-SEARCH", "") }
)

const segment = fc.oneof(
  fc.constantFrom("%", "%E0%A4%A", "%ZZ", "%00", "%2e%2e", "%2F", "%C0%AF", "%FF%FE", "..", ".", "", "%%", "%u2215", "%F0%9F%98%80"),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 8 }).map(encodeURIComponent),
  // Raw (unencoded) text in the request line, unicode included.
  fc.string({ unit: "grapheme", maxLength: 6 }),
  fc.webSegment()
)

const path = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...routes) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...routes, "/v1/models/", "/api/", "/v1/"), fc.array(segment, { maxLength: 4 })).map(([r, s]) => r + s.join("/")) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => `/${s.join("/")}`) },
  { weight: 1, arbitrary: fc.constantFrom("*", "http://127.0.0.1/health", "//health", "/health/../status", "/v1/../api/tags", "") },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 40_000 }).map((n) => `/v1/models/${"a".repeat(n)}`) }
)

const query = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((q) => `?${encodeURIComponent(q)}`) },
  { weight: 1, arbitrary: fc.constantFrom("?prompt=%", "?pages=1-3,7&dpi=9999999", "?pages=-1", "?length=long&category=nope", "?a=%E0%A4%A&&==") }
)

const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/vnd.api+json",
  "text/plain",
  "text/plain;charset=UTF-8",
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "multipart/form-data; boundary=----x",
  "image/png",
  "application/pdf",
  "application/octet-stream",
  "",
  ";;;",
  "json"
)

const origin = fc.constantFrom("http://localhost:3000", "http://127.0.0.1:5173", "https://evil.example", "null", "", "app://desk", "http://localhost.evil.example")

const oddHeader = fc.oneof(
  fc.constantFrom("100-continue", "nonsense").map((v) => ["expect", v] as const),
  fc.constantFrom("keep-alive", "upgrade", "close, keep-alive").map((v) => ["connection", v] as const),
  fc.constantFrom("websocket", "h2c").map((v) => ["upgrade", v] as const),
  fc.constantFrom("gzip", "identity, chunked", "chunked, chunked").map((v) => ["transfer-encoding", v] as const),
  fc.constantFrom("-1", "abc", "99999999999999999999", "1, 2").map((v) => ["content-length", v] as const),
  fc.string({ unit: "binary", maxLength: 20 }).map((v) => ["x-odd", v.replace(/[\r\n]/g, "")] as const),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => ["x-long", "v".repeat(n)] as const),
  fc.constantFrom("bad header", "ü", "x:y", "").map((name) => [name, "1"] as const)
)

const header = fc.oneof(
  { weight: 9, arbitrary: fc.oneof(
  contentType.map((v) => ["content-type", v] as const),
  origin.map((v) => ["origin", v] as const),
  fc.constantFrom("evil.example", "localhost", "", "127.0.0.1:1", "[::1]").map((v) => ["host", v] as const),
  fc.string({ maxLength: 40 }).map((v) => ["authorization", `Bearer ${v.replace(/[\r\n]/g, "")}`] as const),
  fc.constantFrom("POST", "GET", "X").map((v) => ["access-control-request-method", v] as const)
  ) },
  { weight: 1, arbitrary: oddHeader }
)

const message = fc.record({ role: fc.constantFrom("user", "system", "assistant", "tool", "wat"), content: fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 2 })) })

const routedBody = fc.record({
  model: fc.constantFrom("c_ollama", "ollama/phi3.5:3.8b", "nope", "", "fast"),
  messages: fc.array(message, { maxLength: 3 }),
  stream: fc.boolean(),
  prompt: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
  options: fc.option(fc.dictionary(fc.constantFrom("temperature", "num_predict", "stop", "seed"), fc.jsonValue({ maxDepth: 1 })), { nil: undefined }),
  // The agent fields every dialect reads (OpenAI, Ollama, Anthropic, embeddings), plausible or not.
  agent: fc.option(
    fc.dictionary(
      fc.constantFrom("tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "format", "think", "input", "dimensions", "encoding_format", "max_tokens", "system", "thinking", "name"),
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constant([{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }]),
        // Schema patterns, the hostile ones too: one that backtracks exponentially, lookaround, an escape.
        fc.constantFrom("^a+$", "^(a+)+$", "(?=a)a", "(a)\\1", "^\\u0041{1,5000}$").map((pattern) => ({
          type: "json_schema",
          json_schema: { name: "x", schema: { type: "object", properties: { a: { type: "string", pattern } } } }
        }))
      )
    ),
    { nil: undefined }
  )
}).map(({ agent, ...b }) => JSON.stringify({ ...b, ...agent }))

const body = fc.oneof(
  { weight: 2, arbitrary: fc.constant("") },
  { weight: 4, arbitrary: routedBody },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b).toString("latin1")) },
  // What the status page's actions read: a backend and a model, real or not.
  { weight: 1, arbitrary: fc.record({ backend: fc.constantFrom("ollama", "nope", "", "../ollama"), model: fc.constantFrom("phi3.5:3.8b", "x:y", "") }).map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.constantFrom("{", "[]", "null", `{"model":"c_ollama","messages":"x"}`, "%PDF-1.4\n%%EOF", "\x89PNG\r\n\x1a\n") },
  // Real files, whole or cut short, for the upload routes to open and render.
  { weight: 1, arbitrary: fc.tuple(fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }), fc.nat()).map(([lines, cut]) => {
    const file = pdf(lines.map((l) => l.replace(/[^\x20-\x7e]/g, "?"))).toString("latin1")
    return cut % 4 === 0 ? file.slice(0, cut % file.length) : file
  }) },
  { weight: 1, arbitrary: fc.constant(png.toString("latin1")) }
)

const framing = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("length", "length", "length", "chunked") },
  { weight: 2, arbitrary: fc.constantFrom("bad-chunks", "truncated", "none", "short-length") }
)

export const request = (port: number): fc.Arbitrary<RawRequest> =>
  fc.record({
    method,
    path,
    query,
    version: fc.oneof({ weight: 9, arbitrary: fc.constantFrom("HTTP/1.1", "HTTP/1.0") }, { weight: 1, arbitrary: fc.constantFrom("HTTP/2.0", "HTTP/1.1 x", "", "HTTP/1.1\n") }),
    host: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    close: fc.boolean(),
    jsonType: fc.boolean(),
    headers: fc.array(header, { maxLength: 4 }),
    body,
    framing
  }).map((r): RawRequest => {
    const payload = Buffer.from(r.body, /[\x80-\xff]/.test(r.body) && !/[^\x00-\xff]/.test(r.body) ? "latin1" : "utf8")
    const lines = [`${r.method} ${r.path}${r.query} ${r.version}`.replace(/[\r\n]/g, "")]
    if (r.host) lines.push(`Host: 127.0.0.1:${port}`)
    if (r.close) lines.push("Connection: close")
    if (r.jsonType && payload.length > 0) lines.push("Content-Type: application/json")
    for (const [name, value] of r.headers) lines.push(`${name}: ${value}`)
    let tail: Buffer = Buffer.alloc(0)
    switch (r.framing) {
      case "length":
        lines.push(`Content-Length: ${payload.length}`)
        tail = payload
        break
      case "short-length":
        lines.push(`Content-Length: ${Math.floor(payload.length / 2)}`)
        tail = payload
        break
      case "truncated":
        lines.push(`Content-Length: ${payload.length + 100}`)
        tail = payload
        break
      case "chunked":
        lines.push("Transfer-Encoding: chunked")
        tail = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from(payload.length ? "\r\n0\r\n\r\n" : "\r\n")])
        break
      case "bad-chunks":
        lines.push("Transfer-Encoding: chunked")
        tail = Buffer.concat([Buffer.from("zz\r\n"), payload, Buffer.from("\r\n")])
        break
      case "none":
        tail = payload
    }
    return { bytes: Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), tail]), halfClose: r.framing === "truncated" }
  })

/** Does `data` hold one whole response (status line, headers, body by its framing)? */
const complete = (data: Buffer, head: boolean): boolean => {
  const end = data.indexOf("\r\n\r\n")
  if (end < 0) return false
  const headers = data.subarray(0, end).toString("latin1").toLowerCase()
  const status = Number(headers.slice(9, 12))
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) return true
  // An event stream (/status/events) never ends: its headers are the answer.
  if (/\ncontent-type: *text\/event-stream/.test(headers)) return true
  const body = data.subarray(end + 4)
  const length = /\ncontent-length: *(\d+)/.exec(headers)
  if (length) return body.length >= Number(length[1])
  if (/\ntransfer-encoding: *chunked/.test(headers)) return body.includes("0\r\n\r\n")
  return false // read until close
}

/** Write one request and read until a whole response came, the server closed, or `timeoutMs`. */
export const exchange = (port: number, raw: RawRequest, timeoutMs: number): Promise<Reply> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let data = Buffer.alloc(0)
    const head = raw.bytes.subarray(0, 5).toString("latin1").startsWith("HEAD ")
    const finish = (end: Reply["end"]) => {
      clearTimeout(timer)
      socket.destroy()
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(0, 12).toString("latin1"))
      resolve({ status: match ? Number(match[1]) : undefined, end })
    }
    const timer = setTimeout(() => finish("timeout"), timeoutMs)
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      if (complete(data, head)) finish("response")
    })
    socket.on("end", () => finish("closed"))
    socket.on("error", () => finish("reset"))
    socket.on("close", () => finish("closed"))
    socket.on("connect", () => {
      socket.write(raw.bytes)
      if (raw.halfClose) socket.end()
    })
  })

/** `n` requests from `seed`, the same ones every time. */
export const sample = (port: number, seed: number, n: number): ReadonlyArray<RawRequest> => fc.sample(request(port), { seed, numRuns: n })

/**
 * What every request path loads once, loaded: a real PDF rendered and a real image decoded
 * (pdf.js, its render worker, the canvas library and fonts, sharp), so a memory baseline taken
 * after this counts them.
 */
export const warmUp = async (port: number): Promise<void> => {
  for (const [path, type, body] of [["/v1/vision/pdf", "application/pdf", pdf(["warm-up"])], ["/v1/vision/describe", "image/png", png]] as const) {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { "content-type": type }, body })
    await response.arrayBuffer()
  }
}
