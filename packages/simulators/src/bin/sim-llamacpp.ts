#!/usr/bin/env node
import * as Cli from "../Cli.ts"
import * as Launch from "../Launch.ts"
import * as LlamaCpp from "../llamacpp/LlamaCpp.ts"
import { Slots } from "../llamacpp/Slots.ts"

await Launch.run("llamacpp", "a fake llama.cpp `llama-server` (loading phase, slots, OpenAI-compatible chat)", LlamaCpp.flags, (p) => {
  const parallel = Cli.number("parallel", p.values["parallel"])
  const ctxSize = Cli.number("ctx-size", p.values["ctx-size"])
  return {
    defaultPort: 8080,
    definition: LlamaCpp.make({
      modelPath: String(p.values["model"]),
      alias: p.values["alias"] === undefined ? undefined : String(p.values["alias"]),
      loadMs: Cli.number("load-ms", p.values["load-ms"]),
      ctxSize,
      slots: new Slots(Math.max(1, Math.floor(parallel)), ctxSize),
      apiKey: p.values["api-key"] === undefined ? undefined : String(p.values["api-key"]),
      roleChunk: p.values["role-chunk"] === true,
      noContextShift: p.values["no-context-shift"] === true,
      noSlots: p.values["no-slots"] === true,
      tokens: p.tokens,
      tokenMs: p.tokenMs,
      embeddings: p.values["embeddings"] === true,
      thinking: p.values["thinking"] === true
    })
  }
})
