/**
 * Making a model present on a server. Ollama pulls through its own API (the backend's
 * `ensureModel`); servers without a pull API (mlx_lm, Moondream Station) run the configured
 * `pull.command`. A free-disk check comes first. An interrupted pull is simply started again:
 * Ollama and `huggingface-cli download` both resume from the bytes already on disk.
 */
import type { Backend } from "@local-router/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import type { LogFile } from "./LogFile.ts"
import type { Plan } from "./Supervise.ts"

export interface Progress {
  readonly model: string
  readonly status: string
  readonly total?: number
  readonly completed?: number
}

export class PullError extends Schema.TaggedError<PullError>()("PullError", {
  reason: Schema.Literals(["NoSpace", "Unsupported", "Failed"]),
  model: Schema.String,
  message: Schema.String
}) {}

export interface Input {
  readonly plan: Plan
  readonly backend: Backend.Backend | undefined
  readonly model: string
  readonly log: LogFile
  /** Where free space is measured (default: the home directory, where model stores live). */
  readonly diskAt?: string
}

export const freeBytes = (dir: string): Effect.Effect<number> =>
  Effect.promise(() => fs.promises.statfs(dir).then((s) => s.bavail * s.bsize, () => Number.POSITIVE_INFINITY))

const formatBytes = (n: number) => `${(n / 1e9).toFixed(1)} GB`

export const run = (input: Input): Stream.Stream<Progress, PullError> => {
  const { plan, backend, model, log } = input
  const checked = Effect.gen(function*() {
    const dir = input.diskAt ?? os.homedir()
    const free = yield* freeBytes(dir)
    if (free < plan.pull.minFreeDisk) {
      return yield* new PullError({
        reason: "NoSpace",
        model,
        message: `not pulling ${model} on ${plan.name}: ${formatBytes(free)} free at ${dir}, below pull.minFreeDisk (${formatBytes(plan.pull.minFreeDisk)})`
      })
    }
    log.note(`pull ${model}: starting`)
    if (plan.pull.command) return byCommand(plan.pull.command, model, plan, log)
    if (!backend) {
      return yield* new PullError({ reason: "Unsupported", model, message: `${plan.name}: its backend type cannot be loaded here and no pull.command is set` })
    }
    return backend.ensureModel(model).pipe(
      Stream.map((p): Progress => ({ model, ...p })),
      Stream.mapError((e) => new PullError({ reason: "Failed", model, message: e.message }))
    )
  })
  let last = ""
  return Stream.unwrap(checked).pipe(
    Stream.tap((p) =>
      Effect.sync(() => {
        if (p.status !== last) log.note(`pull ${model}: ${p.status}`)
        last = p.status
      })
    )
  )
}

/** `pull.command` with {model} filled in; each output line is a progress status. */
const byCommand = (command: ReadonlyArray<string>, model: string, plan: Plan, log: LogFile): Stream.Stream<Progress, PullError> =>
  Stream.callback<Progress, PullError>((queue) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const [file, ...args] = command.map((s) => s.replaceAll("{model}", model))
        const child = spawn(file!, args, { cwd: plan.cwd, env: { ...process.env, ...plan.env }, stdio: ["ignore", "pipe", "pipe"], detached: true })
        let tail = ""
        const onData = (s: string) => {
          log.write(s, "stdout")
          tail = (tail + s).slice(-2000)
          for (const line of s.split(/[\r\n]+/)) if (line.trim()) Queue.offerUnsafe(queue, { model, status: line.trim() })
        }
        child.stdout.setEncoding("utf8").on("data", onData)
        child.stderr.setEncoding("utf8").on("data", onData)
        child.once("error", (e) => Queue.failCauseUnsafe(queue, Cause.fail(new PullError({ reason: "Failed", model, message: `${file}: ${e.message}` }))))
        child.once("exit", (code, signal) => {
          if (code === 0) {
            Queue.offerUnsafe(queue, { model, status: "success" })
            Queue.endUnsafe(queue)
          } else {
            Queue.failCauseUnsafe(queue, Cause.fail(new PullError({ reason: "Failed", model, message: `${command.join(" ")} ${signal ? `killed by ${signal}` : `exited with code ${code}`}: ${tail.trim().split("\n").slice(-3).join(" | ")}` })))
          }
        })
        return child
      }),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null && child.pid) {
            try {
              process.kill(-child.pid, "SIGTERM")
            } catch {
              // Already gone.
            }
          }
        })
    )
  )
