/** `local-router serve` and `status` as real processes: the status API, and SIGTERM leaving no child behind. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile, spawn } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { alive, freePort, groupMembers, repo, routing, tempDir, until, writeRouting } from "./Fixture.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")
const node = (args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", bin, ...args], { env: { ...process.env, NO_COLOR: "1" } })

interface StatusJson {
  readonly from: string
  readonly servers: ReadonlyArray<{ name: string; phase: string; pid?: number; models?: { present: Array<string>; missing: Array<string> } }>
}

describe("local-router serve / status", () => {
  it.live("serve supervises routing.yaml's servers, status reports them, SIGTERM stops every child", () =>
    Effect.gen(function*() {
      const [api, a] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
      const dir = tempDir()
      const file = writeRouting(dir, routing({ ollama: { kind: "ollama", port: a! } }))
      const before = yield* Effect.promise(() => node(["status", "--json", "--config", file, "--port", String(api)]))
      const direct = JSON.parse(before.stdout) as StatusJson
      expect(direct.from).toMatch(/^direct probes/)
      expect(direct.servers[0]).toMatchObject({ name: "ollama", phase: "stopped" })

      const serve = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", bin, "serve", "--config", file, "--port", String(api), "--log-dir", `${dir}/logs`], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      serve.stdout.on("data", (d) => (output += d))
      serve.stderr.on("data", (d) => (output += d))
      const exited = new Promise<number | null>((resolve) => serve.once("exit", (code) => resolve(code)))
      yield* Effect.addFinalizer(() => Effect.sync(() => serve.kill("SIGKILL")))

      // Poll the gateway's /status itself (cheap; the supervisor's view sits under `supervisor`),
      // then ask once through the CLI.
      yield* Effect.gen(function*() {
        while (true) {
          const body = yield* Effect.promise(() =>
            fetch(`http://127.0.0.1:${api}/status`).then((r) => r.json() as Promise<{ supervisor?: StatusJson }>, () => undefined)
          )
          if (body?.supervisor?.servers[0]?.phase === "ready") {
            // The same address serves the OpenAI API: a category answers through the supervised server.
            const chat = yield* Effect.promise(() =>
              fetch(`http://127.0.0.1:${api}/v1/chat/completions`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "hi" }] })
              }).then(async (r) => ({ status: r.status, backend: r.headers.get("x-local-router-backend"), body: await r.text() }))
            )
            expect(chat, chat.body).toMatchObject({ status: 200, backend: "ollama" })
            return
          }
          yield* Effect.sleep("50 millis")
        }
      }).pipe(Effect.timeoutOrElse({ duration: "25 seconds", orElse: () => Effect.fail(new Error(`never ready:\n${output}`)) }))
      const r = yield* Effect.promise(() => node(["status", "--json", "--config", file, "--port", String(api)]))
      const status = JSON.parse(r.stdout) as StatusJson
      expect(status.from).toMatch(/^the supervisor at/)
      expect(status.servers[0]!.models).toEqual({ present: ["phi3.5:3.8b"], missing: [], loaded: [] })
      const pid = status.servers[0]!.pid!

      serve.kill("SIGTERM")
      yield* Effect.promise(() => exited)
      expect(output).toMatch(/ollama: ready -> stopped: supervisor stopping/)
      yield* until("the server's process group is gone", () => !alive(pid) && groupMembers(pid).length === 0, 3_000)
    }).pipe(Effect.scoped), 45_000)
})
