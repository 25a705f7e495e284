/**
 * The full chaos soak, as a bench command (the CI test runs a short form):
 *
 *   ./run node bench/chaos/run.ts [--requests 1000] [--kills 100] [--concurrency 6] [--max-seconds 900] [--seed N]
 *
 * Starts the supervisor (MLX, Ollama and Moondream Station simulators as its children), a
 * simulated cloud, the router and the gateway, all on loopback; sends mixed traffic while
 * faults are flipped and servers are SIGKILLed; prints the counts and exits non-zero if any
 * request hung, was lost or came back as a silent half answer, if a server did not come back
 * to ready, or if a secret showed up anywhere. It stops by itself at the counts or the cap.
 */
import { parseArgs } from "node:util"
import { soak, summary } from "../../apps/supervisor/test/reliability/Chaos.ts"

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "1000" },
    kills: { type: "string", default: "100" },
    concurrency: { type: "string", default: "6" },
    "max-seconds": { type: "string", default: "900" },
    seed: { type: "string" }
  }
})

const report = await soak({
  requests: Number(values.requests),
  kills: Number(values.kills),
  concurrency: Number(values.concurrency),
  maxSeconds: Number(values["max-seconds"]),
  ...(values.seed ? { seed: Number(values.seed) } : {}),
  log: (line) => console.log(line)
})
console.log(summary(report))
const broken = report.hangs + report.lost + report.halfAnswers + report.leaks.length > 0 ||
  report.recovered !== report.kills || Object.values(report.finalPhases).some((p) => p !== "ready") || report.stoppedEarly
process.exitCode = broken ? 1 : 0
