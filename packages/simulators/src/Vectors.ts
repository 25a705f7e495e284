/**
 * Deterministic embedding vectors: a pure function of (model, text), so equal inputs embed
 * equally and two models never share a vector space (what the router's same-space fallback
 * rule must protect). Shortening follows Ollama and OpenAI: cut to a prefix, renormalise.
 */
import { createHash } from "node:crypto"

/** The model's own output before any normalisation, values in [-1, 1]. */
export const raw = (model: string, text: string, dims: number): ReadonlyArray<number> => {
  const out: Array<number> = []
  for (let i = 0; out.length < dims; i++) {
    const h = createHash("sha256").update(`${model}\u0000${i}\u0000${text}`).digest()
    for (let j = 0; j + 1 < h.length && out.length < dims; j += 2) out.push((h.readUInt16BE(j) / 65535) * 2 - 1)
  }
  return out
}

/** L2 to unit length (Ollama routes.go `normalize`, with its 1e-12 floor). */
export const normalize = (v: ReadonlyArray<number>): ReadonlyArray<number> => {
  const norm = Math.max(Math.sqrt(v.reduce((s, x) => s + x * x, 0)), 1e-12)
  return v.map((x) => x / norm)
}

/** Normalised, then cut to `dimensions` and normalised again; float32 values, as on the wire. */
export const unit = (model: string, text: string, dims: number, dimensions?: number): ReadonlyArray<number> => {
  const full = normalize(raw(model, text, dims))
  const cut = dimensions !== undefined && dimensions > 0 && dimensions < full.length ? normalize(full.slice(0, dimensions)) : full
  return cut.map((x) => Math.fround(x))
}

/** little-endian float32, standard base64 (OpenAI's and Ollama's `encoding_format: "base64"`). */
export const base64 = (v: ReadonlyArray<number>): string => {
  const buf = Buffer.alloc(v.length * 4)
  v.forEach((x, i) => buf.writeFloatLE(x, i * 4))
  return buf.toString("base64")
}
