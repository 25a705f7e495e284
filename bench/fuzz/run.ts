/**
 * The front-door fuzz at full size (CI runs 5,000 of these in FrontDoor.test.ts):
 *
 *   ./run node bench/fuzz/run.ts [--requests 100000] [--concurrency 4] [--warmup 10000] [--seed N] [--max-seconds 900]
 *
 * Starts a real `local-router serve` (as the service starts it) supervising an Ollama simulator,
 * sends generated hostile requests over raw sockets (HttpFuzz.ts: every route, every method,
 * bad percent-encoding, dot segments, long paths and headers, odd and duplicate headers, browser
 * origins, wrong content types, random JSON and bytes, chunked, truncated and mis-framed
 * bodies), and prints what came back, serve's memory along the way against its memory after a
 * warm-up (a real PDF and image, then `--warmup` requests of the same mix at the same
 * concurrency, so the baseline holds what this load touches once: code pages, allocator arenas) (right after the run, and once serve is idle and has collected the run's garbage), and whether a real routed request still answers. Exits non-zero if serve exited, a
 * request got neither a status nor a close, memory grew 10 MB or more, or the routed request failed.
 */
import { parseArgs } from "node:util"
import * as HttpFuzz from "../../apps/supervisor/test/frontdoor/HttpFuzz.ts"
import * as RealServe from "../../apps/supervisor/test/frontdoor/RealServe.ts"

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "100000" },
    concurrency: { type: "string", default: "4" },
    seed: { type: "string", default: "20261206" },
    "max-seconds": { type: "string", default: "900" },
    warmup: { type: "string", default: "10000" }
  }
})
const total = Number(values.requests)
const concurrency = Number(values.concurrency)
const seed = Number(values.seed)
const deadline = Date.now() + Number(values["max-seconds"]) * 1000
const MiB = 2 ** 20

const serve = await RealServe.start()

/** Send `requests`, `concurrency` at a time, while serve lives. */
const send = async (requests: ReadonlyArray<HttpFuzz.RawRequest>, seen: (raw: HttpFuzz.RawRequest, reply: HttpFuzz.Reply) => void) => {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests.length && serve.alive()) {
      const raw = requests[next++]!
      seen(raw, await HttpFuzz.exchange(serve.port, raw, 15_000))
    }
  }))
}
const statuses = new Map<string, number>()
const ends = new Map<string, number>()
const stuck: Array<string> = []
let sent = 0
try {
  // Warm-up: what any request path loads once (vision, pdf.js) is part of the baseline.
  await HttpFuzz.warmUp(serve.port)
  await send(HttpFuzz.sample(serve.port, seed - 1, Number(values.warmup)), () => {})
  const before = await serve.settledRss(0, 0)
  console.log(`serve's own account after the warm-up (MiB): ${JSON.stringify(await fetch(`${serve.url}/status`).then((r) => r.json() as Promise<{ gateway: { memory: unknown } }>).then((s) => s.gateway.memory))}`)
  const t0 = performance.now()
  const batch = 10_000
  console.log(`serve pid ${serve.pid}, RSS a minute after the warm-up ${(before / MiB).toFixed(1)} MiB; ${total} requests, ${concurrency} at a time, seed ${seed}`)
  for (let offset = 0; offset < total && Date.now() < deadline && serve.alive(); offset += batch) {
    const requests = HttpFuzz.sample(serve.port, seed + offset, Math.min(batch, total - offset))
    await send(requests, (raw, reply) => {
      sent++
      ends.set(reply.end, (ends.get(reply.end) ?? 0) + 1)
      statuses.set(String(reply.status ?? "none"), (statuses.get(String(reply.status ?? "none")) ?? 0) + 1)
      if (reply.end === "timeout" && stuck.length < 5) stuck.push(raw.bytes.subarray(0, 200).toString("latin1"))
    })
    console.log(`  ${sent} sent, ${(sent / ((performance.now() - t0) / 1000)).toFixed(0)}/s, RSS ${(serve.rss() / MiB).toFixed(1)} MiB`)
  }
  const burst = serve.rss()
  const after = await serve.settledRss(before + 10 * MiB, 60_000)
  const routed = await fetch(`${serve.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "still there?" }] })
  })
  const alive = serve.alive()
  const memory = await fetch(`${serve.url}/status`).then((r) => r.json() as Promise<{ gateway: { memory: unknown } }>).then((s) => s.gateway.memory)
  console.log(`\nrequests: ${sent} in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  console.log(`ends: ${JSON.stringify(Object.fromEntries(ends))}`)
  console.log(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
  console.log(
    `serve alive: ${alive}; RSS ${(before / MiB).toFixed(1)} MiB a minute after the warm-up, ${(burst / MiB).toFixed(1)} right after the run, ` +
      `${(after / MiB).toFixed(1)} a minute after it (${((after - before) / MiB).toFixed(1)} MiB)`
  )
  console.log(`serve's own account (MiB): ${JSON.stringify(memory)}`)
  console.log(`a routed request afterwards: ${routed.status} from ${routed.headers.get("x-local-router-backend")}`)
  for (const s of stuck) console.log(`no status and no close: ${JSON.stringify(s)}`)
  process.exitCode = alive && stuck.length === 0 && after - before < 10 * MiB && routed.status === 200 && sent === total ? 0 : 1
} finally {
  await serve.stop()
}
