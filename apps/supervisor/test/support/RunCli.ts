/** The built `local-router` command (dist/bin.js), run as a script runs it: no terminal, NO_COLOR. */
import { spawn } from "node:child_process"
import * as path from "node:path"

export const repo = path.resolve(import.meta.dirname, "../../../..")
export const bin = path.join(repo, "apps/supervisor/dist/bin.js")

export interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Run the CLI with `args`. `input` is written to its stdin and closed; without it stdin stays
 * open and unwritten, as a harness leaves it, so a command that waited on it would hang the test.
 */
export const cli = (
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: Record<string, string>; readonly input?: string } = {}
): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? repo,
      env: { ...process.env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "", ...options.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
    if (options.input !== undefined) child.stdin.end(options.input)
  })
