/**
 * What `processPdf` streams: progress a CLI can draw, and one result or error per page.
 *
 * Ordering: `Opened` comes first and `Finished` last. `PageDone` / `PageFailed` come strictly
 * in page order. `PageStarted` / `PageRendered` are progress and, with concurrency above 1,
 * may interleave across pages (page 3 may start before page 2 is done).
 */
import * as Data from "effect/Data"
import type { RouteError } from "@local-router/core"
import type { PageResult } from "./PageResult.ts"
import type { VisionError } from "./VisionError.ts"

export type PdfEvent = Data.TaggedEnum<{
  /** The PDF opened: `pageCount` pages in the file, `pages` selected, in the order they will come. */
  Opened: { readonly source: string; readonly pageCount: number; readonly pages: ReadonlyArray<number> }
  /** Work on a page began; `index` counts from 1 up to `of` (the number of selected pages). */
  PageStarted: { readonly page: number; readonly index: number; readonly of: number }
  /** The page was rendered (vision path only). */
  PageRendered: {
    readonly page: number
    readonly width: number
    readonly height: number
    readonly dpi: number
    readonly renderMs: number
  }
  PageDone: { readonly page: number; readonly index: number; readonly of: number; readonly result: PageResult }
  /** This page failed; the others still come. */
  PageFailed: { readonly page: number; readonly index: number; readonly of: number; readonly error: VisionError | RouteError.RouteError }
  Finished: { readonly pages: number; readonly succeeded: number; readonly failed: number; readonly durationMs: number }
}>
export const PdfEvent = Data.taggedEnum<PdfEvent>()
