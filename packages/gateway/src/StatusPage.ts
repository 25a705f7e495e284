/**
 * The status page: `GET /ui` (one small HTML document), `GET /ui/app.js` (the page's script,
 * bundled with its framework at build time from ../ui/ into dist/ui/app.js, so nothing loads
 * from anywhere else and it works offline) and `GET /status/events`, the `/status` JSON as
 * server-sent events, which is all the page reads: it holds no data the CLI cannot get.
 */
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import * as ApiError from "./ApiError.ts"
import type * as Handler from "./Handler.ts"

/** How often the events stream looks at the status; a change reaches the page within this. */
const tickMs = 500

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>local-router</title>
<link rel="icon" href="data:,">
</head>
<body>
<div id="app"><p style="font-family:system-ui;padding:1rem">Loading local-router's status…</p></div>
<script type="module" src="/ui/app.js"></script>
</body>
</html>
`

/**
 * The bundle, read once. It sits in dist/ui/ whether this module runs from dist/ or, under the
 * tests' source condition, from src/ (the build ran first either way).
 */
const bundle = (): Buffer | undefined => {
  const file = path.join(import.meta.dirname, "..", "dist", "ui", "app.js")
  try {
    return fs.readFileSync(file)
  } catch {
    return undefined
  }
}

export interface Asset {
  readonly body: Uint8Array
  readonly gzip: Uint8Array
  readonly contentType: string
}

const asset = (body: Uint8Array, contentType: string): Asset => ({ body, gzip: zlib.gzipSync(body, { level: 9 }), contentType })

export interface Assets {
  readonly page: Asset
  readonly script: Asset | undefined
}

export const assets = (): Assets => {
  const script = bundle()
  return {
    page: asset(Buffer.from(html), "text/html; charset=utf-8"),
    script: script && asset(script, "text/javascript; charset=utf-8")
  }
}

const security = {
  // Only this gateway's own script and its own endpoints; inline styles are the page's own.
  "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache"
}

/** An asset, gzipped when the client takes it (browsers do: the transfer size is the gzip's). */
export const serve = (asset: Asset, acceptEncoding: string | undefined): HttpServerResponse.HttpServerResponse =>
  acceptEncoding !== undefined && /\bgzip\b/.test(acceptEncoding)
    ? HttpServerResponse.uint8Array(asset.gzip, {
      contentType: asset.contentType,
      headers: { ...security, "content-encoding": "gzip", vary: "accept-encoding" }
    })
    : HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers: { ...security, vary: "accept-encoding" } })

/**
 * The status as server-sent events: one `data:` line of /status JSON now and again whenever it
 * changes (looked at every half second), so a page or `status --watch` follows it without
 * polling. `retry` tells the browser to come back a second after serve restarts.
 */
export const events = (status: Effect.Effect<string>): HttpServerResponse.HttpServerResponse => {
  const encoder = new TextEncoder()
  const frames = Stream.fromEffectSchedule(status, Schedule.spaced(tickMs)).pipe(
    Stream.changes,
    Stream.map((json) => encoder.encode(`data: ${json}\n\n`))
  )
  return HttpServerResponse.stream(Stream.concat(Stream.make(encoder.encode("retry: 1000\n\n")), frames), {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
  })
}

/** Browsers ask for HTML; Ollama's clients do not. */
export const wantsHtml = (accept: string | undefined): boolean => accept !== undefined && accept.includes("text/html")

const route = (pick: (assets: Assets) => Asset | undefined): Handler.Handler => (ctx, request) => {
  const found = pick(ctx.page)
  return found
    ? Effect.succeed(serve(found, request.headers["accept-encoding"]))
    : Effect.fail(new ApiError.ApiError({ reason: "NotFound", message: "the status page was not built into this local-router (run ./run setup)" }))
}

/** `GET /ui`. */
export const handlePage = route((assets) => assets.page)

/** `GET /ui/app.js`: 404 in a build without the page's script. */
export const handleScript = route((assets) => assets.script)

/** `GET /status/events`. */
export const handleEvents = (ctx: Handler.Context) => Effect.succeed(events(ctx.status))
