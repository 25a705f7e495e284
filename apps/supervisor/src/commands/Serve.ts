/**
 * `local-router serve [--host 127.0.0.1] [--port N] [--log-dir DIR]`: the command-line face
 * of serve/Serve.ts (see there), which is loaded when serve runs: like every command, this
 * file only declares its options, so no other command loads serve's modules, and serve loads
 * no other command's.
 */
import { Command, Options } from "@effect/cli"
import * as Effect from "effect/Effect"
import { configOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"

export const hostOption = Options.text("host").pipe(
  Options.withDescription("Address to listen on (default: server.host in routing.yaml, else 127.0.0.1; anything else needs a token)"),
  Options.optional
)
export const portOption = Options.integer("port").pipe(
  Options.withDescription("Port to listen on (default: server.port in routing.yaml, else 4141)"),
  Options.optional
)

export const serve = Command.make(
  "serve",
  {
    config: configOption,
    host: hostOption,
    port: portOption,
    logDir: Options.directory("log-dir").pipe(
      Options.withDescription("Where each server's <name>.log goes (default: ~/Library/Logs/local-router/servers on macOS)"),
      Options.optional
    )
  },
  ({ config, host, logDir, port }) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { locate } = yield* routingFile
      const file = yield* locate(config, parent.config)
      const Serve = yield* Effect.promise(() => import("../serve/Serve.ts"))
      return yield* Serve.run({ file, host, port, logDir })
    })
).pipe(Command.withDescription("Supervise the local model servers and serve the OpenAI/Ollama-compatible gateway, in the foreground"))
