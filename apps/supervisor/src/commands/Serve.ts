/**
 * `local-router serve [--host 127.0.0.1] [--port N] [--log-dir DIR] [--env-file FILE] [--request-log FILE|off]`: the command-line face
 * of serve/Serve.ts (see there), which is loaded when serve runs: like every command, this
 * file only declares its options, so no other command loads serve's modules, and serve loads
 * no other command's.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import { routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"

export const hostOption = Flag.String("host").pipe(
  Flag.withDescription("Address to listen on (default: server.host in routing.yaml, else 127.0.0.1; anything else needs a token)"),
  Flag.optional
)
export const portOption = Flag.Int("port").pipe(
  Flag.withDescription("Port to listen on (default: server.port in routing.yaml, else 4141)"),
  // The range routing.yaml's server.port takes; a usage error, not Node's RangeError at listen.
  Flag.filter((n) => n >= 0 && n <= 65535, () => "Expected a port number from 0 to 65535"),
  Flag.optional
)

export const serve = Command.make(
  "serve",
  {
    host: hostOption,
    port: portOption,
    logDir: Flag.Directory("log-dir").pipe(
      Flag.withDescription("Where each server's <name>.log goes (default: ~/Library/Logs/local-router/servers on macOS)"),
      Flag.optional
    ),
    requestLog: Flag.String("request-log").pipe(
      Flag.withDescription("Where each routed request is logged as a JSON line (rotated at 10 MB, 3 kept), or off (default: requests.jsonl in the log directory; see `local-router logs`)"),
      Flag.optional
    ),
    envFile: Flag.String("env-file").pipe(
      Flag.withDescription("NAME=value lines (API keys for routing.yaml's env:NAME) read before routing.yaml; variables already set win. The service passes ~/.config/local-router/service.env"),
      Flag.optional
    )
  },
  ({ envFile, host, logDir, port, requestLog }) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { locate } = yield* routingFile
      const file = yield* locate(parent.config)
      const Serve = yield* Effect.promise(() => import("../serve/Serve.ts"))
      return yield* Serve.run({ file, host, port, logDir, envFile, requestLog })
    })
).pipe(Command.withDescription("Supervise the local model servers and serve the OpenAI/Ollama-compatible gateway, in the foreground"))
