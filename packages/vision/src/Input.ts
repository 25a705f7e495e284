/**
 * What callers hand in: a file path or the bytes themselves. Reading checks the size cap
 * from `stat` first, so an oversized file is refused without being read.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { VisionError } from "./VisionError.ts"

export type Input = string | Uint8Array

export interface Loaded {
  readonly bytes: Uint8Array
  /** How errors name it: the path, or "<N bytes>". */
  readonly source: string
}

export const sourceOf = (input: Input): string => typeof input === "string" ? input : `<${input.byteLength} bytes>`

export const read = (input: Input, maxBytes: number): Effect.Effect<Loaded, VisionError> => {
  const source = sourceOf(input)
  const tooLarge = (size: number) =>
    new VisionError({
      reason: "TooLarge",
      source,
      message: `${source} is ${formatBytes(size)}, over the ${formatBytes(maxBytes)} limit (maxFileBytes)`
    })
  if (typeof input !== "string") {
    return input.byteLength > maxBytes ? Effect.fail(tooLarge(input.byteLength)) : Effect.succeed({ bytes: input, source })
  }
  return Effect.tryPromise({
    try: async () => {
      // stat before open: opening a FIFO or a device would block or never end.
      const stat = await fs.promises.stat(input)
      if (!stat.isFile()) return { notFile: true as const }
      if (stat.size > maxBytes) return { size: stat.size }
      const bytes = new Uint8Array(await fs.promises.readFile(input))
      // The file may have grown between stat and read.
      return bytes.byteLength > maxBytes ? { size: bytes.byteLength } : { bytes }
    },
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException).code
      const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : String(code ?? cause)
      return new VisionError({ reason: "Unreadable", source, message: `cannot read ${source}: ${why}` })
    }
  }).pipe(Effect.flatMap((r) =>
    "notFile" in r
      ? Effect.fail(new VisionError({ reason: "Unreadable", source, message: `cannot read ${source}: not a regular file` }))
      : "size" in r
      ? Effect.fail(tooLarge(r.size))
      : Effect.succeed({ bytes: r.bytes, source })
  ))
}

export const formatBytes = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`
