/** Pulling models through the supervisor's Pull: progress, a free-disk check, interrupted and resumed. */
import { describe, expect, it } from "@effect/vitest"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import * as LogFile from "../../src/supervisor/LogFile.ts"
import * as Plans from "../../src/supervisor/Plans.ts"
import * as Pull from "../../src/supervisor/Pull.ts"
import { loader, repo, routing, tempDir, writeRouting } from "./Fixture.ts"

const sim = Effect.acquireRelease(
  Effect.promise(() => Simulator.start("ollama", { args: ["--models", "", "--registry", "*", "--pull-ms", "1500", "--pull-tick-ms", "30"] })),
  (s) => Effect.promise(() => s.stop())
)

const serverFor = (port: number, supervise: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const dir = tempDir()
    const file = writeRouting(dir, routing({ ollama: { kind: "ollama", port, supervise } }))
    const loaded = yield* Plans.load(file, loader)
    const server = loaded.servers[0]!
    return { server, backend: Result.getOrThrow(server.backend), log: LogFile.open(`${dir}/logs`, "ollama"), dir, file }
  })

describe("pull", () => {
  it.live("an interrupted pull resumes from the bytes already downloaded", () =>
    Effect.gen(function*() {
      const ollama = yield* sim
      const { backend, log, server } = yield* serverFor(ollama.port)
      const input = { plan: server.plan, backend, model: "llava:7b", log }
      const first = yield* Stream.runCollect(Pull.run(input).pipe(Stream.takeUntil((p) => (p.completed ?? 0) > 0 && p.completed! < p.total!)))
      const reached = first.at(-1)!.completed!
      expect(reached).toBeGreaterThan(0)
      expect(yield* backend.models).not.toContain("llava:7b")

      const second = yield* Stream.runCollect(Pull.run(input))
      const resumedAt = second.find((p) => p.status === first.at(-1)!.status && p.completed !== undefined)!
      expect(resumedAt.completed).toBeGreaterThanOrEqual(reached)
      expect(second.at(-1)!.status).toBe("success")
      expect(yield* backend.models).toContain("llava:7b")
    }))

  it.live("a pull is refused, saying why, when the disk has less free space than pull.minFreeDisk", () =>
    Effect.gen(function*() {
      const ollama = yield* sim
      const { backend, log, server } = yield* serverFor(ollama.port, { pull: { minFreeDisk: "1000000TB" } })
      const error = yield* Effect.flip(Stream.runDrain(Pull.run({ plan: server.plan, backend, model: "llava:7b", log })))
      expect(error.reason).toBe("NoSpace")
      expect(error.message).toMatch(/not pulling llava:7b on ollama: .* GB free at .*, below pull\.minFreeDisk/)
    }))

  it.live("local-router pull <backend> <model> prints JSON lines of progress when stdout is not a terminal", () =>
    Effect.gen(function*() {
      const ollama = yield* sim
      const { file } = yield* serverFor(ollama.port)
      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)(process.execPath, [path.join(repo, "apps/supervisor/dist/bin.js"), "pull", "--config", file, "ollama", "tinyllama:1.1b-chat"], {
          env: { ...process.env, LOCAL_ROUTER_LOG_DIR: tempDir() }
        })
      )
      const lines = stdout.trim().split("\n").map((l) => JSON.parse(l) as { backend: string; model: string; status: string; completed?: number })
      expect(lines[0]).toMatchObject({ backend: "ollama", model: "tinyllama:1.1b-chat", status: "pulling manifest" })
      expect(lines.some((l) => (l.completed ?? 0) > 0)).toBe(true)
      expect(lines.at(-1)!.status).toBe("success")
    }), 30_000)
})
