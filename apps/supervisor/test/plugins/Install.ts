/**
 * A scaffolded plugin's dependencies linked to the workspace's, as an offline `npm install`
 * would place them (the real `npm install` runs in Pack.test.ts). Directories live under
 * apps/supervisor/.tmp (git-ignored) so nothing escapes the repo.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const repo = path.resolve(import.meta.dirname, "../../../..")
const tmpRoot = path.join(repo, "apps/supervisor/.tmp")

export const tempDir = (prefix: string): string => {
  fs.mkdirSync(tmpRoot, { recursive: true })
  return fs.mkdtempSync(path.join(tmpRoot, prefix))
}

/** The workspace's copy of a package that core depends on (or core itself). */
const workspacePackage = (name: string): string =>
  name === "@local-router/core"
    ? path.join(repo, "packages/core")
    : fs.realpathSync(path.join(repo, "packages/core/node_modules", name))

const rootPackage = (name: string): string => fs.realpathSync(path.join(repo, "node_modules", name))

/** Link `names` into `dir`/node_modules, as an install would place them. */
export const linkPackages = (dir: string, names: ReadonlyArray<string>): void => {
  for (const name of names) {
    const target = path.join(dir, "node_modules", name)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    const source = name === "vitest" || name === "@effect/vitest" ? rootPackage(name) : workspacePackage(name)
    fs.symlinkSync(source, target, "dir")
  }
}
