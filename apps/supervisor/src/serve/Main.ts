/**
 * `local-router serve` as the service starts it, without the CLI. A process that runs for days
 * should not hold @effect/cli, its printers and file-format readers, and every other command in
 * memory for the four options serve reads once (about 8 MB of an idle serve).
 *
 * Only a command line this reader takes exactly as the CLI would is run here; anything else
 * (help, an unknown or repeated option, a port that is not a number, a path of the wrong kind)
 * goes to the full CLI, so errors and help are always the CLI's own.
 */
import * as fs from "node:fs"
import { parseArgs } from "node:util"

export interface Parsed {
  readonly config: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
  readonly logDir: string | undefined
}

/** serve's options, as commands/Serve.ts declares them (a test keeps the two the same). */
export const flags = ["config", "host", "port", "log-dir"] as const

const kind = (path: string): "file" | "directory" | "missing" | "other" => {
  try {
    const stat = fs.statSync(path)
    return stat.isFile() ? "file" : stat.isDirectory() ? "directory" : "other"
  } catch {
    return "missing"
  }
}

/** `serve` and its options, or undefined when the full CLI should read this command line. */
export const parse = (args: ReadonlyArray<string>): Parsed | undefined => {
  let read
  try {
    read = parseArgs({
      args: [...args],
      options: Object.fromEntries(flags.map((flag) => [flag, { type: "string" }])) as Record<(typeof flags)[number], { type: "string" }>,
      allowPositionals: true,
      strict: true,
      tokens: true
    })
  } catch {
    return undefined
  }
  const { positionals, tokens, values } = read
  if (positionals.length !== 1 || positionals[0] !== "serve") return undefined
  const names = tokens.flatMap((token) => (token.kind === "option" ? [token.name] : []))
  if (new Set(names).size !== names.length) return undefined
  const port = values.port
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return undefined
  const config = values.config
  if (config !== undefined && !["file", "missing"].includes(kind(config))) return undefined
  const logDir = values["log-dir"]
  if (logDir !== undefined && !["directory", "missing"].includes(kind(logDir))) return undefined
  return { config, host: values.host, port: port === undefined ? undefined : Number(port), logDir }
}

/** Run serve when `args` is a command line this reader takes; false means: use the full CLI. */
export const start = async (args: ReadonlyArray<string>): Promise<boolean> => {
  const parsed = parse(args)
  if (parsed === undefined) return false
  const [{ runMain }, { RoutingConfig }, Effect, Option, Serve, { reported }] = await Promise.all([
    import("@effect/platform-node/NodeRuntime"),
    import("@local-router/core"),
    import("effect/Effect"),
    import("effect/Option"),
    import("./Serve.ts"),
    import("../ExitCode.ts")
  ])
  RoutingConfig.locate({ flag: parsed.config }).pipe(
    Effect.flatMap((file) =>
      Serve.run({
        file,
        host: Option.fromNullable(parsed.host),
        port: Option.fromNullable(parsed.port),
        logDir: Option.fromNullable(parsed.logDir)
      })
    ),
    reported,
    runMain
  )
  return true
}
