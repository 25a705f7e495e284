#!/usr/bin/env node
import * as Cli from "../Cli.ts"
import * as OpenAi from "../cloud/OpenAi.ts"
import * as Launch from "../Launch.ts"

await Launch.run("openai", "a fake OpenAI Chat Completions API (or OpenRouter with --openrouter)", OpenAi.flags, (p) => {
  const openrouter = p.values["openrouter"] === true
  const keys = p.values["api-key"] === undefined ? "any" : Cli.list(p.values["api-key"])
  const models = p.values["models"] === undefined ? (openrouter ? OpenAi.openRouterModels : OpenAi.openAiModels) : String(p.values["models"]).trim() === "*" ? "any" : Cli.list(p.values["models"])
  const field = p.values["reasoning-field"]
  if (field !== undefined && field !== "none" && field !== "reasoning" && field !== "reasoning_content") {
    throw new Error(`--reasoning-field: expected none, reasoning or reasoning_content, got ${String(field)}`)
  }
  return { defaultPort: 0, definition: OpenAi.make({ keys, models, openrouter, tokens: p.tokens, tokenMs: p.tokenMs, reasoningField: field }) }
})
