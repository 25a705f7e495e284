/**
 * serve killed outright (kill -9: no exit hook, no scope closed) while it supervises a server
 * that, like a real Ollama, outlives its parent: the next serve adopts that server instead of
 * starting a second one on the same port, and routes through it at once.
 */
import { execFileSync } from "node:child_process"
import { expect, it } from "vitest"
import { alive } from "../supervisor/Fixture.ts"
import * as RealServe from "./RealServe.ts"

/** The simulator processes serving `port` (its command line carries `--port N`). */
const serversOn = (port: string): ReadonlyArray<number> =>
  execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" }).split("\n")
    .filter((line) => line.includes("sim-ollama") && line.includes(`--port ${port}`) && !line.includes(" ps "))
    .map((line) => Number(line.trim().split(/\s+/)[0]))

it("after kill -9 of serve, the next serve adopts the server it had started: one server on the port, answering", async () => {
  const first = await RealServe.start({ likeARealServer: true })
  let pid: number | undefined
  let second: RealServe.RealServe | undefined
  try {
    const started = await first.server()
    expect(started?.phase).toBe("ready")
    pid = started?.pid
    expect(pid).toBeGreaterThan(0)
    const port = new URL(first.simulator).port
    expect(serversOn(port)).toEqual([pid])

    await first.kill()
    expect(alive(pid!)).toBe(true)
    expect(await (await fetch(first.simulator)).text()).toBe("Ollama is running")

    second = await first.again()
    expect(await second.server()).toMatchObject({ phase: "adopted" })
    expect(serversOn(port)).toEqual([pid])
    const chat = await fetch(`${second.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "c_ollama", messages: [{ role: "user", content: "are you the same server?" }] })
    })
    expect([chat.status, chat.headers.get("x-local-router-backend")]).toEqual([200, "ollama"])
  } finally {
    await second?.stop()
    await first.stop()
    if (pid !== undefined && alive(pid)) process.kill(-pid, "SIGKILL")
  }
}, 60_000)
