/**
 * `GET /health` of a real serve: ok (200) when every category can be answered, degraded (200)
 * listing the ones that cannot and why, unavailable (503) when none can.
 */
import { describe, expect, it } from "@effect/vitest"
import { Health } from "@local-router/gateway"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { freePort, repo, routing, tempDir, writeRouting } from "./Fixture.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")

interface HealthBody {
  readonly status: string
  readonly unavailable: ReadonlyArray<{ category: string; why: string }>
  readonly categories: number
}

/** serve over `config`; polls /health until `until` holds (the supervisor needs a moment to find out). */
const healthOf = (config: unknown, until: (status: number, body: HealthBody) => boolean) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const dir = tempDir()
    const file = writeRouting(dir, config)
    const serve = spawn(process.execPath, [bin, "serve", "--config", file, "--port", String(port), "--log-dir", `${dir}/logs`], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    serve.stdout.on("data", (d) => (output += d))
    serve.stderr.on("data", (d) => (output += d))
    yield* Effect.addFinalizer(() => Effect.sync(() => serve.kill("SIGKILL")))
    let last: { status: number; body: HealthBody } | undefined
    return yield* Effect.gen(function*() {
      while (true) {
        last = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}/health`).then(async (r) => ({ status: r.status, body: (await r.json()) as HealthBody }), () => undefined)
        )
        if (last && until(last.status, last.body)) return last
        yield* Effect.sleep("100 millis")
      }
    }).pipe(Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error(`last /health: ${JSON.stringify(last)}\n${output}`)) }))
  })

describe("/health", () => {
  it("ok, degraded or unavailable from the routes as they would go now", () => {
    const route = (category: string, answer: boolean, skips: ReadonlyArray<[string, string]>) => ({
      category,
      input: "text",
      answer: answer ? { backend: "b", model: "m" } : undefined,
      candidates: skips.map(([backend, skip]) => ({ backend, model: "m", skip }))
    })
    expect(Health.of([route("fast", true, []), route("code", true, [])])).toEqual({ status: "ok", unavailable: [], categories: 2 })
    const degraded = Health.of([route("fast", true, []), route("code", false, [["mlx", "server not-installed"], ["cloud", "circuit open"]])])
    expect(degraded).toEqual({ status: "degraded", unavailable: [{ category: "code", why: "mlx: server not-installed; cloud: circuit open" }], categories: 2 })
    expect(Health.httpStatus(degraded.status)).toBe(200)
    const none = Health.of([route("fast", false, [["mlx", "server failed"]])])
    expect(none.status).toBe("unavailable")
    expect(Health.httpStatus(none.status)).toBe(503)
  })

  it.live("a real serve: degraded (200) while one server is not installed, naming its category and why; ok once nothing is missing", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
      const degraded = yield* healthOf(
        routing({ ollama: { kind: "ollama", port: a! }, mlx: { kind: "mlx", port: b!, command: "/nonexistent/mlx_lm.server" } }),
        (_, body) => body.unavailable.length === 1 && body.unavailable[0]!.why.includes("not-installed")
      )
      expect(degraded.status).toBe(200)
      expect(degraded.body.status).toBe("degraded")
      expect(degraded.body.unavailable).toEqual([{ category: "c_mlx", why: "mlx: server not-installed" }])
      const ok = yield* healthOf(routing({ ollama: { kind: "ollama", port: a! } }), (status, body) => status === 200 && body.status === "ok")
      expect(ok.body).toEqual({ status: "ok", unavailable: [], categories: 1 })
    }).pipe(Effect.scoped), 60_000)

  it.live("a real serve whose only server cannot run: unavailable, 503", () =>
    Effect.gen(function*() {
      const b = yield* Effect.promise(freePort)
      const none = yield* healthOf(routing({ mlx: { kind: "mlx", port: b, command: "/nonexistent/mlx_lm.server" } }), (status, body) => status === 503 && body.unavailable[0]?.why === "mlx: server not-installed")
      expect(none.body).toEqual({ status: "unavailable", unavailable: [{ category: "c_mlx", why: "mlx: server not-installed" }], categories: 1 })
    }).pipe(Effect.scoped), 60_000)
})
