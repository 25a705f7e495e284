/**
 * A server that stays in trouble is checked again and again (a missing binary, a port held by
 * another program): its WARN is logged once, and again only when what is wrong changes.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as Policy from "../../src/supervisor/Policy.ts"
import { phase, routing, superviseFile, tempDir, until, waitFor, writeRouting } from "./Fixture.ts"

describe("repeated warnings", () => {
  it.each([
    [{ phase: "not-installed", reason: "mlx_lm.server not found" }, "not-installed", "mlx_lm.server not found", false],
    [{ phase: "not-installed", reason: "mlx_lm.server not found" }, "not-installed", "mlx_lm.server not found (looked in /opt)", true],
    [{ phase: "not-installed", reason: "mlx_lm.server not found" }, "starting", "started", true],
    [{ phase: "failed", reason: "port taken" }, "failed", "port taken", false],
    [{ phase: "ready", reason: "answers" }, "ready", "probes answer again", true]
  ] as const)("%j -> %s (%s) is news: %s", (from, to, reason, news) => {
    expect(Policy.isNews(from, to, reason)).toBe(news)
  })

  it.live("a port held by another program, checked again many times, is one WARN line and one log-file line", () => {
    const warnings: Array<string> = []
    const collect = Logger.make((o) => {
      if (o.logLevel === "Warn") warnings.push(String(o.message))
    })
    return Effect.gen(function*() {
      let connections = 0
      const foreign = yield* Effect.acquireRelease(
        Effect.callback<net.Server>((resume) => {
          const server = net.createServer((socket) => {
            connections++
            socket.on("error", () => {})
            socket.end("SSH-2.0-not-a-model-server\r\n")
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const port = (foreign.address() as net.AddressInfo).port
      const dir = tempDir()
      const file = writeRouting(dir, routing({ ollama: { kind: "ollama", port } }))
      const scope = yield* Scope.make()
      const { supervisor } = yield* Scope.provide(superviseFile(file, { logDir: `${dir}/logs`, recheck: 50 }), scope)
      const server = (yield* supervisor.server("ollama"))!
      const first = yield* waitFor(server, phase("failed"))
      // Each check connects twice (the probe, then the port test): wait for at least five more checks.
      const seen = connections
      yield* until("five more checks", () => connections >= seen + 10)
      const later = yield* server.status
      expect(later.phase).toBe("failed")
      expect(later.since).toBe(first.since)
      const taken = warnings.filter((w) => w.includes("is taken by another program"))
      expect(taken).toHaveLength(1)
      const log = fs.readFileSync(first.log, "utf8")
      expect(log.match(/is taken by another program/g)).toHaveLength(1)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([collect])))
  })
})
