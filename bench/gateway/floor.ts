/**
 * The floor of the gateway bench: the least any Node proxy in front of the same server can
 * add. A bare node:http server that forwards /v1/chat/completions to the upstream over a
 * keep-alive agent, as local-router's backends do (always streamed upstream): a streamed
 * request is piped through untouched; a whole one is read as SSE and answered as one JSON
 * completion. No routing, no fallback, no deadlines, no metrics, no validation.
 *
 *   node floor.ts <upstream-url> <api-key>   prints {"url": ...} once listening
 */
import * as http from "node:http"

const [upstreamArg, key] = process.argv.slice(2)
if (!upstreamArg || !key) throw new Error("usage: floor.ts <upstream-url> <api-key>")
const upstream = new URL(upstreamArg)
const agent = new http.Agent({ keepAlive: true })

const server = http.createServer((req, res) => {
  const parts: Array<Buffer> = []
  req.on("data", (d: Buffer) => parts.push(d))
  req.on("end", () => {
    const asked = JSON.parse(Buffer.concat(parts).toString("utf8")) as { messages: unknown; stream?: boolean }
    const body = JSON.stringify({ model: "gpt-4o-mini", messages: asked.messages, stream: true })
    const up = http.request({
      host: upstream.hostname,
      port: upstream.port,
      path: "/v1/chat/completions",
      method: "POST",
      agent,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (answer) => {
      if (asked.stream === true) {
        res.writeHead(answer.statusCode ?? 502, { "content-type": "text/event-stream" })
        answer.pipe(res)
        return
      }
      let text = ""
      let pending = ""
      answer.setEncoding("utf8")
      answer.on("data", (chunk: string) => {
        pending += chunk
        for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
          const event = pending.slice(0, end)
          pending = pending.slice(end + 2)
          if (!event.startsWith("data: ") || event === "data: [DONE]") continue
          const data = JSON.parse(event.slice(6)) as { choices?: Array<{ delta?: { content?: string } }> }
          text += data.choices?.[0]?.delta?.content ?? ""
        }
      })
      answer.on("end", () => {
        const json = JSON.stringify({
          id: "chatcmpl-floor",
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: "gpt-4o-mini",
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }]
        })
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) })
        res.end(json)
      })
    })
    up.on("error", () => res.destroy())
    up.end(body)
  })
})

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`)
})
