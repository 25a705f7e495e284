/**
 * The README's exit codes and error forms, command by command, as a person or a script meets
 * them: usage errors (exit 2, one plain line and the command's usage), `--json` errors (one JSON
 * object on stdout, whatever the command), help without filler, `config check`'s problems.
 * Runs the built CLI (dist/bin.js) with no terminal, as a script would.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { spawn } from "node:child_process"
import { bin, cli as run, repo } from "./support/RunCli.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lr-cli-errors-"))
// HOME is a fresh directory: nothing of this machine's own local-router set-up is read.
const cli = (args: ReadonlyArray<string>, options: { cwd?: string; env?: Record<string, string> } = {}) =>
  run(args, { ...options, env: { HOME: tmp, ...options.env } })

const repoConfig = fs.readFileSync(path.join(repo, "routing.yaml"), "utf8")
const write = (name: string, text: string) => {
  const file = path.join(tmp, name)
  fs.writeFileSync(file, text)
  return file
}
/** The 1-based line of `file` that holds `text` (the repo's routing.yaml moves as it is edited). */
const lineOf = (file: string, text: string) => fs.readFileSync(file, "utf8").split("\n").findIndex((line) => line.includes(text)) + 1
const pdf = write("empty.pdf", "%PDF-1.4\n")

// Each command and each kind of value the parser can refuse: [what, args, the message, the usage line].
const usageErrors: ReadonlyArray<readonly [string, ReadonlyArray<string>, RegExp, string]> = [
  ["unknown subcommand", ["bogus"], /^Unknown subcommand "bogus" for "local-router"/, "local-router <subcommand> [flags]"],
  ["unknown flag with a suggestion", ["routes", "--jsn"], /^Unrecognized flag: --jsn in command local-router routes \(did you mean --json\?\)$/, "local-router routes [flags]"],
  ["--wizard is not a flag", ["--wizard"], /^Unrecognized flag: --wizard/, "local-router <subcommand> [flags]"],
  ["ask without a prompt (stdin not piped)", ["ask"], /^Missing required argument: prompt/, "local-router ask [flags] [<prompt>]"],
  ["describe without an image", ["describe"], /^Missing required argument: image$/, "local-router describe [flags] <image>"],
  ["describe of a missing file", ["describe", "nope.png"], /^Invalid value for argument <image>: "nope\.png"\. Expected an existing file$/, "local-router describe [flags] <image>"],
  ["describe with a bad choice", ["describe", pdf, "--length", "huge"], /^Invalid value for flag --length: "huge"\. Expected: "short" \| "normal" \| "long"$/, "local-router describe [flags] <image>"],
  ["pdf of a missing file", ["pdf", "nope.pdf"], /^Invalid value for argument <file>: "nope\.pdf"\. Expected an existing file$/, "local-router pdf [flags] <file>"],
  ["pdf with a non-integer", ["pdf", pdf, "--concurrency", "abc"], /^Invalid value for flag --concurrency: "abc"/, "local-router pdf [flags] <file>"],
  ["pdf with an integer out of range", ["pdf", pdf, "--concurrency", "0"], /^Invalid value for flag --concurrency: "0"\. Expected an integer of at least 1$/, "local-router pdf [flags] <file>"],
  ["config check of a missing file", ["config", "check", "nope.yaml"], /^Invalid value for argument <file>: "nope\.yaml"\. Expected an existing file$/, "local-router config check [flags] [<file>]"],
  ["a flag missing its value", ["routes", "--config"], /^Missing value for flag --config\. Expected: file$/, "local-router routes [flags]"],
  ["demo with a negative delay", ["demo", "--token-ms", "-5"], /^Invalid value for flag --token-ms/, "local-router demo [flags]"],
  ["pull with one argument too many", ["pull", "a", "b", "c"], /^Unexpected positional argument: "c"$/, "local-router pull [flags] [<backend>] [<model>]"],
  ["plugin new without a name", ["plugin", "new"], /^Missing required argument: name$/, "local-router plugin new [flags] <name>"],
  ["service logs with a bad count", ["service", "logs", "--lines", "many"], /^Invalid value for flag --lines: "many"\./, "local-router service logs [flags]"],
  ["service logs with a count below 1", ["service", "logs", "--lines", "-5"], /^Invalid value for flag --lines: "-5"\. Expected an integer of at least 1$/, "local-router service logs [flags]"],
  ["status with a bad port", ["status", "--port", "http"], /^Invalid value for flag --port: "http"\./, "local-router status [flags]"],
  ["status with a port out of range", ["status", "--port", "70000"], /^Invalid value for flag --port: "70000"\. Expected a port number from 0 to 65535$/, "local-router status [flags]"],
  ["serve with a negative port", ["serve", "--port", "-1"], /^Invalid value for flag --port: "-1"\. Expected a port number from 0 to 65535$/, "local-router serve [flags]"]
]

describe("usage errors exit 2 with one plain line and the command's usage, on every command", () => {
  for (const [what, args, message, usage] of usageErrors) {
    it(what, async () => {
      const { code, stderr, stdout } = await cli(args)
      expect(code).toBe(2)
      expect(stdout).toBe("")
      const lines = stderr.split("\n")
      expect(lines, stderr).toHaveLength(3)
      expect(lines[0]!.replace(/^local-router: /, "")).toMatch(message)
      expect(lines[0]).toMatch(/^local-router: /)
      expect(lines[1]).toBe(`usage: ${usage}`)
      expect(lines[2]).toBe("")
      // Never Effect's internals.
      expect(stderr).not.toMatch(/_tag|ERROR \(#|\n\s+at /)
    })
  }

  it("with --json, a usage error is the JSON error object on stdout and nothing on stderr", async () => {
    const { code, stderr, stdout } = await cli(["pdf", "nope.pdf", "--json"])
    expect(code).toBe(2)
    expect(stderr).toBe("")
    expect(JSON.parse(stdout)).toEqual({
      error: { code: 2, reason: "Usage", message: 'Invalid value for argument <file>: "nope.pdf". Expected an existing file', usage: "local-router pdf [flags] <file>" }
    })
  })
})

describe("--json errors have one shape on every command", () => {
  // No routing.yaml anywhere: the same failure through every command that takes --json.
  const nowhere = fs.mkdtempSync(path.join(tmp, "nowhere-"))
  for (const args of [["routes", "--json"], ["config", "check", "--json"], ["plugins", "--json"], ["ask", "hi", "--json"], ["describe", pdf, "--json"], ["pdf", pdf, "--json"], ["pull", "--json"]]) {
    it(`${args.join(" ")} with no routing.yaml: {"error":{"code":2,"reason":"NotFound",...}}`, async () => {
      const { code, stderr, stdout } = await cli(args, { cwd: nowhere, env: { HOME: nowhere } })
      expect(code).toBe(2)
      expect(stderr).toBe("")
      const { error } = JSON.parse(stdout) as { error: { code: number; reason: string; message: string } }
      expect(error).toMatchObject({ code: 2, reason: "NotFound" })
      expect(error.message).toContain("no routing.yaml found; looked at:")
    })
  }

  it("without --json the same failure is one line on stderr and nothing on stdout", async () => {
    const nowhere = fs.mkdtempSync(path.join(tmp, "nowhere-"))
    const { code, stderr, stdout } = await cli(["routes"], { cwd: nowhere, env: { HOME: nowhere } })
    expect(code).toBe(2)
    expect(stdout).toBe("")
    expect(stderr).toMatch(/^no routing\.yaml found; looked at: [^\n]+\n$/)
  })
})

describe("help", () => {
  const commands = [[], ["ask"], ["describe"], ["pdf"], ["routes"], ["config"], ["config", "check"], ["demo"], ["plugins"], ["plugin", "new"], ["serve"], ["status"], ["service"], ["service", "install"], ["service", "logs"], ["pull"]]

  it("has no filler and no --wizard, on every command", async () => {
    for (const command of commands) {
      const { code, stdout } = await cli([...command, "--help"])
      expect(code, command.join(" ")).toBe(0)
      expect(stdout, command.join(" ")).toContain("USAGE")
      expect(stdout, command.join(" ")).not.toMatch(/A true or false value|This setting is optional|--wizard/)
      expect(stdout).not.toContain("\x1b[")
    }
  })

  // A real terminal, from util-linux's `script` (Linux): colour there, and never with NO_COLOR.
  it.skipIf(process.platform !== "linux" || !fs.existsSync("/usr/bin/script"))("is coloured on a terminal, never with NO_COLOR", async () => {
    const onTerminal = (noColor: string) =>
      new Promise<string>((resolve) => {
        const child = spawn("script", ["-qec", `"${process.execPath}" "${bin}" --help`, "/dev/null"], {
          env: { ...process.env, NO_COLOR: noColor, FORCE_COLOR: "", HOME: tmp, LOCAL_ROUTER_CONFIG: "" },
          stdio: ["ignore", "pipe", "ignore"]
        })
        let out = ""
        child.stdout.on("data", (chunk) => (out += chunk))
        child.on("close", () => resolve(out))
      })
    expect(await onTerminal("")).toContain("\x1b[1mDESCRIPTION")
    const plain = await onTerminal("1")
    expect(plain).toContain("DESCRIPTION")
    expect(plain).not.toContain("\x1b[")
  })

  it("describes every argument", async () => {
    for (const command of [["ask"], ["describe"], ["pdf"], ["config", "check"], ["pull"], ["plugin", "new"]]) {
      const { stdout } = await cli([...command, "--help"])
      const args = stdout.split("ARGUMENTS\n")[1]!.split("\n\n")[0]!.split("\n")
      for (const line of args) expect(line, `${command.join(" ")}: ${line}`).toMatch(/^\s+\S+ \S+\s{2,}\S/)
    }
  })
})

describe("config check", () => {
  it("a typo of a built-in type is an error at its place, with did-you-mean and no install hint", async () => {
    const file = write("olama.yaml", repoConfig.replace(/^ {4}type: ollama$/m, "    type: olama"))
    const { code, stderr, stdout } = await cli(["config", "check", file])
    expect(code).toBe(1)
    expect(stdout).toBe("")
    expect(stderr).toContain(`${file}:30:11 backends.ollama.type: unknown backend type "olama" (did you mean "ollama"?)`)
    expect(stderr).not.toMatch(/npm install|plugin add/)
  })

  it("a type that is no built-in and no installed plugin is an error that says where it looked", async () => {
    const file = write("zzz.yaml", repoConfig.replace(/^ {4}type: ollama$/m, "    type: local-router-backend-zzz"))
    const { code, stderr } = await cli(["config", "check", file])
    expect(code).toBe(1)
    expect(stderr).toMatch(/:30:11 backends\.ollama\.type: backend package "local-router-backend-zzz" not found; searched from /)
  })

  it("a near miss of a plugin installed next to routing.yaml suggests that plugin", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, "with-plugin-"))
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ private: true, dependencies: { "local-router-backend-llamacpp": "file:./llamacpp" } }))
    const file = path.join(dir, "routing.yaml")
    fs.writeFileSync(file, repoConfig.replace(/^ {4}type: ollama$/m, "    type: local-router-backend-lamacpp"))
    const { code, stderr } = await cli(["config", "check", file])
    expect(code).toBe(1)
    expect(stderr).toContain(`unknown backend type "local-router-backend-lamacpp" (did you mean "local-router-backend-llamacpp"?)`)
  })

  it("a near miss of a plugin installed with `plugin add` (the plugin directory) suggests that plugin", async () => {
    const plugins = fs.mkdtempSync(path.join(tmp, "plugin-dir-"))
    // The plugin directory as plugin add leaves it: its package.json records each plugin, and links to local-router's own core and effect.
    fs.writeFileSync(
      path.join(plugins, "package.json"),
      JSON.stringify({ private: true, dependencies: { "local-router-backend-vllm": "file:tarballs/vllm.tgz", "@local-router/core": "file:/x", effect: "file:/y" } })
    )
    const file = write("vlm.yaml", repoConfig.replace(/^ {4}type: ollama$/m, "    type: local-router-backend-vlm"))
    const { code, stderr } = await cli(["config", "check", file], { env: { LOCAL_ROUTER_PLUGIN_DIR: plugins } })
    expect(code).toBe(1)
    expect(stderr).toContain(`unknown backend type "local-router-backend-vlm" (did you mean "local-router-backend-vllm"?)`)
  })

  it("a duration without a unit is an error that shows the accepted forms", async () => {
    const file = write("bare.yaml", repoConfig.replace("timeouts: { firstToken: 2m }", "timeouts: { firstToken: 30 }"))
    const { code, stderr } = await cli(["config", "check", file])
    expect(code).toBe(1)
    expect(stderr).toMatch(new RegExp(`:${lineOf(file, "firstToken: 30")}:29 categories\\.code\\.timeouts\\.firstToken: expected`))
    expect(stderr).toMatch(/categories\.code\.timeouts\.firstToken: expected a duration with its unit: ms, s, m or h \(e\.g\. "30s", "500ms", "2m", "1h"\)/)
  })

  it("--json lists every problem with file, line, column, path and message, exit 1", async () => {
    const file = write(
      "two.yaml",
      repoConfig.replace(/^ {4}type: ollama$/m, "    type: olama").replace("timeouts: { firstToken: 2m }", "timeouts: { firstToken: 30 }")
    )
    // The type is checked once the file's shape is valid: the duration is reported first.
    const first = await cli(["config", "check", file, "--json"])
    expect(first.code).toBe(1)
    expect(first.stderr).toBe("")
    const out = JSON.parse(first.stdout) as { error: { code: number; reason: string; file: string; problems: Array<Record<string, unknown>> } }
    expect(out.error).toMatchObject({ code: 1, reason: "Invalid", file })
    expect(out.error.problems).toEqual([
      { file, line: lineOf(file, "firstToken: 30"), column: 29, path: "categories.code.timeouts.firstToken", message: 'expected a duration with its unit: ms, s, m or h (e.g. "30s", "500ms", "2m", "1h")' }
    ])
    fs.writeFileSync(file, repoConfig.replace(/^ {4}type: ollama$/m, "    type: olama"))
    const second = JSON.parse((await cli(["config", "check", file, "--json"])).stdout) as typeof out
    expect(second.error.problems).toEqual([{ file, line: lineOf(file, "type: olama"), column: 11, path: "backends.ollama.type", message: 'unknown backend type "olama" (did you mean "ollama"?)' }])
  })

  it("--json for a file that is not YAML at all still gives the JSON list", async () => {
    const file = write("syntax.yaml", "backends: {\n  mlx: [\n")
    const { code, stdout } = await cli(["config", "check", file, "--json"])
    expect(code).toBe(1)
    const { error } = JSON.parse(stdout) as { error: { problems: Array<{ file: string; line: number; column: number; path: string; message: string }> } }
    expect(error.problems).toHaveLength(1)
    expect(error.problems[0]).toMatchObject({ file, path: "" })
    expect(error.problems[0]!.message).toMatch(/^YAML syntax/)
    expect(error.problems[0]!.line).toBeGreaterThan(0)
  })

  it("routes says a typo of a built-in as one, with no install hint", async () => {
    const file = write("olama-routes.yaml", repoConfig.replace(/^ {4}type: ollama$/m, "    type: olama"))
    const { code, stdout } = await cli(["routes", "--config", file])
    expect(code).toBe(0)
    expect(stdout).toMatch(/-\s+ollama\s+skipped: unknown backend type "olama" \(did you mean "ollama"\?\)\n/)
  })
})

describe("status --watch with no serve", () => {
  it("says why once (not every second), keeps trying, and Ctrl-C ends it with exit 0", { timeout: 30_000 }, async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as net.AddressInfo
        probe.close(() => resolve(port))
      })
    })
    const child = spawn(process.execPath, [bin, "status", "--watch", "--port", String(port)], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: "1", HOME: tmp, LOCAL_ROUTER_CONFIG: "" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    while (!stderr.includes("\n")) await new Promise((resolve) => setTimeout(resolve, 100))
    // Three more tries, a second apart.
    await new Promise((resolve) => setTimeout(resolve, 3_500))
    child.kill("SIGINT")
    expect(await exited).toBe(0)
    expect(stderr).toBe(`status: no serve answers at http://127.0.0.1:${port} (connection refused); trying again every second (Ctrl-C stops)\n`)
  })
})
