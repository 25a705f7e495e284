/**
 * `local-router service ...` through the real command path, with fake `launchctl` and
 * `systemctl` on PATH that record their arguments and answer like the real ones.
 */
import { describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import * as plist from "plist"
import { repo, tempDir } from "./Fixture.ts"

// What the service runs, and what runs here: the built command (./run and vitest build it first).
const bin = path.join(repo, "apps/supervisor/dist/bin.js")

/** A fake tool: records argv, fails `bootout` when nothing is loaded, prints like launchctl. */
const fakeTools = (dir: string) => {
  const record = path.join(dir, "calls.log")
  const script = (body: string) => `#!/bin/sh\necho "$(basename "$0") $*" >> "${record}"\n${body}\n`
  fs.writeFileSync(path.join(dir, "launchctl"), script(`
case "$1" in
  bootout) [ -f "${dir}/loaded" ] || { echo "Boot-out failed: 3: No such process" >&2; exit 3; }; rm -f "${dir}/loaded" ;;
  bootstrap) [ -f "${dir}/loaded" ] && { echo "Bootstrap failed: 5: Input/output error" >&2; exit 5; }; touch "${dir}/loaded" ;;
  print) [ -f "${dir}/loaded" ] || { echo "Could not find service" >&2; exit 113; }
    printf 'gui/501/dev.local-router.supervisor = {\\n\\tactive count = 1\\n\\tstate = running\\n\\tpid = 4242\\n\\tlast exit code = (never exited)\\n}\\n' ;;
esac`), { mode: 0o755 })
  // `show` answers from ${dir}/show when a test wrote one (else: an active unit, pid 777).
  fs.writeFileSync(path.join(dir, "systemctl"), script(`
[ "$2" = "show" ] && { if [ -f "${dir}/show" ]; then cat "${dir}/show"; else printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=777\\nExecMainCode=0\\nExecMainStatus=0\\nResult=success\\n'; fi; }
exit 0`), { mode: 0o755 })
  return () => (fs.existsSync(record) ? fs.readFileSync(record, "utf8").trim().split("\n") : [])
}

const cli = async (args: ReadonlyArray<string>, env: Record<string, string>) => {
  try {
    const r = await promisify(execFile)(process.execPath, [bin, ...args], {
      env: { ...process.env, NO_COLOR: "1", LOCAL_ROUTER_CONFIG: "", ...env }
    })
    return { code: 0, ...r }
  } catch (e) {
    const error = e as { code: number; stdout: string; stderr: string }
    return { code: error.code, stdout: error.stdout, stderr: error.stderr }
  }
}

/** An empty HOME, the fake service tools first on PATH, and the repo's routing.yaml. */
const machine = () => {
  const home = tempDir("lr-home-")
  const tools = tempDir("lr-tools-")
  const calls = fakeTools(tools)
  return { home, tools, calls, config: path.join(repo, "routing.yaml"), env: { HOME: home, PATH: `${tools}:${process.env.PATH}` } }
}

describe("local-router service", () => {
  it("macOS: install writes a LaunchAgent and loads it with launchctl; status and uninstall use print and bootout", async () => {
    const { calls, config, env, home } = machine()

    const installed = await cli(["service", "install", "--platform", "darwin", "--config", config], env)
    expect(installed.stderr).toBe("")
    expect(installed.code).toBe(0)
    expect(installed.stdout).toContain("installed and running, pid 4242")
    // The secrets file: created, 0600, named in the output; serve is told to read it.
    const envFile = path.join(home, ".config/local-router/service.env")
    expect(installed.stdout).toContain(`env file: ${envFile} (created;`)
    expect((fs.statSync(envFile).mode & 0o777).toString(8)).toBe("600")
    const file = path.join(home, "Library/LaunchAgents/dev.local-router.supervisor.plist")
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe("644")
    const agent = plist.parse(fs.readFileSync(file, "utf8")) as Record<string, any>
    expect(agent.Label).toBe("dev.local-router.supervisor")
    expect(agent.ProgramArguments[0]).toBe(process.execPath)
    expect(path.isAbsolute(agent.ProgramArguments[0])).toBe(true)
    expect(agent.ProgramArguments.slice(1)).toEqual(["--max-semi-space-size=1", "--v8-pool-size=1", "--no-sparkplug", "--bytecode-old-age=2", bin, "serve", "--config", config, "--env-file", envFile])
    expect(agent.RunAtLoad).toBe(true)
    expect(agent.KeepAlive).toEqual({ SuccessfulExit: false })
    expect(agent.ThrottleInterval).toBe(10)
    expect(agent.ExitTimeOut).toBe(30)
    expect(agent.EnvironmentVariables.NODE_DISABLE_COMPILE_CACHE).toBe("1")
    // glibc gives a PDF's page buffers back (bench/pdf --serve); macOS ignores these.
    expect(agent.EnvironmentVariables).toMatchObject({ MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "65536", MALLOC_TRIM_THRESHOLD_: "131072" })
    expect(agent.EnvironmentVariables.PATH.split(":")).toEqual(expect.arrayContaining(["/opt/homebrew/bin", "/usr/local/bin", `${home}/.local/bin`, "/usr/bin"]))
    expect(agent.StandardOutPath).toBe(`${home}/Library/Logs/local-router/supervisor.out.log`)
    expect(fs.existsSync(`${home}/Library/Logs/local-router`)).toBe(true)

    const uid = process.getuid!()
    expect(calls()).toEqual([
      `launchctl bootout gui/${uid}/dev.local-router.supervisor`,
      `launchctl enable gui/${uid}/dev.local-router.supervisor`,
      `launchctl bootstrap gui/${uid} ${file}`,
      `launchctl print gui/${uid}/dev.local-router.supervisor`
    ])
    // A second install unloads first, so bootstrap never meets "5: Input/output error"; a key
    // written meanwhile is kept, and a file opened up by mistake is made 0600 again.
    fs.writeFileSync(envFile, "OPENAI_API_KEY=sk-kept\n")
    fs.chmodSync(envFile, 0o644)
    const again = await cli(["service", "install", "--platform", "darwin", "--config", config], env)
    expect(again.code).toBe(0)
    expect(again.stdout).toContain("(made readable only by you (0600)")
    expect(fs.readFileSync(envFile, "utf8")).toBe("OPENAI_API_KEY=sk-kept\n")
    expect((fs.statSync(envFile).mode & 0o777).toString(8)).toBe("600")

    const status = await cli(["service", "status", "--platform", "darwin", "--config", config], env)
    expect(status.stdout).toContain("service: installed and running, pid 4242\n")
    expect(status.stdout).toContain(`env file: ${envFile} (0600;`)
    expect(status.stdout).not.toMatch(/unknown/)

    const removed = await cli(["service", "uninstall", "--platform", "darwin", "--config", config], env)
    expect(removed.stdout).toContain(`stopped and removed ${file}`)
    expect(fs.existsSync(file)).toBe(false)
    expect(calls().at(-1)).toBe(`launchctl bootout gui/${uid}/dev.local-router.supervisor`)

    const gone = await cli(["service", "status", "--platform", "darwin", "--config", config], env)
    expect(gone.stdout).toMatch(/^service: not installed\n/)
  }, 60_000)

  it("status says one of: not installed / installed and running, pid N / installed, not running, last exit", async () => {
    const { config, env, home, tools } = machine()
    const status = async () => (await cli(["service", "status", "--platform", "linux", "--config", config], env)).stdout.split("\n")[0]
    expect(await status()).toBe("service: not installed")
    expect((await cli(["service", "install", "--platform", "linux", "--config", config], env)).code).toBe(0)
    expect(await status()).toBe("service: installed and running, pid 777")
    fs.writeFileSync(path.join(tools, "show"), "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nExecMainCode=1\nExecMainStatus=78\nResult=exit-code\n")
    expect(await status()).toBe("service: installed, not running, last exit 78 (exit-code)")
    fs.writeFileSync(path.join(tools, "show"), "LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\nExecMainCode=0\nExecMainStatus=0\nResult=success\n")
    expect(await status()).toBe("service: installed, not running")
    const json = JSON.parse((await cli(["service", "status", "--json", "--platform", "linux", "--config", config], env)).stdout)
    expect(json).toMatchObject({ installed: true, state: { _tag: "Stopped" }, envFile: path.join(home, ".config/local-router/service.env"), envFileMode: "0600" })
  }, 60_000)

  it("Linux: a systemd --user unit, enabled with systemctl --user; --dry-run prints it and changes nothing", async () => {
    const { calls, config, env, home } = machine()
    const dry = await cli(["service", "install", "--platform", "linux", "--dry-run", "--config", config], env)
    expect(dry.stdout).toContain(`ExecStart=${process.execPath} --max-semi-space-size=1 --v8-pool-size=1 --no-sparkplug --bytecode-old-age=2 ${bin} serve --config ${config} --env-file ${home}/.config/local-router/service.env\n`)
    expect(dry.stdout).toContain("Environment=NODE_DISABLE_COMPILE_CACHE=1\nEnvironment=MALLOC_ARENA_MAX=2\nEnvironment=MALLOC_MMAP_THRESHOLD_=65536\nEnvironment=MALLOC_TRIM_THRESHOLD_=131072\n")
    expect(dry.stdout).toContain("KillMode=control-group")
    expect(calls()).toEqual([])
    expect(fs.existsSync(path.join(home, ".config"))).toBe(false)

    const installed = await cli(["service", "install", "--platform", "linux", "--config", config], env)
    expect(installed.code).toBe(0)
    expect(installed.stdout).toContain("installed and running, pid 777")
    expect(fs.readFileSync(path.join(home, ".config/systemd/user/local-router.service"), "utf8")).toContain("Restart=on-failure")
    expect((fs.statSync(path.join(home, ".config/local-router/service.env")).mode & 0o777).toString(8)).toBe("600")
    expect(calls()).toEqual([
      "systemctl --user daemon-reload",
      "systemctl --user enable local-router.service",
      "systemctl --user restart local-router.service",
      "systemctl --user show local-router.service --property LoadState,ActiveState,SubState,MainPID,ExecMainCode,ExecMainStatus,Result"
    ])
  }, 60_000)

  it("Linux: service logs prints journalctl's lines, and fails (exit 6, its message) when journalctl does", async () => {
    const { calls, config, env, tools } = machine()
    const journal = path.join(tools, "journalctl")
    fs.writeFileSync(journal, `#!/bin/sh\necho "journalctl $*" >> "${tools}/calls.log"\necho "Dec 07 serve[777]: listening on 127.0.0.1:4141"\n`, { mode: 0o755 })
    const shown = await cli(["service", "logs", "-n", "5", "--platform", "linux", "--config", config], env)
    expect(shown.code).toBe(0)
    expect(shown.stdout).toBe("Dec 07 serve[777]: listening on 127.0.0.1:4141\n")
    expect(calls()).toEqual(["journalctl --user -u local-router.service -n 5 --no-pager"])

    fs.writeFileSync(journal, `#!/bin/sh\necho "Failed to get journal access: Permission denied" >&2\nexit 1\n`, { mode: 0o755 })
    const failed = await cli(["service", "logs", "--platform", "linux", "--config", config], env)
    expect(failed.code).toBe(6)
    expect(failed.stdout).toBe("")
    expect(failed.stderr).toContain("journalctl --user -u local-router.service -n 50 --no-pager failed (1): Failed to get journal access: Permission denied")
  }, 60_000)
})
