/**
 * Pulling on start is opt-in (`supervise: { pull: { onStart: true } }`): by default serve never
 * downloads a model unasked, and `local-router routes` says which servers would pull what.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { freePort, phase, repo, routing, superviseFile, tempDir, waitFor, writeRouting } from "./Fixture.ts"

const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

/** An Ollama simulator under supervision with no model yet; every pull is allowed and quick. */
const ollamaWithout = (supervise: Record<string, unknown>) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const dir = tempDir()
    const file = writeRouting(dir, routing({
      ollama: {
        kind: "ollama",
        port,
        args: ["--models", "", "--registry", "*", "--pull-ms", "100", "--pull-tick-ms", "20"],
        supervise: { health: { interval: "100ms", failures: 2, full: "150ms" }, ...supervise }
      }
    }))
    const scope = yield* Scope.make()
    const { supervisor } = yield* Scope.provide(superviseFile(file, { logDir: `${dir}/logs` }), scope)
    const server = (yield* supervisor.server("ollama"))!
    const requests = Effect.promise(async () =>
      ((await (await fetch(`http://127.0.0.1:${port}/__sim/requests`)).json()) as { requests: ReadonlyArray<{ method: string; path: string }> }).requests
    )
    return { server, scope, requests, file }
  })

describe("pull on start", () => {
  it.live("off by default: a server missing its model is watched through several full probes and never pulled", () =>
    Effect.gen(function*() {
      const { requests, scope, server } = yield* ollamaWithout({})
      const ready = yield* waitFor(server, phase("ready"))
      expect(ready.models?.missing).toEqual(["phi3.5:3.8b"])
      // A pull on start would begin at `ready`, before any of these later full probes.
      const tags = (r: ReadonlyArray<{ path: string }>) => r.filter((x) => x.path === "/api/tags").length
      const before = tags(yield* requests)
      let seen = yield* requests
      while (tags(seen) < before + 3) seen = yield* Effect.andThen(Effect.sleep("50 millis"), requests)
      expect(seen.filter((r) => r.path === "/api/pull")).toEqual([])
      expect((yield* server.status).models?.missing).toEqual(["phi3.5:3.8b"])
      yield* Scope.close(scope, Exit.void)
    }).pipe(quiet), 30_000)

  it.live("onStart: true pulls the missing model once the server is ready", () =>
    Effect.gen(function*() {
      const { requests, scope, server } = yield* ollamaWithout({ pull: { onStart: true } })
      const done = yield* waitFor(server, (s) => s.phase === "ready" && s.models?.missing.length === 0 && s.pull === undefined)
      expect(done.models?.present).toEqual(["phi3.5:3.8b"])
      expect((yield* requests).filter((r) => r.path === "/api/pull").length).toBeGreaterThan(0)
      yield* Scope.close(scope, Exit.void)
    }).pipe(quiet), 30_000)

  it.live("local-router routes shows, per supervised server, whether it pulls on start and which models", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const config = routing({
        ollama: { kind: "ollama", port: 1 },
        mlx: { kind: "mlx", port: 2, supervise: { pull: { onStart: true, command: ["true"] } } }
      })
      const file = writeRouting(dir, config)
      const bin = path.join(repo, "apps/supervisor/dist/bin.js")
      const run = (args: ReadonlyArray<string>) =>
        Effect.promise(() => promisify(execFile)(process.execPath, [bin, "routes", "--config", file, ...args], { env: { ...process.env, NO_COLOR: "1" } }))
      const text = (yield* run([])).stdout
      expect(text).toMatch(/^Pull on start .*default off\):$/m)
      expect(text).toMatch(/^ {2}ollama +off \(default\) +models: phi3\.5:3\.8b$/m)
      expect(text).toMatch(/^ {2}mlx +on +models: sim-model$/m)
      const json = JSON.parse((yield* run(["--json"])).stdout) as { pullOnStart: ReadonlyArray<unknown> }
      expect(json.pullOnStart).toEqual([
        { backend: "ollama", onStart: false, isDefault: true, models: ["phi3.5:3.8b"] },
        { backend: "mlx", onStart: true, isDefault: false, models: ["sim-model"] }
      ])
    }), 30_000)
})
