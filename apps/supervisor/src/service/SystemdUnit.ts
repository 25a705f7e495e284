/** The systemd --user unit that runs `local-router serve` on Linux (protocols.md §5.6). */
export const unitName = "local-router.service"

export interface Input {
  readonly node: string
  readonly programArguments: ReadonlyArray<string>
  /** Set for serve besides PATH and the LOCAL_ROUTER_* variables. */
  readonly environment: Readonly<Record<string, string>>
  readonly workingDirectory: string
  readonly path: string
  readonly configFile: string
  readonly logDir: string
}

/** systemd splits ExecStart on spaces: quote each argument. */
const quote = (arg: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, "\\$1")}"`)

export const render = (input: Input): string =>
  `[Unit]
Description=local-router supervisor (local model servers and routing)
StartLimitIntervalSec=120
StartLimitBurst=5

[Service]
Type=simple
ExecStart=${[input.node, ...input.programArguments].map(quote).join(" ")}
WorkingDirectory=${input.workingDirectory}
Environment=${quote(`PATH=${input.path}`)}
Environment=${quote(`LOCAL_ROUTER_CONFIG=${input.configFile}`)}
Environment=${quote(`LOCAL_ROUTER_LOG_DIR=${input.logDir}`)}
${Object.entries(input.environment).map(([name, value]) => `Environment=${quote(`${name}=${value}`)}\n`).join("")}Restart=on-failure
RestartSec=5
KillMode=control-group
KillSignal=SIGTERM
TimeoutStopSec=30
LimitNOFILE=8192

[Install]
WantedBy=default.target
`
