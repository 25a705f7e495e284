/**
 * `local-router demo` shows what each scenario's title says, and leaves nothing behind: its
 * temporary routing.yaml directory is gone after the tour and after Ctrl-C.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as SimulatedSetup from "../src/demo/SimulatedSetup.ts"
import { bin, cli, repo } from "./support/RunCli.ts"

const home = fs.mkdtempSync(path.join(os.tmpdir(), "lr-demo-home-"))

/** The tour's output split by scenario: title -> what it printed. */
const scenarios = (stdout: string) =>
  new Map(stdout.split("\n▶ ").slice(1).map((block) => {
    const [title, ...rest] = block.split("\n")
    return [title!, rest.join("\n")] as const
  }))

const demoDir = (stdout: string) => /routing\.yaml pointed at them: (\S+)\/routing\.yaml/.exec(stdout)?.[1]

describe("local-router demo", () => {
  it("each scenario shows what it names, and the temporary directory is removed", { timeout: 90_000 }, async () => {
    const { code, stdout, stderr } = await cli(["demo", "--token-ms", "0"], { env: { HOME: home } })
    expect(code, stderr).toBe(0)
    expect(stdout).toContain("SIMULATED")
    const shown = scenarios(stdout)
    const at = (title: string) => {
      const block = shown.get(title)
      expect(block, `scenario "${title}" in:\n${stdout}`).toBeDefined()
      return block!
    }
    expect([...shown.keys()]).toHaveLength(9)
    expect(at("Everything up: fast goes to MLX first")).toMatch(/answered by mlx \(/)
    expect(at("An image: vision goes to Moondream Station")).toMatch(/answered by moondream \(/)
    expect(at("A PDF page: vision_pdf goes to Ollama llava:7b")).toMatch(/answered by ollama \(llava:7b\)/)
    const killed = at("MLX killed (kill -9): the same request falls back to Ollama, invisibly")
    expect(killed).toMatch(/answered by ollama \(/)
    expect(killed).toMatch(/· mlx \([^)]+\) failed Unreachable/)
    const busy = at("Ollama now answers 503 busy: the cloud is the last resort")
    expect(busy).toMatch(/· ollama \([^)]+\) failed Overloaded [^\n]*503/)
    expect(busy).toMatch(/answered by cloud \(/)
    const third = at("MLX fails a third time in a row: its circuit opens")
    expect(third).toMatch(/· mlx \([^)]+\) failed Unreachable/)
    expect(third).toMatch(/circuit mlx: open/)
    const skips = at("The next request skips MLX at once (circuit open) instead of waiting on it")
    expect(skips).toMatch(/· mlx \([^)]+\) skipped circuit open/)
    // The last story starts on a fresh router: Ollama is tried (not skipped) and cuts its stream.
    const cut = at("Ollama cuts its stream mid-answer: an explicit error, never a silently short answer")
    expect(cut).toMatch(/✗ ollama failed after the answer had started \(StreamCut\)/)
    expect(cut).not.toMatch(/answered by|skipped|circuit open/)
    // A tool call falls back from the dead MLX past a model without tool support to one with it.
    const tool = at("A tool call (category code): MLX is dead, Ollama's phi3.5 has no tool support, the cloud makes the call")
    expect(tool).toMatch(/tool call get_weather\(\{"city":"Paris"/)
    expect(tool).toMatch(/· mlx \([^)]+\) failed Unreachable/)
    expect(tool).toMatch(/· ollama \(phi3\.5:3\.8b\) skipped phi3\.5:3\.8b: no tool support/)
    expect(tool).toMatch(/answered by cloud \(/)
    const dir = demoDir(stdout)
    expect(dir).toMatch(/local-router-demo-/)
    expect(fs.existsSync(dir!)).toBe(false)
  })

  it("stopped by Ctrl-C with --keep: exit 0, simulators stopped, temporary directory removed", { timeout: 90_000 }, async () => {
    const child = spawn(process.execPath, [bin, "demo", "--token-ms", "0", "--keep"], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: "1", HOME: home, LOCAL_ROUTER_CONFIG: "" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    while (!stdout.includes("Ctrl-C stops them")) await new Promise((resolve) => setTimeout(resolve, 100))
    const dir = demoDir(stdout)!
    expect(fs.existsSync(dir)).toBe(true)
    const urls = [...stdout.matchAll(/simulated \w+\s+(http:\/\/\S+)/g)].map((m) => m[1]!)
    expect(urls).toHaveLength(4)
    child.kill("SIGINT")
    expect(await exited).toBe(0)
    expect(fs.existsSync(dir)).toBe(false)
    // Every simulator is gone: nothing answers at their addresses.
    for (const url of urls) expect(await fetch(url).then(() => "answered", () => "gone")).toBe("gone")
  })

  it("piped into a reader that stops early (| head): exit 0, no stack trace, temporary directory removed", { timeout: 90_000 }, async () => {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
      const child = spawn("bash", ["-c", `"${process.execPath}" "${bin}" demo --token-ms 0 2>"$ERR" | head -7; echo "demo exited $\{PIPESTATUS[0]\}"; cat "$ERR"`], {
        cwd: repo,
        env: { ...process.env, NO_COLOR: "1", HOME: home, LOCAL_ROUTER_CONFIG: "", ERR: path.join(home, "demo-stderr.txt") }
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      child.stderr.on("data", (chunk) => (stderr += chunk))
      child.on("close", (code) => resolve({ stdout, stderr, code }))
    })
    expect(code).toBe(0)
    expect(stdout).toContain("demo exited 0")
    expect(stdout + stderr).not.toMatch(/EPIPE|\n\s+at /)
    const dir = demoDir(stdout)
    expect(dir).toMatch(/local-router-demo-/)
    expect(fs.existsSync(dir!)).toBe(false)
  })

  it("the simulated set-up keeps everything it writes in its one directory, and stop removes it", { timeout: 60_000 }, async () => {
    const setup = await SimulatedSetup.start({ config: path.join(repo, "routing.yaml"), tokenMs: 0 })
    expect(setup.sims.moondream.home!.startsWith(`${setup.dir}${path.sep}`)).toBe(true)
    expect(fs.existsSync(path.join(setup.sims.moondream.home!, ".moondream-station"))).toBe(true)
    await setup.stop()
    expect(fs.existsSync(setup.dir)).toBe(false)
  })
})
