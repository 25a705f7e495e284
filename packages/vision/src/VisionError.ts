/**
 * The closed set of ways an image or a PDF can be refused or fail to render. Routing failures
 * stay `RouteError`s from core, so a caller tells "your file is bad" from "no backend answered".
 */
import * as Schema from "effect/Schema"

export const Reason = Schema.Literals([
  "Unreadable", // the path does not exist, is a directory, or cannot be read
  "TooLarge", // the file is over `maxFileBytes`
  "UnsupportedFormat", // not PNG, JPEG, WebP or GIF (for an image) or not a PDF/image (for a page)
  "ImageTooLarge", // the declared dimensions are over `maxInputPixels` (a decompression bomb)
  "CorruptImage", // the image cannot be decoded (truncated, malformed)
  "CorruptPdf", // the PDF cannot be parsed (truncated, malformed)
  "Encrypted", // the PDF needs a password and none was given
  "WrongPassword", // the password given does not open the PDF
  "NoPages", // the PDF has zero pages
  "TooManyPages", // the PDF has more pages than `maxPages`
  "BadPageRange", // the page selection cannot be parsed or names a page the PDF lacks
  "RenderTimeout", // a page took longer than `renderTimeoutMs` (the renderer is killed)
  "RenderFailed" // the renderer crashed or ran out of its memory cap on this page
])
export type Reason = typeof Reason.Type

export class VisionError extends Schema.TaggedError<VisionError>()("VisionError", {
  reason: Reason,
  message: Schema.String,
  /** The file (path, or "<N bytes>" for bytes) the error is about. */
  source: Schema.String,
  /** The 1-based page, for errors about one page of a PDF. */
  page: Schema.optional(Schema.Number)
}) {}
