/**
 * Installing a plugin package the way `npm install` would, without the network: its files
 * copied into a `node_modules` next to a routing.yaml, and its peer dependencies
 * (`@local-router/core`, `effect`) linked to the workspace's. Directories live under
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

/** Copy a package's published files (package.json's `files`, plus package.json) into `dir`/node_modules. */
export const installCopy = (dir: string, packageDir: string): string => {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8")) as { name: string; files?: ReadonlyArray<string> }
  const target = path.join(dir, "node_modules", manifest.name)
  fs.mkdirSync(target, { recursive: true })
  for (const entry of ["package.json", ...(manifest.files ?? [])]) {
    fs.cpSync(path.join(packageDir, entry), path.join(target, entry), { recursive: true })
  }
  linkPackages(dir, ["@local-router/core", "effect"])
  return target
}
