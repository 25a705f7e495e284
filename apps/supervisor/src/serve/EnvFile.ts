/**
 * serve's secrets file (`serve --env-file FILE`; the login service passes
 * ~/.config/local-router/service.env): NAME=value lines read into the environment before
 * routing.yaml is, so its `env:NAME` references resolve in a service that never saw a shell.
 *
 * serve reads it itself, on both platforms, rather than systemd's EnvironmentFile= on Linux and
 * a wrapper script under launchd: one parser (Node's own dotenv reader, process.loadEnvFile) with
 * the same quoting rules everywhere (util.parseEnv, as `node --env-file`), no shell between launchd and node, and serve can say what
 * it read (names, never values) and warn when the file is readable by others. A variable already set in serve's
 * environment wins over the file (Node's rule), so `OPENAI_API_KEY=... local-router serve`
 * still overrides it by hand.
 */
import * as fs from "node:fs"
import * as util from "node:util"

export type Loaded =
  | { readonly _tag: "Loaded"; readonly file: string; readonly names: ReadonlyArray<string>; readonly warning: string | undefined }
  | { readonly _tag: "Missing"; readonly file: string }
  | { readonly _tag: "Unreadable"; readonly file: string; readonly message: string }

export const load = (file: string, env: NodeJS.ProcessEnv = process.env): Loaded => {
  let text: string
  let mode: number
  try {
    text = fs.readFileSync(file, "utf8")
    mode = fs.statSync(file).mode & 0o777
  } catch (e) {
    const error = e as NodeJS.ErrnoException
    if (error.code === "ENOENT") return { _tag: "Missing", file }
    return { _tag: "Unreadable", file, message: error.message }
  }
  const values = util.parseEnv(text)
  // Node's parser, Node's rule: what is already set wins.
  for (const [name, value] of Object.entries(values)) if (env[name] === undefined) env[name] = value
  const names = Object.keys(values)
  const warning = mode & 0o077
    ? `${file} is readable by others (mode ${mode.toString(8).padStart(4, "0")}); it holds keys: chmod 600 ${file}`
    : undefined
  return { _tag: "Loaded", file, names, warning }
}

/** The line serve logs: which names were read (never a value). */
export const describe = (loaded: Loaded): string => {
  switch (loaded._tag) {
    case "Loaded":
      return `environment from ${loaded.file}: ${loaded.names.length ? loaded.names.join(", ") : "no variables set"}`
    case "Missing":
      return `no env file at ${loaded.file}: env:NAME keys resolve from serve's own environment only (\`local-router service install\` creates the file)`
    case "Unreadable":
      return `cannot read ${loaded.file}: ${loaded.message}`
  }
}
