/**
 * The executables themselves: `--help`, the one-line ready announcement, and the programmatic
 * helpers that start and always stop them.
 */
import { execFile, spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import * as Simulator from "../src/Simulator.ts"

const kinds: ReadonlyArray<Simulator.Kind> = ["ollama", "mlx", "moondream", "openai", "anthropic"]

const run = (file: string, args: ReadonlyArray<string>): Promise<{ code: number; stdout: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], (error, stdout) => resolve({ code: error === null ? 0 : Number(error.code), stdout }))
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("simulator executables", () => {
  it("every sim-* --help lists the common flags and exits 0", async () => {
    // In parallel: each is a Node start-up, and the machine may be shared.
    const outs = await Promise.all(kinds.map((kind) => run(Simulator.binPath(kind), ["--help"])))
    for (const [i, out] of outs.entries()) {
      expect(out.code, kinds[i]).toBe(0)
      expect(out.stdout).toContain(`sim-${kinds[i]}:`)
      for (const flag of ["--host", "--port", "--fault", "--tokens"]) expect(out.stdout).toContain(flag)
    }
    expect(outs[0]?.stdout).toContain("--pull-ms")
    expect(outs[2]?.stdout).toContain("--home")
  })

  it("prints exactly one JSON ready line with sim, host, port, url and pid", async () => {
    const child = spawn(process.execPath, [Simulator.binPath("openai"), "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] })
    const line = await new Promise<string>((resolve) => {
      let buf = ""
      child.stdout.setEncoding("utf8").on("data", (s: string) => {
        buf += s
        if (buf.includes("\n")) resolve(buf)
      })
    })
    child.kill("SIGTERM")
    const ready = JSON.parse(line.trim()) as Record<string, unknown>
    expect(Object.keys(ready)).toEqual(["sim", "host", "port", "url", "pid"])
    expect(ready).toMatchObject({ sim: "openai", host: "127.0.0.1", url: `http://127.0.0.1:${String(ready["port"])}`, pid: child.pid })
  })

  it("withSimulators starts several and stops them all, even when the body throws", async () => {
    let pids: Array<number> = []
    await expect(
      Simulator.withSimulators(["mlx", ["ollama", { args: ["--models", ""] }]], async (sims) => {
        pids = sims.map((s) => s.pid)
        const tags = (await (await fetch(`${sims[1]?.url}/api/tags`)).json()) as { models: unknown[] }
        expect(tags.models).toEqual([])
        const v1 = (await (await fetch(`${sims[1]?.url}/v1/models`)).json()) as { data: unknown }
        expect(v1.data).toBeNull()
        throw new Error("body failed")
      })
    ).rejects.toThrow("body failed")
    expect(pids).toHaveLength(2)
    for (const pid of pids) expect(alive(pid)).toBe(false)
  })
})
