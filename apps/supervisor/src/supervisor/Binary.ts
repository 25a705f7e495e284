/**
 * Finding a server's executable. launchd starts local-router with PATH=/usr/bin:/bin:/usr/sbin:/sbin
 * (protocols.md §5.2), where Homebrew and pipx installs are invisible, so the usual Mac places
 * are searched too, and the child is always spawned by absolute path.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** Searched after PATH, in this order. */
export const usualPlaces = (home = os.homedir()): ReadonlyArray<string> => [
  "/opt/homebrew/bin",
  "/usr/local/bin",
  path.join(home, ".local", "bin")
]

export type Found =
  | { readonly _tag: "Found"; readonly path: string }
  | { readonly _tag: "Missing"; readonly searched: ReadonlyArray<string> }

const executable = (file: string) => {
  try {
    const stat = fs.statSync(file)
    if (!stat.isFile()) return false
    fs.accessSync(file, fs.constants.X_OK)
    return true
  } catch {
    // Not there, or not executable: the next directory is tried, and all are named if none fits.
    return false
  }
}

export const find = (command: string, env: Readonly<Record<string, string | undefined>> = process.env): Found => {
  if (command.includes("/")) {
    const file = path.resolve(command)
    return executable(file) ? { _tag: "Found", path: file } : { _tag: "Missing", searched: [file] }
  }
  const dirs = [...new Set([...(env.PATH ?? "").split(path.delimiter).filter(Boolean), ...usualPlaces(env.HOME ?? os.homedir())])]
  for (const dir of dirs) {
    const file = path.join(dir, command)
    if (executable(file)) return { _tag: "Found", path: file }
  }
  return { _tag: "Missing", searched: dirs }
}
