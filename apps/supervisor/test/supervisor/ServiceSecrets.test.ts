/**
 * The service's secrets reach serve: `serve --env-file FILE` (what the LaunchAgent and the
 * systemd unit run) reads NAME=value lines before routing.yaml, so `apiKey: env:NAME` resolves
 * in a process that never saw a shell. Real serve, real cloud simulator that checks the key.
 */
import { describe, expect, it } from "@effect/vitest"
import { Simulator } from "@local-router/simulators"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as EnvFile from "../../src/serve/EnvFile.ts"
import { freePort, repo, tempDir } from "./Fixture.ts"

const bin = path.join(repo, "apps/supervisor/dist/bin.js")
const KEY = "sk-service-secret-1234567890"
// A name no test runner sets, so the key can only come from the file.
const NAME = "LR_SERVICE_SECRETS_TEST_KEY"

/** serve on a free port until ready; answers one chat request; its output is kept. */
const askThroughServe = (file: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
    delete env[NAME]
    const serve = spawn(process.execPath, [bin, "serve", "--config", file, "--port", String(port), "--log-dir", tempDir(), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env
    })
    let output = ""
    serve.stdout.on("data", (d) => (output += d))
    serve.stderr.on("data", (d) => (output += d))
    yield* Effect.addFinalizer(() => Effect.sync(() => serve.kill("SIGKILL")))
    while (!output.includes("local-router on ")) {
      if (serve.exitCode !== null) return yield* Effect.die(new Error(`serve exited:\n${output}`))
      yield* Effect.sleep("50 millis")
    }
    const answer = yield* Effect.promise(() =>
      fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "hi" }] })
      }).then(async (r) => ({ status: r.status, body: await r.text() }))
    )
    return { answer, output: () => output }
  })

describe("service secrets", () => {
  it.live("a key in the env file reaches the cloud backend; without the file the same serve gets 401s; the key is never printed", () =>
    Effect.gen(function*() {
      const cloud = yield* Effect.acquireRelease(
        Effect.promise(() => Simulator.start("openai", { args: ["--api-key", KEY], readyTimeoutMs: 30_000 })),
        (s) => Effect.promise(() => s.stop())
      )
      const dir = tempDir()
      const file = path.join(dir, "routing.yaml")
      fs.writeFileSync(file, `
version: 1
backends:
  cloud: { type: cloud, provider: openai, url: "${cloud.url}/v1", apiKey: env:${NAME} }
priorities: { text: [cloud] }
categories:
  fast: { input: text, models: { cloud: gpt-4o-mini } }
`)
      const envFile = path.join(dir, "service.env")
      fs.writeFileSync(envFile, `# comment\n${NAME}="${KEY}"\n`, { mode: 0o600 })

      const withFile = yield* askThroughServe(file, ["--env-file", envFile])
      expect(withFile.answer.status, withFile.answer.body).toBe(200)
      expect(withFile.output()).toContain(`environment from ${envFile}: ${NAME}`)
      expect(withFile.output()).not.toContain(KEY)

      const without = yield* askThroughServe(file, [])
      expect(without.answer.status).not.toBe(200)
      expect(without.answer.body).not.toContain(KEY)
    }).pipe(Effect.scoped), 60_000)

  it("the file is read with Node's dotenv rules; a variable already set wins; a file others can read is named with the fix", () => {
    const dir = tempDir()
    const f = path.join(dir, "service.env")
    fs.writeFileSync(f, "# keys\nA=from-file\nexport B=\"two words\"\nC='x#y'\n", { mode: 0o644 })
    fs.chmodSync(f, 0o644)
    const env: NodeJS.ProcessEnv = { A: "already" }
    const loaded = EnvFile.load(f, env)
    expect(env).toEqual({ A: "already", B: "two words", C: "x#y" })
    expect(loaded).toMatchObject({ _tag: "Loaded", names: ["A", "B", "C"] })
    expect(loaded._tag === "Loaded" && loaded.warning).toBe(`${f} is readable by others (mode 0644); it holds keys: chmod 600 ${f}`)
    expect(EnvFile.describe(loaded)).toBe(`environment from ${f}: A, B, C`)
    expect(EnvFile.load(path.join(dir, "none.env"), {})._tag).toBe("Missing")
  })
})
