/**
 * A minimal OpenAI-compatible streaming server for the router bench, run in its own process.
 *
 * Why not a simulator: every simulator's HTTP server announces `Keep-Alive: timeout=1`, and
 * Node's fetch (undici) never reuses a connection whose announced timeout is that short (nor
 * does node:http's Agent), and sim-mlx closes each connection as mlx_lm does. So against the
 * simulators every client, the fetch baseline included, opens a connection per request. This
 * server keeps Node's default keep-alive (5 s), so the bench can show whether the router
 * reuses connections where a server allows it. It answers every chat request with the same
 * eight tokens, one SSE event each, then usage and `[DONE]`; it prints its URL on stdout.
 */
import * as http from "node:http"

const tokens = ["Hello", " from", " the", " bench", " upstream", ",", " eight", " tokens"]
const event = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`

const server = http.createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    const base = { id: "chatcmpl-bench", object: "chat.completion.chunk", created: 0, model: "bench" }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    for (const content of tokens) res.write(event({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }] }))
    res.write(event({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }))
    res.write(event({ ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: tokens.length } }))
    res.end("data: [DONE]\n\n")
  })
})
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as import("node:net").AddressInfo
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`)
})
// The bench's stdin pipe closes when it exits, however it exits.
process.stdin.on("end", () => process.exit(0)).resume()
