#!/usr/bin/env node
import { isIP } from "node:net"
import * as Cli from "../Cli.ts"
import * as Launch from "../Launch.ts"
import * as Decode from "../ollama/Decode.ts"
import * as Ollama from "../ollama/Ollama.ts"
import { parseCapabilities, Store } from "../ollama/Store.ts"

await Launch.run("ollama", "a fake `ollama serve` (native /api and OpenAI-compatible /v1)", Ollama.flags, (p) => {
  const registry = String(p.values["registry"])
  const keepAlive = p.values["keep-alive"]
  const store = new Store({
    installed: Cli.list(p.values["models"]),
    registry: registry.trim() === "*" ? "any" : Cli.list(registry),
    loadMs: Cli.number("load-ms", p.values["load-ms"]),
    maxLoaded: Math.max(1, Cli.number("max-loaded", p.values["max-loaded"])),
    keepAliveMs: Decode.keepAliveEnv(typeof keepAlive === "string" ? keepAlive : process.env["OLLAMA_KEEP_ALIVE"]),
    capabilities: parseCapabilities(typeof p.values["capabilities"] === "string" ? p.values["capabilities"] : "")
  })
  const loopback = p.host === "localhost" || (isIP(p.host) !== 0 && /^(127\.|::1$)/.test(p.host))
  return {
    defaultPort: 11434,
    definition: Ollama.make({
      store,
      tokens: p.tokens,
      tokenMs: p.tokenMs,
      pullMs: Cli.number("pull-ms", p.values["pull-ms"]),
      tickMs: Math.max(1, Cli.number("pull-tick-ms", p.values["pull-tick-ms"])),
      version: String(p.values["server-version"]),
      loopback,
      toolCallsOnDone: p.values["tool-calls-on-done"] === true
    })
  }
})
