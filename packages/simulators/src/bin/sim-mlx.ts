#!/usr/bin/env node
import * as Cli from "../Cli.ts"
import * as Launch from "../Launch.ts"
import * as Mlx from "../mlx/Mlx.ts"
import { Resident } from "../mlx/Resident.ts"

await Launch.run("mlx", "a fake `mlx_lm.server` (OpenAI-compatible, one model resident)", Mlx.flags, (p) => {
  const model = String(p.values["model"])
  const cached = p.values["models"] === undefined ? [model] : Cli.list(p.values["models"])
  return {
    defaultPort: 8080,
    definition: Mlx.make({
      resident: new Resident(model, Cli.number("load-ms", p.values["load-ms"]), p.values["broken-model"] === true),
      cached,
      maxTokens: Cli.number("max-tokens", p.values["max-tokens"]),
      keepalive: Cli.number("keepalive", p.values["keepalive"]),
      keepaliveMs: Cli.number("keepalive-ms", p.values["keepalive-ms"]),
      legacyContentLength: p.values["legacy-content-length"] === true,
      legacyNotFound: p.values["legacy-not-found"] === true,
      tokens: p.tokens,
      tokenMs: p.tokenMs,
      thinking: p.values["thinking"] === true,
      legacyToolCall: p.values["legacy-tool-call"] === true,
      noToolParser: p.values["no-tool-parser"] === true
    })
  }
})
