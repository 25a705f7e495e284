/** The answer for one PDF page, and which way it went. */
import type { Trace } from "@local-router/core"

export type PagePath =
  /** The rendered page (and its text layer) went to a vision model. */
  | "vision"
  /** The page had a real text layer and `textFirst` sent only the text to a text model. */
  | "text"

export interface PageResult {
  /** 1-based; 1 for a page given as an image. */
  readonly page: number
  readonly path: PagePath
  /** The page's text layer: "" for a scanned page or a page given as an image. */
  readonly text: string
  /** The model's answer. */
  readonly answer: string
  readonly backend: string
  readonly model: string
  readonly trace: Trace.Trace
  /** How the page was rendered, when it was (vision path from a PDF). */
  readonly render?: {
    readonly width: number
    readonly height: number
    readonly dpi: number
    readonly scaledDown: boolean
    readonly renderMs: number
  }
}
