#!/usr/bin/env node
import { homedir } from "node:os"
import * as Cli from "../Cli.ts"
import * as Launch from "../Launch.ts"
import * as StationConfig from "../moondream/Config.ts"
import * as Station from "../moondream/Station.ts"
import { Worker } from "../moondream/Worker.ts"

await Launch.run("moondream", "a fake Moondream Station REST service (port drift, 200-with-error, one worker)", Station.flags, (p) => {
  const home = typeof p.values["home"] === "string" ? p.values["home"] : homedir()
  const config = StationConfig.read(home)
  const num = (name: string, fallback: number) => (p.values[name] === undefined ? fallback : Cli.number(name, p.values[name]))
  // Like Station: no explicit port means "the configured one, drifting upwards if busy".
  const explicit = p.port !== undefined && p.port !== "auto"
  const first = explicit ? Cli.number("port", p.port) : config.service_port
  const model = typeof p.values["model"] === "string" ? p.values["model"] : config.current_model
  return {
    defaultPort: first,
    bind: async (server, host) => {
      const port = await StationConfig.bindDrifting(server, host, first, !explicit)
      StationConfig.write(home, { ...config, service_port: port, service_host: host, current_model: model })
      return port
    },
    definition: Station.make({
      worker: new Worker(num("queue-size", config.inference_max_queue_size), num("load-ms", 0)),
      timeoutMs: num("timeout-ms", config.inference_timeout * 1000),
      inferMs: num("infer-ms", 0),
      model,
      tokens: p.tokens,
      tokenMs: p.tokenMs
    })
  }
})
