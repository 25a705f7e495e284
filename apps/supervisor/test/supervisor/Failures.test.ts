/** What the supervisor does when servers misbehave: real processes, faults injected from outside. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import { alive, freePort, groupMembers, phase, routing, superviseFile, tempDir, waitFor, writeRouting } from "./Fixture.ts"

const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

const supervise = (config: unknown, watch = false) =>
  Effect.gen(function*() {
    const dir = tempDir()
    const file = writeRouting(dir, config)
    const scope = yield* Scope.make()
    const { live, supervisor } = yield* Scope.provide(superviseFile(file, { logDir: `${dir}/logs`, watch, recheck: 500 }), scope)
    const server = (name: string) => Effect.flatMap(supervisor.server(name), (s) => (s ? Effect.succeed(s) : Effect.die(new Error(`no server ${name}`))))
    return { live, supervisor, scope, dir, file, server }
  })

describe("supervisor failure handling (real processes)", () => {
  it.live("a server that crashes at start backs off, then is failed with its last stderr lines", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { scope, server } = yield* supervise(routing({ ollama: { kind: "ollama", port, args: ["--no-such-flag"] } }))
      const s = yield* Effect.flatMap(server("ollama"), (srv) => waitFor(srv, phase("failed")))
      expect(s.reason).toMatch(/crash loop: 4 failures/)
      expect(s.lastError).toMatch(/exited with code 2/)
      expect(s.lastLines.join("\n")).toMatch(/sim-ollama: .*no-such-flag/)
      expect(s.restarts).toBe(3)
      const log = fs.readFileSync(s.log, "utf8")
      expect(log).toMatch(/starting -> backing-off: .*exited with code 2; starting again in \d+ms/)
      expect(log).toMatch(/starting -> failed: crash loop/)
      yield* Scope.close(scope, Exit.void)
    }).pipe(quiet))

  it.live("a server that hangs turns unhealthy and is restarted", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { scope, server } = yield* supervise(routing({ ollama: { kind: "ollama", port, options: { probeTimeout: "300ms" } } }))
      const srv = yield* server("ollama")
      const first = yield* waitFor(srv, phase("ready"))
      // Every request from now on hangs before its headers (control routes still answer).
      yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/__sim/faults`, { method: "POST", body: JSON.stringify([{ kind: "hangBeforeHeaders" }]) })
      )
      const sick = yield* waitFor(srv, phase("unhealthy"))
      expect(sick.reason).toMatch(/health probe 1\/2 failed/)
      const again = yield* waitFor(srv, (s) => s.phase === "ready" && s.pid !== first.pid)
      expect(again.lastError).toMatch(/2 health probes failed in a row/)
      expect(alive(first.pid!)).toBe(false)
      yield* Scope.close(scope, Exit.void)
    }).pipe(quiet))

  it.live("between full probes a healthy server gets only GET /; a hang there still brings the full probe and a restart", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { scope, server } = yield* supervise(routing({
        ollama: { kind: "ollama", port, options: { probeTimeout: "300ms" }, supervise: { health: { interval: "100ms", failures: 2, full: "1h" } } }
      }))
      const srv = yield* server("ollama")
      const first = yield* waitFor(srv, phase("ready"))
      const sim = `http://127.0.0.1:${port}/__sim`
      yield* Effect.promise(() => fetch(`${sim}/requests`, { method: "DELETE" }))
      yield* Effect.sleep("1 second")
      const seen = yield* Effect.promise(() =>
        fetch(`${sim}/requests`).then((r) => r.json() as Promise<{ requests: ReadonlyArray<{ path: string }> }>)
      )
      const paths = seen.requests.map((r) => r.path)
      expect(paths.length).toBeGreaterThanOrEqual(3)
      expect(new Set(paths)).toEqual(new Set(["/"]))
      yield* Effect.promise(() => fetch(`${sim}/faults`, { method: "POST", body: JSON.stringify([{ kind: "hangBeforeHeaders" }]) }))
      const sick = yield* waitFor(srv, phase("unhealthy"))
      expect(sick.reason).toMatch(/health probe 1\/2 failed/)
      const again = yield* waitFor(srv, (s) => s.phase === "ready" && s.pid !== first.pid)
      expect(again.lastError).toMatch(/2 health probes failed in a row/)
      yield* Scope.close(scope, Exit.void)
    }).pipe(quiet))

  it.live("a port taken by a foreign program is a clear error, not a crash loop", () =>
    Effect.gen(function*() {
      const foreign = yield* Effect.acquireRelease(
        Effect.callback<net.Server>((resume) => {
          const server = net.createServer((socket) => {
            socket.on("error", () => {})
            socket.end("SSH-2.0-not-a-model-server\r\n")
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const port = (foreign.address() as net.AddressInfo).port
      const { scope, server } = yield* supervise(routing({ ollama: { kind: "ollama", port } }))
      const s = yield* Effect.flatMap(server("ollama"), (srv) => waitFor(srv, phase("failed")))
      expect(s.reason).toMatch(new RegExp(`port 127.0.0.1:${port} is taken by another program`))
      expect(s.restarts).toBe(0)
      expect(s.pid).toBeUndefined()
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped, quiet))

  it.live("a config edit restarts only the changed server; a bad edit keeps everything running and says where", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
      const config = routing({ one: { kind: "ollama", port: a! }, two: { kind: "ollama", port: b! } })
      const { live, scope, server, file, supervisor } = yield* supervise(config, true)
      const one = yield* waitFor(yield* server("one"), phase("ready"))
      const two = yield* waitFor(yield* server("two"), phase("ready"))

      const edited = routing({ one: { kind: "ollama", port: a! }, two: { kind: "ollama", port: b!, args: ["--tokens", "4"] } })
      fs.writeFileSync(file, JSON.stringify(edited, null, 2))
      // The watcher picks the edit up: a new `two` (new server object, new pid); `one` untouched.
      const twoAgain = yield* Effect.gen(function*() {
        while (true) {
          const s = yield* Effect.flatMap(server("two"), (srv) => srv.status)
          if (s.phase === "ready" && s.pid !== two.pid) return s
          yield* Effect.sleep("25 millis")
        }
      }).pipe(Effect.timeout("15 seconds"))
      expect(twoAgain.command).toContain("--tokens 4")
      expect(alive(two.pid!)).toBe(false)
      expect(yield* Effect.flatMap(server("one"), (s) => s.status)).toMatchObject({ phase: "ready", pid: one.pid })

      const bad = routing({
        one: { kind: "ollama", port: a! },
        two: { kind: "ollama", port: b!, args: ["--tokens", "4"], supervise: { restart: { limit: "lots" } } }
      })
      fs.writeFileSync(file, JSON.stringify(bad, null, 2))
      const outcome = yield* live.reload
      expect(outcome._tag).toBe("Rejected")
      const snapshot = yield* supervisor.snapshot
      expect(snapshot.configError).toMatch(/routing\.yaml:\d+:\d+ backends\.two\.supervise\.restart\.limit: expected a whole number above 0/)
      expect(snapshot.servers.map((s) => [s.name, s.phase, s.pid])).toEqual([["one", "ready", one.pid], ["two", "ready", twoAgain.pid]])
      yield* Scope.close(scope, Exit.void)
      expect(groupMembers(one.pid!)).toEqual([])
      expect(groupMembers(twoAgain.pid!)).toEqual([])
    }).pipe(quiet))
})
