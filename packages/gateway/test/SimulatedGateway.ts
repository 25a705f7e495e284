/**
 * The gateway over the real MLX and Ollama backends, with sim-mlx and sim-ollama as real
 * processes on ports the OS gave, for end-to-end tests with the official clients. `use`
 * registers the suite's hooks: before it, both simulators, a routing.yaml naming them (its
 * `backends:` block, then the suite's own rest) and the gateway; after each test, the
 * simulators' faults cleared; after the suite, everything stopped and removed.
 */
import { definition as mlx } from "@local-router/backend-mlx"
import { definition as ollama } from "@local-router/backend-ollama"
import { type Backend, LiveRouting, Router } from "@local-router/core"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, afterEach, beforeAll } from "vitest"
import { Gateway } from "../src/index.ts"

const builtins = new Map<string, Backend.Definition>([
  ["mlx", mlx as Backend.Definition],
  ["ollama", ollama as Backend.Definition]
])

export interface Simulated {
  /** The gateway's URL. */
  readonly url: string
  readonly sims: { readonly mlx: Simulator.Running; readonly ollama: Simulator.Running }
}

export const use = (options: {
  /** sim-mlx's and sim-ollama's command-line arguments. */
  readonly mlx: ReadonlyArray<string>
  readonly ollama: ReadonlyArray<string>
  /** routing.yaml after its `backends:` block (`defaults:`, `priorities:`, `categories:`). */
  readonly routing: string
}): Simulated => {
  const running = {} as { url: string; sims: Simulated["sims"] }
  let scope: Scope.Closeable | undefined
  let dir: string | undefined
  beforeAll(async () => {
    const [mlxSim, ollamaSim] = await Promise.all([Simulator.start("mlx", { args: [...options.mlx] }), Simulator.start("ollama", { args: [...options.ollama] })])
    running.sims = { mlx: mlxSim, ollama: ollamaSim }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-e2e-"))
    const file = path.join(dir, "routing.yaml")
    fs.writeFileSync(file, `backends:\n  mlx: { type: mlx, url: "${mlxSim.url}" }\n  ollama: { type: ollama, url: "${ollamaSim.url}" }\n${options.routing}`)
    const opened = Effect.runSync(Scope.make())
    scope = opened
    running.url = await Effect.runPromise(Effect.gen(function*() {
      const live = yield* LiveRouting.make(file, { builtins, watch: false })
      const router = yield* Router.make(live.snapshot)
      const gateway = yield* Gateway.make({ port: 0, router, routing: live })
      return gateway.url
    }).pipe(Scope.provide(opened)))
  }, 60_000)
  afterEach(async () => {
    await Promise.all([running.sims.mlx.clearFaults(), running.sims.ollama.clearFaults()])
  })
  afterAll(async () => {
    if (scope) await Effect.runPromise(Scope.close(scope, Exit.void))
    await Promise.all([running.sims?.mlx.stop(), running.sims?.ollama.stop()])
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })
  return running
}
