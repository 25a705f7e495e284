/**
 * A headless Chromium for browser tests: $CHROMIUM_PATH, else one on the PATH (Debian's
 * `chromium`, or Chrome), else Debian's `chromium` package installed here with apt-get when this
 * machine can (root, or sudo without a password). It comes from the distribution's registry,
 * never from a browser download of its own.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

const candidates = [
  "chromium",
  "chromium-browser",
  "google-chrome",
  "google-chrome-stable",
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  "/Applications/Chromium.app/Contents/MacOS/Chromium"
]

const which = (name: string): string | undefined => {
  if (name.startsWith("/")) return fs.existsSync(name) ? name : undefined
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

const found = (): string | undefined => process.env.CHROMIUM_PATH || candidates.map(which).find((p) => p !== undefined)

const canRun = (command: string, args: ReadonlyArray<string>): boolean => {
  try {
    execFileSync(command, args, { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** The browser's path, installing Debian's package first when none is here. */
export const ensure = (): string => {
  const present = found()
  if (present) return present
  const apt = which("apt-get")
  const root = process.getuid?.() === 0
  const sudo = !root && which("sudo") !== undefined && canRun("sudo", ["-n", "true"])
  if (!apt || (!root && !sudo)) {
    throw new Error(
      "the browser tests need Chromium: install it (Debian/Ubuntu: apt-get install chromium), or set CHROMIUM_PATH to a Chrome or Chromium binary"
    )
  }
  const as = (args: ReadonlyArray<string>) => (root ? ["apt-get", ...args] : ["sudo", "-n", "apt-get", ...args])
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", "chromium"]]) {
    const [command, ...rest] = as(args)
    execFileSync(command!, rest, { stdio: ["ignore", "ignore", "inherit"], env, timeout: 10 * 60_000 })
  }
  const installed = found()
  if (!installed) throw new Error("apt-get installed chromium, but no chromium binary is on the PATH")
  return installed
}
