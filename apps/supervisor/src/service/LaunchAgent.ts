/**
 * The macOS LaunchAgent that runs `local-router serve` at login (protocols.md §5.2–5.4): no
 * shell and a bare PATH under launchd, so every path is absolute and PATH names Homebrew and
 * ~/.local/bin; KeepAlive restarts it after a crash but not after a clean stop; ExitTimeOut
 * leaves room for the children's own grace period.
 */
import * as plist from "plist"

export const label = "dev.local-router.supervisor"

export interface Input {
  readonly node: string
  /** Node flags, then the CLI entry and its arguments. */
  readonly programArguments: ReadonlyArray<string>
  /** Set for serve besides PATH and the LOCAL_ROUTER_* variables. */
  readonly environment: Readonly<Record<string, string>>
  readonly workingDirectory: string
  readonly path: string
  readonly configFile: string
  readonly logDir: string
}

export const render = (input: Input): string =>
  plist.build({
    Label: label,
    ProgramArguments: [input.node, ...input.programArguments],
    WorkingDirectory: input.workingDirectory,
    EnvironmentVariables: { ...input.environment, PATH: input.path, LOCAL_ROUTER_CONFIG: input.configFile, LOCAL_ROUTER_LOG_DIR: input.logDir },
    RunAtLoad: true,
    // Restart after a crash or a non-zero exit; `service uninstall` (bootout) stops it for good.
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 10,
    // The supervisor stops its children within their grace (10 s by default), then exits.
    ExitTimeOut: 30,
    ProcessType: "Interactive",
    SoftResourceLimits: { NumberOfFiles: 8192 },
    StandardOutPath: `${input.logDir}/supervisor.out.log`,
    StandardErrorPath: `${input.logDir}/supervisor.err.log`
  })
