/**
 * A server's stdout and stderr, appended to `<dir>/<name>.log` and rotated by size
 * (`name.log.1` ... `name.log.<keep>`), with the last lines kept in memory so a failure can
 * show them. Neither launchd nor the servers rotate anything (protocols.md §5.5).
 */
import * as fs from "node:fs"
import * as path from "node:path"

export interface Options {
  readonly maxBytes?: number
  readonly keep?: number
  readonly tailLines?: number
}

export interface LogFile {
  readonly file: string
  /** A chunk of the child's output; `stream` marks stderr lines in the tail. */
  write(chunk: string, stream: "stdout" | "stderr"): void
  /** A supervisor line (transitions), written with a timestamp. */
  note(line: string): void
  /** The last lines written, oldest first. */
  tail(): ReadonlyArray<string>
  close(): void
}

export const open = (dir: string, name: string, options: Options = {}): LogFile => openFile(path.join(dir, `${name}.log`), options)

/** The same, at any path (serve's request log, `requests.jsonl`). */
export const openFile = (file: string, options: Options = {}): LogFile => {
  const maxBytes = options.maxBytes ?? 5 * 1024 * 1024
  const keep = options.keep ?? 3
  const tailLines = options.tailLines ?? 40
  fs.mkdirSync(path.dirname(file), { recursive: true })
  let fd = fs.openSync(file, "a")
  let size = fs.fstatSync(fd).size
  const lines: Array<string> = []
  const partial = { stdout: "", stderr: "" }

  const rotate = () => {
    fs.closeSync(fd)
    for (let i = keep - 1; i >= 1; i--) {
      if (fs.existsSync(`${file}.${i}`)) fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`)
    }
    fs.renameSync(file, `${file}.1`)
    fd = fs.openSync(file, "a")
    size = 0
  }
  const append = (text: string) => {
    if (fd < 0) return
    const bytes = Buffer.byteLength(text)
    if (size > 0 && size + bytes > maxBytes) rotate()
    fs.writeSync(fd, text)
    size += bytes
  }
  const remember = (line: string) => {
    lines.push(line)
    if (lines.length > tailLines) lines.splice(0, lines.length - tailLines)
  }
  return {
    file,
    write: (chunk, stream) => {
      append(chunk)
      const parts = (partial[stream] + chunk).split("\n")
      partial[stream] = parts.pop() ?? ""
      for (const line of parts) if (line.trim() !== "") remember(line)
    },
    note: (line) => {
      append(`[local-router ${new Date().toISOString()}] ${line}\n`)
    },
    tail: () => [...lines, ...[partial.stdout, partial.stderr].filter((s) => s.trim() !== "")],
    close: () => {
      if (fd >= 0) fs.closeSync(fd)
      fd = -1
    }
  }
}
