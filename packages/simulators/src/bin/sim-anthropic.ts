#!/usr/bin/env node
import * as Anthropic from "../cloud/Anthropic.ts"
import * as Cli from "../Cli.ts"
import * as Launch from "../Launch.ts"

await Launch.run("anthropic", "a fake Anthropic Messages API", Anthropic.flags, (p) => {
  const keys = p.values["api-key"] === undefined ? "any" : Cli.list(p.values["api-key"])
  const models = p.values["models"] === undefined ? "any" : Cli.list(p.values["models"])
  return { defaultPort: 0, definition: Anthropic.make({ keys, models, tokens: p.tokens, tokenMs: p.tokenMs }) }
})
