/**
 * The shared `main` of the simulator executables: parse flags, build the simulator, serve it.
 * A bad flag or a failed bind ends the process with exit code 2 and the reason on stderr, so
 * a parent waiting for the ready line gets an answer instead of a timeout.
 */
import * as Cli from "./Cli.ts"
import * as Harness from "./Harness.ts"

export interface Built {
  readonly definition: Harness.Definition
  /** The real server's port, used when `--port` is not given. */
  readonly defaultPort: number
  readonly bind?: Harness.Options["bind"]
}

export const run = async (
  sim: string,
  summary: string,
  flags: ReadonlyArray<Cli.Flag>,
  build: (parsed: Cli.Parsed) => Built | Promise<Built>
): Promise<void> => {
  try {
    const parsed = Cli.parse(sim, summary, flags, process.argv.slice(2))
    const built = await build(parsed)
    await Harness.serve(built.definition, {
      host: parsed.host,
      // A custom bind decides the port itself (Station reads it from its config file).
      port: built.bind !== undefined || parsed.port === undefined ? built.defaultPort : Cli.number("port", parsed.port),
      faults: parsed.faults,
      dieWithStdin: parsed.values["die-with-stdin"] === true,
      ignoreSigterm: parsed.values["ignore-sigterm"] === true,
      ...(built.bind !== undefined ? { bind: built.bind } : {})
    })
  } catch (e) {
    process.stderr.write(`sim-${sim}: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(2)
  }
}
