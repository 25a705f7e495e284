/**
 * bench/cli: how long `local-router --help` takes, warm and cold, as a ratio to a bare Node
 * start (`node -e ""`) measured in the same run, interleaved so that other load hits both alike.
 *
 *   ./run node bench/cli/help.ts [--runs 15] [--cold-runs 3] [--bin apps/supervisor/dist/bin.js]
 *
 * Warm: the files are in the OS's page cache (one untimed run of each first). Cold: before each
 * timed run every file the command could read (node, the built dist/ directories, node_modules)
 * is dropped from the page cache with posix_fadvise(DONTNEED), which needs no privileges; that
 * is done by python3's os.posix_fadvise (Linux). Without python3 the cold rows are skipped.
 * Goals (issue 18): <= 300 ms warm, <= 1 s cold.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "15" },
    "cold-runs": { type: "string", default: "3" },
    bin: { type: "string", default: "apps/supervisor/dist/bin.js" }
  }
})
const repo = path.resolve(import.meta.dirname, "../..")
const bin = path.resolve(repo, values.bin)
const runs = Number(values.runs)
const coldRuns = Number(values["cold-runs"])

const time = (args: ReadonlyArray<string>): number => {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}: ${result.stderr}`)
  return ms
}

const evict = (roots: ReadonlyArray<string>): boolean => {
  const script = [
    "import os, sys",
    "for root in sys.argv[1:]:",
    "  for dp, dn, fn in os.walk(root, followlinks=False):",
    "    for f in fn:",
    "      try:",
    "        fd = os.open(os.path.join(dp, f), os.O_RDONLY)",
    "        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)",
    "        os.close(fd)",
    "      except OSError: pass"
  ].join("\n")
  return spawnSync("python3", ["-c", script, ...roots], { stdio: "ignore" }).status === 0
}

const stats = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]! }
}
const row = (label: string, help: ReadonlyArray<number>, bare: ReadonlyArray<number>) => {
  const h = stats(help)
  const b = stats(bare)
  console.log(
    `${label.padEnd(6)} --help min ${h.min.toFixed(0)} ms, median ${h.median.toFixed(0)} ms | bare node min ${b.min.toFixed(0)} ms, median ${
      b.median.toFixed(0)
    } ms | ratio (median) ${(h.median / b.median).toFixed(2)}x, added ${(h.median - b.median).toFixed(0)} ms`
  )
}

time(["-e", ""])
time([bin, "--help"])
const warmHelp: Array<number> = []
const warmBare: Array<number> = []
for (let i = 0; i < runs; i++) {
  warmBare.push(time(["-e", ""]))
  warmHelp.push(time([bin, "--help"]))
}
row("warm", warmHelp, warmBare)

const roots = [path.dirname(path.dirname(process.execPath)), path.join(repo, "node_modules"), path.join(repo, "packages"), path.join(repo, "apps")]
if (coldRuns > 0 && evict([path.dirname(process.execPath)])) {
  const coldHelp: Array<number> = []
  const coldBare: Array<number> = []
  for (let i = 0; i < coldRuns; i++) {
    evict(roots)
    coldBare.push(time(["-e", ""]))
    evict(roots)
    coldHelp.push(time([bin, "--help"]))
  }
  row("cold", coldHelp, coldBare)
} else if (coldRuns > 0) console.log("cold   skipped: python3 (for posix_fadvise) is not available")
