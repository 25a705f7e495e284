/**
 * The caps that keep a hostile or broken file from taking the process down or eating the
 * machine. Every cap is checked before the expensive step it protects: file size before
 * reading, declared image dimensions before decoding, page pixels before allocating a canvas.
 */

export interface Limits {
  /** Largest file (image or PDF) read, in bytes. */
  readonly maxFileBytes: number
  /** Largest image decoded, width x height as declared in its header. */
  readonly maxInputPixels: number
  /** Largest PDF accepted, in pages. */
  readonly maxPages: number
  /** Largest rendered page, width x height; a bigger page is rendered at a lower DPI to fit. */
  readonly maxPagePixels: number
  /** Longest a page may take to parse, render and extract text; the renderer is killed after. */
  readonly renderTimeoutMs: number
  /** Heap cap of each render process, in MiB; a page that needs more fails alone. */
  readonly workerMemoryMb: number
  /** Largest image (in pixels) inside a PDF that the renderer decodes; bigger ones are skipped. */
  readonly maxPdfImagePixels: number
}

export const defaults: Limits = {
  maxFileBytes: 100 * 1024 * 1024,
  maxInputPixels: 100_000_000,
  maxPages: 2_000,
  maxPagePixels: 16_000_000,
  renderTimeoutMs: 30_000,
  workerMemoryMb: 1_024,
  maxPdfImagePixels: 50_000_000
}

export const DEFAULT_DPI = 144

export const resolve = (overrides: Partial<Limits> | undefined): Limits => ({ ...defaults, ...overrides })
