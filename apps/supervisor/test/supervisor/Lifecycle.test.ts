/** Supervising real simulator processes: start, adopt, recover from kill -9, shut down cleanly. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import type * as Supervisor from "../../src/supervisor/Supervisor.ts"
import { alive, freePort, groupMembers, phase, routing, superviseFile, tempDir, until, waitFor, writeRouting } from "./Fixture.ts"

const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

const supervise = (config: unknown) =>
  Effect.gen(function*() {
    const dir = tempDir()
    const file = writeRouting(dir, config)
    const scope = yield* Scope.make()
    const { supervisor } = yield* Scope.provide(superviseFile(file, { logDir: `${dir}/logs`, recheck: 500 }), scope)
    return { supervisor, scope, dir, file }
  })

const serverOf = (supervisor: Supervisor.Supervisor, name: string) =>
  Effect.flatMap(supervisor.server(name), (s) => (s ? Effect.succeed(s) : Effect.die(new Error(`no server ${name}`))))

describe("supervisor lifecycle (real processes)", () => {
  it.live("starts ollama, mlx and moondream simulators until each is ready; shutdown leaves no process behind", () =>
    Effect.gen(function*() {
      const [a, b, c] = yield* Effect.promise(() => Promise.all([freePort(), freePort(), freePort()]))
      const { supervisor, scope } = yield* supervise(routing({
        ollama: { kind: "ollama", port: a! },
        mlx: { kind: "mlx", port: b! },
        moondream: { kind: "moondream", port: c! }
      }))
      const pids: Array<number> = []
      for (const name of ["ollama", "mlx", "moondream"]) {
        const s = yield* waitFor(yield* serverOf(supervisor, name), phase("ready"))
        expect(s.probe).toBe("backend")
        expect(s.pid).toBeGreaterThan(0)
        pids.push(s.pid!)
      }
      const ollama = yield* (yield* serverOf(supervisor, "ollama")).status
      expect(ollama.models).toEqual({ present: ["phi3.5:3.8b"], missing: [], loaded: [] })
      // Ollama pulls through its API; Station and mlx_lm (without a pull.command) cannot pull.
      const canPull = yield* Effect.forEach(["ollama", "mlx", "moondream"], (name) => Effect.map(Effect.flatMap(serverOf(supervisor, name), (x) => x.status), (x) => x.canPull))
      expect(canPull).toEqual([true, false, false])
      yield* Scope.close(scope, Exit.void)
      for (const pid of pids) {
        expect(alive(pid)).toBe(false)
        expect(groupMembers(pid)).toEqual([])
      }
      const after = yield* (yield* serverOf(supervisor, "ollama")).status
      expect(after.phase).toBe("stopped")
    }).pipe(quiet))

  it.live("kill -9 of a server: restarted and ready again without any request arriving", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { supervisor, scope } = yield* supervise(routing({ ollama: { kind: "ollama", port } }))
      const server = yield* serverOf(supervisor, "ollama")
      const first = yield* waitFor(server, phase("ready"))
      process.kill(first.pid!, "SIGKILL")
      const again = yield* waitFor(server, (s) => s.phase === "ready" && s.pid !== first.pid)
      expect(again.restarts).toBe(1)
      expect(again.lastError).toMatch(/killed by SIGKILL/)
      yield* Scope.close(scope, Exit.void)
      expect(alive(again.pid!)).toBe(false)
    }).pipe(quiet))

  it.live("adopts a server already listening on the port instead of starting another", () =>
    Effect.gen(function*() {
      const { Simulator } = yield* Effect.promise(() => import("@local-router/simulators"))
      const running = yield* Effect.acquireRelease(
        Effect.promise(() => Simulator.start("ollama")),
        (sim) => Effect.promise(() => sim.stop())
      )
      const { supervisor, scope } = yield* supervise(routing({ ollama: { kind: "ollama", port: running.port } }))
      const server = yield* serverOf(supervisor, "ollama")
      const s = yield* waitFor(server, phase("adopted"))
      expect(s.pid).toBeUndefined()
      expect(s.models?.present).toEqual(["phi3.5:3.8b"])
      yield* Scope.close(scope, Exit.void)
      // Not ours: it keeps running after the supervisor stops.
      expect(alive(running.pid)).toBe(true)
    }).pipe(Effect.scoped, quiet))

  it.live("a server that ignores SIGTERM is killed after the grace period, with its whole group", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { supervisor, scope } = yield* supervise(routing({
        ollama: { kind: "ollama", port, args: ["--ignore-sigterm"], supervise: { stop: { grace: "700ms" } } }
      }))
      const s = yield* waitFor(yield* serverOf(supervisor, "ollama"), phase("ready"))
      const t0 = Date.now()
      yield* Scope.close(scope, Exit.void)
      const took = Date.now() - t0
      expect(took).toBeGreaterThanOrEqual(650)
      expect(took).toBeLessThan(5_000)
      yield* until("the group is gone", () => groupMembers(s.pid!).length === 0, 2_000)
    }).pipe(quiet))
})
