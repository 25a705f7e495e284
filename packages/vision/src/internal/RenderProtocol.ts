/** Messages between PdfDocument and its render workers. One request in flight per worker. */

export type Request =
  | { readonly op: "open"; readonly data: Uint8Array; readonly password?: string; readonly maxImagePixels: number }
  | { readonly op: "text"; readonly page: number }
  | { readonly op: "render"; readonly page: number; readonly dpi: number; readonly maxPixels: number }

export type Reply =
  | { readonly ok: true; readonly op: "open"; readonly pages: number }
  | { readonly ok: true; readonly op: "text"; readonly text: string }
  | {
    readonly ok: true
    readonly op: "render"
    readonly png: Uint8Array
    readonly width: number
    readonly height: number
    readonly dpi: number
    readonly scaledDown: boolean
    readonly text: string
  }
  | {
    readonly ok: false
    readonly reason: "Encrypted" | "WrongPassword" | "CorruptPdf" | "RenderFailed"
    readonly message: string
  }
