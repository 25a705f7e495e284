/**
 * Page selections such as "1-3,7" or "5-": parsed against the page count, returned sorted
 * and without duplicates, because results come out in page order.
 */
import * as Result from "effect/Result"

/** Why a selection is refused, for the caller to wrap in its own error. */
export type Problem = string

export const parse = (spec: string | undefined, pageCount: number): Result.Result<ReadonlyArray<number>, Problem> => {
  const text = (spec ?? "").trim()
  if (text === "" || text === "all") return Result.succeed(Array.from({ length: pageCount }, (_, i) => i + 1))
  const pages = new Set<number>()
  for (const part of text.split(",")) {
    const match = /^\s*(\d+)\s*(?:(-)\s*(\d+)?)?\s*$/.exec(part)
    if (!match) return Result.fail(`cannot read "${part.trim()}" in page selection "${text}" (expected e.g. 1-3,7 or 5-)`)
    const from = Number(match[1])
    const to = match[2] === undefined ? from : match[3] === undefined ? pageCount : Number(match[3])
    if (from < 1 || to < from) return Result.fail(`"${part.trim()}" is not a page range (pages count from 1, low to high)`)
    if (to > pageCount) return Result.fail(`page ${to} does not exist: the PDF has ${pageCount} page${pageCount === 1 ? "" : "s"}`)
    for (let page = from; page <= to; page++) pages.add(page)
  }
  return Result.succeed([...pages].sort((a, b) => a - b))
}
