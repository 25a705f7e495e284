import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { PageRange } from "../src/index.ts"

describe("PageRange", () => {
  it.each([
    [undefined, 4, [1, 2, 3, 4]],
    ["all", 3, [1, 2, 3]],
    ["1-3,7", 9, [1, 2, 3, 7]],
    ["7, 1-3, 2", 9, [1, 2, 3, 7]],
    ["5-", 7, [5, 6, 7]],
    ["3", 3, [3]]
  ] as const)("%s of %i pages selects %j, in page order", (spec, count, pages) => {
    expect(PageRange.parse(spec, count)).toStrictEqual(Result.succeed(pages))
  })

  it.each([
    ["0", 3, "pages count from 1"],
    ["3-1", 3, "low to high"],
    ["2-9", 3, "page 9 does not exist: the PDF has 3 pages"],
    ["1,x", 3, 'cannot read "x"'],
    ["1-2-3", 3, "cannot read"]
  ] as const)("%s of %i pages is refused: %s", (spec, count, message) => {
    const result = PageRange.parse(spec, count)
    expect(Result.isFailure(result) && result.failure).toContain(message)
  })
})
