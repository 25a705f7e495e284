/** serve's last safety net, in a real process: what escapes every handler is logged, and the process keeps serving. */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { expect, it } from "vitest"

it("an exception thrown from a timer and an unhandled rejection are logged with their stacks; the process keeps serving", async () => {
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(import.meta.dirname, "fixtures/slips.ts")], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  try {
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once("data", (d) => resolve(Number(String(d).trim())))
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)))
    })
    await expect.poll(() => stderr, { timeout: 5_000 }).toMatch(/caught an unhandled promise rejection and kept serving/)
    expect(stderr).toMatch(/caught an uncaught exception and kept serving \(please report it\):\nError: thrown from a timer\n\s+at /)
    expect(stderr).toMatch(/Error: rejected with nobody listening/)
    expect(child.exitCode).toBeNull()
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("still here")
  } finally {
    child.kill("SIGKILL")
  }
})
