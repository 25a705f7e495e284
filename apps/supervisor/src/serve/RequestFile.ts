/**
 * serve's request log: one JSON line per routed request (RequestLog.jsonLine: time, dialect,
 * category, backend, model, attempts, first-token and total ms, status, outcome, bytes; never a
 * prompt, an answer or a key), appended to `<log dir>/requests.jsonl` and rotated by size like
 * the servers' logs (LogFile): 10 MB a file, three older generations, so at most 40 MB whatever
 * the traffic. `local-router logs [--follow]` reads it.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Paths from "../supervisor/Paths.ts"

export const fileName = "requests.jsonl"

/** 10 MiB holds ~45,000 requests (a line is ~230 bytes; appending one takes ~2 µs). */
export const maxBytes = 10 * 1024 * 1024
export const keep = 3

/** Where serve writes it unless told otherwise: beside the servers/ directory of logs. */
export const defaultFile = (env?: Readonly<Record<string, string | undefined>>, platform?: NodeJS.Platform) =>
  path.join(Paths.logRoot(env, platform), fileName)

/**
 * What the gateway calls for each finished request: the line appended, and a failed write (a
 * full disk, a removed directory) said once on stderr and then left alone, so a request log
 * that cannot be written never fails or slows the requests it describes.
 */
export const writer = <E>(
  append: (line: string) => void,
  file: string,
  line: (entry: E) => string,
  report: (text: string) => void = (text) => process.stderr.write(text)
) => {
  let said = false
  return (entry: E): void => {
    try {
      append(line(entry))
      said = false
    } catch (error) {
      if (said) return
      said = true
      report(`[${new Date().toISOString()}] local-router serve: cannot write the request log ${file}: ${(error as Error).message} (requests are still answered)\n`)
    }
  }
}

/** The last `n` lines, reaching into the previous generation when the file was just rotated. */
export const lastLines = (file: string, n: number): ReadonlyArray<string> => {
  if (n <= 0) return []
  const linesOf = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter((l) => l !== "") : [])
  const current = linesOf(file)
  return (current.length >= n ? current : [...linesOf(`${file}.1`), ...current]).slice(-n)
}

/**
 * Lines appended to `file` from now on, as they come (polled: fs.watch misses renames on some
 * file systems). A rotation (the file renamed to `.1`, a new one started) is followed: what was
 * still written to the old file is read to its end first, then the new file from its start.
 */
export const follow = (file: string, pollMs = 250): Stream.Stream<string> =>
  Stream.callback<string>((queue) =>
    Effect.gen(function*() {
      let fd: number | undefined
      let ino = -1
      let offset = 0
      let partial = ""
      let started = false
      const readTo = (descriptor: number, end: number) => {
        while (offset < end) {
          const buffer = Buffer.alloc(Math.min(end - offset, 1 << 20))
          const got = fs.readSync(descriptor, buffer, 0, buffer.length, offset)
          if (got === 0) break
          offset += got
          const parts = (partial + buffer.subarray(0, got).toString("utf8")).split("\n")
          partial = parts.pop() ?? ""
          for (const line of parts) if (line !== "") Queue.offerUnsafe(queue, line)
        }
      }
      const check = () => {
        let st: fs.Stats
        try {
          st = fs.statSync(file)
        } catch {
          return // Not there (yet): serve has not written a request.
        }
        if (fd !== undefined && st.ino !== ino) {
          // Rotated: finish the old file (still open), then start the new one at 0.
          readTo(fd, fs.fstatSync(fd).size)
          fs.closeSync(fd)
          fd = undefined
          offset = 0
        }
        if (fd === undefined) {
          fd = fs.openSync(file, "r")
          ino = st.ino
          // The file as it was when following began: only what comes from now on.
          if (!started) offset = st.size
        }
        if (st.size < offset) offset = 0 // Truncated in place.
        readTo(fd, st.size)
      }
      check()
      started = true
      yield* Effect.addFinalizer(() => Effect.sync(() => fd !== undefined && fs.closeSync(fd)))
      while (true) {
        yield* Effect.sleep(Duration.millis(pollMs))
        check()
      }
    })
  )

interface Line {
  readonly time?: string
  readonly dialect?: string
  readonly category?: string | null
  readonly backend?: string | null
  readonly model?: string | null
  readonly attempts?: number
  readonly firstTokenMs?: number | null
  readonly totalMs?: number
  readonly status?: number
  readonly outcome?: string
  readonly bytes?: number
}

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} kB` : `${(n / 1024 / 1024).toFixed(1)} MB`)

/** One request log line for a person; a line that is not ours is shown as it is. */
export const format = (text: string): string => {
  let l: Line
  try {
    l = JSON.parse(text) as Line
  } catch {
    return text
  }
  const who = l.backend ? `${l.backend}/${l.model ?? "?"}` : "no backend"
  return [
    l.time ?? "?",
    String(l.status ?? "?"),
    (l.outcome ?? "").padEnd(8),
    `${l.dialect ?? "?"} ${l.category ?? "?"} -> ${who}`,
    `${l.attempts ?? 0} attempt${l.attempts === 1 ? "" : "s"}`,
    l.firstTokenMs != null ? `first token ${l.firstTokenMs} ms` : "",
    `total ${l.totalMs ?? "?"} ms`,
    size(l.bytes ?? 0)
  ].filter(Boolean).join("  ")
}
