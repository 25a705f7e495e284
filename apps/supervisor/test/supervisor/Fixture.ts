/**
 * Real servers for supervisor tests: routing.yaml files whose `supervise:` blocks run the
 * simulators (or a tiny fake server) as real child processes on ports the OS picked, and ways
 * to wait for a server's state and to check the process table.
 */
import { type Backend, LiveRouting } from "@local-router/core"
import { Simulator } from "@local-router/simulators"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { definition as mlx } from "../../../../packages/backend-mlx/src/index.ts"
import { definition as moondream } from "../../../../packages/backend-moondream/src/index.ts"
import { definition as ollama } from "../../../../packages/backend-ollama/src/index.ts"
import type * as Server from "../../src/supervisor/Server.ts"
import * as Supervise from "../../src/supervisor/Supervise.ts"
import * as Supervisor from "../../src/supervisor/Supervisor.ts"

export const repo = path.resolve(import.meta.dirname, "../../../..")

/** The built-in backends, registered the way the CLI registers them (Builtins.ts). */
export const builtins: ReadonlyMap<string, Backend.Definition> = new Map<string, Backend.Definition>([
  ["ollama", ollama as Backend.Definition],
  ["mlx", mlx as Backend.Definition],
  ["moondream", moondream as Backend.Definition]
])
/** What the CLI's LiveRouting is given (Builtins.loaderOptions): `supervise:` blocks are checked. */
export const loader = { builtins, superviseSchema: Supervise.Field }

/** routing.yaml's one reader (LiveRouting) and a Supervisor following it, in the current scope. */
export const superviseFile = (file: string, options: Supervisor.Options & { readonly watch?: boolean }) =>
  Effect.gen(function*() {
    const { watch = false, ...rest } = options
    const live = yield* LiveRouting.make(file, { ...loader, watch, debounce: "100 millis" })
    const supervisor = yield* Effect.provideService(Supervisor.make(rest), LiveRouting.LiveRouting, live)
    return { live, supervisor }
  })
export type Kind = "ollama" | "mlx" | "moondream"

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

export const tempDir = (prefix = "lr-sup-") => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

export interface ServerSpec {
  readonly kind: Kind
  readonly port: number
  /** Extra simulator flags. */
  readonly args?: ReadonlyArray<string>
  /** Replaces the whole supervise block's command and args (e.g. a fake server). */
  readonly command?: string
  readonly commandArgs?: ReadonlyArray<string>
  readonly supervise?: Record<string, unknown>
  readonly model?: string
  /** The backend's own options (e.g. probeTimeout). */
  readonly options?: Record<string, unknown>
}

const urlOf = (spec: ServerSpec) =>
  spec.kind === "moondream" ? `http://127.0.0.1:${spec.port}/v1` : `http://127.0.0.1:${spec.port}`

const defaultModel: Record<Kind, string> = { ollama: "phi3.5:3.8b", mlx: "sim-model", moondream: "moondream-2" }

/** The supervise block that runs a simulator. `--die-with-stdin`: it dies with the test runner. */
export const simBlock = (spec: ServerSpec): Record<string, unknown> => ({
  command: spec.command ?? process.execPath,
  args: spec.commandArgs ?? [
    "--disable-warning=ExperimentalWarning",
    Simulator.binPath(spec.kind),
    "--port",
    "{port}",
    "--die-with-stdin",
    ...(spec.kind === "moondream" ? ["--home", tempDir("lr-sup-md-")] : []),
    ...(spec.kind === "mlx" ? ["--model", spec.model ?? defaultModel.mlx] : []),
    ...(spec.args ?? [])
  ],
  readiness: { deadline: "10s", interval: "50ms" },
  health: { interval: "200ms", failures: 2 },
  restart: { backoffMin: "100ms", backoffMax: "1s", window: "20s", limit: 4 },
  stop: { grace: "1s" },
  ...spec.supervise
})

/** A routing.yaml (written as JSON, which is YAML) supervising the given servers. */
export const routing = (servers: Readonly<Record<string, ServerSpec>>) => {
  const names = Object.keys(servers)
  return {
    version: 1,
    backends: Object.fromEntries(names.map((name) => {
      const spec = servers[name]!
      return [name, { type: spec.kind, url: urlOf(spec), ...spec.options, supervise: simBlock(spec) }]
    })),
    priorities: { text: names, image: names },
    categories: Object.fromEntries(names.map((name) => [`c_${name.replace(/[^A-Za-z0-9]/g, "_")}`, {
      input: servers[name]!.kind === "moondream" ? "image" : "text",
      models: { [name]: servers[name]!.model ?? defaultModel[servers[name]!.kind] }
    }]))
  }
}

export const writeRouting = (dir: string, config: unknown) => {
  const file = path.join(dir, "routing.yaml")
  fs.writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

/** The server's status once `predicate` holds; fails with the last status after `ms`. */
export const waitFor = (server: Server.Server, predicate: (s: Server.Status) => boolean, ms = 15_000) =>
  server.changes.pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.flatMap(Option.match({ onNone: () => Effect.die(new Error("status stream ended")), onSome: Effect.succeed })),
    Effect.timeoutOrElse({ duration: Duration.millis(ms), orElse: () => Effect.fail("timeout" as const) }),
    Effect.catch(() =>
      Effect.flatMap(server.status, (s) => Effect.die(new Error(`${server.name}: condition not met within ${ms}ms; last status: ${JSON.stringify(s, null, 2)}`)))
    )
  )

export const phase = (p: Server.Status["phase"]) => (s: Server.Status) => s.phase === p

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Processes whose process group is `pgid` (the whole tree of a supervised child). */
export const groupMembers = (pgid: number): ReadonlyArray<number> =>
  execFileSync("ps", ["-eo", "pid=,pgid=,stat="], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3 && Number(f[1]) === pgid && !f[2]!.startsWith("Z"))
    .map((f) => Number(f[0]))

/** Poll a plain condition until it holds (no sleeps standing in for waiting). */
export const until = (what: string, condition: () => boolean, ms = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`${what}: not true within ${ms}ms`))
      yield* Effect.sleep(Duration.millis(25))
    }
  })
