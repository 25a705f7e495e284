/**
 * Deterministic answers. The text is a pure function of the prompt, the images and the token
 * budget, so a test can compute the exact answer (and its token count) the simulator will
 * stream, and a vision answer names the image bytes it saw, proving which image arrived.
 *
 * Every element of `tokens` is one streamed chunk; joined they are the full text.
 */
import { createHash } from "node:crypto"

const vocabulary = [
  "amber", "brook", "cedar", "delta", "ember", "fjord", "grove", "harbor",
  "island", "juniper", "kelp", "lagoon", "meadow", "nectar", "orchid", "prairie",
  "quartz", "river", "summit", "tundra", "upland", "valley", "willow", "yarrow",
  "zephyr", "basalt", "canyon", "dune", "estuary", "fern", "glacier", "heath",
  "inlet", "jasper", "knoll", "lichen", "marsh", "nimbus", "oasis", "pebble",
  "quill", "reef", "sierra", "thistle", "umber", "vista", "wren", "zinnia",
  "alder", "bramble", "cove", "dell", "egret", "flint", "gorse", "hollow",
  "iris", "jetty", "kestrel", "loam", "moss", "nook", "otter", "pine"
] as const

export interface ImageFacts {
  readonly bytes: number
  readonly sha256: string
}

export interface Input {
  /** The text the answer derives from: last user message, prompt, question, or caption length. */
  readonly prompt: string
  readonly images?: ReadonlyArray<ImageFacts>
  /** Fixed word count (the `--tokens` flag); otherwise derived from the prompt. */
  readonly tokens?: number
  /** The request's own cap (`max_tokens`, `num_predict`); the answer stops there with reason "length". */
  readonly limit?: number
}

export interface Output {
  readonly tokens: ReadonlyArray<string>
  readonly text: string
  readonly finish: "stop" | "length"
}

/** `[[tokens:N]]` in a prompt asks for exactly N words, for tests that need a long stream. */
const directive = /\[\[tokens:(\d+)\]\]/

export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")

/** Words the prompt alone asks for: 3 to 8, or what the directive says. */
export const wordCount = (prompt: string, fixed?: number): number => {
  const asked = directive.exec(prompt)
  if (asked?.[1] !== undefined) return Number(asked[1])
  if (fixed !== undefined) return fixed
  return 3 + (Number.parseInt(sha256(prompt).slice(0, 2), 16) % 6)
}

/** One token per image that names its digest prefix and size, before the words. */
export const imageTokens = (images: ReadonlyArray<ImageFacts>): ReadonlyArray<string> =>
  images.map((img, i) => `${i === 0 ? "" : " "}[image ${img.sha256.slice(0, 12)} ${img.bytes}b]`)

export const make = (input: Input): Output => {
  const images = imageTokens(input.images ?? [])
  const words = wordCount(input.prompt, input.tokens)
  const seed = sha256(input.prompt)
  const all: Array<string> = [...images]
  for (let i = 0; i < words; i++) {
    // Each word draws from a fresh digest so long answers do not repeat with a short period.
    const h = createHash("sha256").update(`${seed}:${i}`).digest()
    const word = vocabulary[(h[0] ?? 0) % vocabulary.length] ?? "amber"
    all.push(all.length === 0 ? word : ` ${word}`)
  }
  const limited = input.limit !== undefined && input.limit < all.length
  const tokens = limited ? all.slice(0, input.limit) : all
  return { tokens, text: tokens.join(""), finish: limited ? "length" : "stop" }
}

/** A stable stand-in for a prompt token count: whitespace-separated words, at least 1. */
export const promptTokens = (prompt: string): number => Math.max(1, prompt.split(/\s+/).filter(Boolean).length)
