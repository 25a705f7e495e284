/**
 * `local-router pull [backend] [model]`: make models present. With no model, every model the
 * backend's `supervise.models` (by default: the models routing.yaml's categories use) lists
 * that the server does not have; with no backend, every supervised server. Progress bars on a
 * terminal, JSON lines otherwise (and with --json). A model that could not be pulled makes the
 * command exit 7 once the others are done. The servers must be running (`local-router serve` does this
 * on start by itself).
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { jsonOption, routingFile } from "../CliConfig.ts"
import { CommandFailed, ExitCode } from "../ExitCode.ts"
import { root } from "../Root.ts"
import type * as Pull from "../supervisor/Pull.ts"

interface Bar {
  update(value: number, payload?: object): void
  setTotal(total: number): void
  stop(): void
}

const progressView = (json: boolean) => Effect.promise(async () => {
  if (json || !process.stdout.isTTY) {
    return {
      show: (backend: string, p: Pull.Progress) => Effect.sync(() => process.stdout.write(`${JSON.stringify({ backend, ...p })}\n`)),
      done: Effect.void
    }
  }
  const { default: progress } = await import("cli-progress")
  const multi = new progress.MultiBar({
    format: "{label} [{bar}] {percentage}% {status}",
    hideCursor: true,
    clearOnComplete: false
  }, progress.Presets.shades_classic)
  const bars = new Map<string, Bar>()
  return {
    show: (backend: string, p: Pull.Progress) =>
      Effect.sync(() => {
        const key = `${backend} ${p.model}`
        let bar = bars.get(key)
        if (!bar) {
          bar = multi.create(p.total ?? 1, 0, { label: key, status: p.status }) as Bar
          bars.set(key, bar)
        }
        if (p.total) bar.setTotal(p.total)
        bar.update(p.completed ?? (p.status === "success" ? p.total ?? 1 : 0), { status: p.status })
      }),
    done: Effect.sync(() => multi.stop())
  }
})

/** Failures grouped by what was said: a server that is not running is one line, not one per model. */
const sameReason = (failures: ReadonlyArray<{ readonly model: string; readonly message: string }>) => {
  const models = new Map<string, Array<string>>()
  for (const f of failures) models.set(f.message, [...models.get(f.message) ?? [], f.model])
  return [...models]
}

export const pull = Command.make(
  "pull",
  {
    backend: Argument.String("backend").pipe(
      Argument.withDescription("A supervised backend of routing.yaml (default: every one)"),
      Argument.optional
    ),
    model: Argument.String("model").pipe(
      Argument.withDescription("The model to pull (default: each the backend lists and does not have)"),
      Argument.optional
    ),
    json: jsonOption
  },
  ({ backend, json, model }) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { loaderOptions, locate } = yield* routingFile
      const file = yield* locate(parent.config)
      const [LogFile, Paths, Plans, Pull, Server] = yield* Effect.promise(() =>
        Promise.all([
          import("../supervisor/LogFile.ts"),
          import("../supervisor/Paths.ts"),
          import("../supervisor/Plans.ts"),
          import("../supervisor/Pull.ts"),
          import("../supervisor/Server.ts")
        ])
      )
      const loaded = yield* Plans.load(file, loaderOptions)
      const chosen = loaded.servers.filter((s) => Option.isNone(backend) || s.plan.name === backend.value)
      if (Option.isSome(backend) && chosen.length === 0) {
        const supervised = loaded.servers.map((s) => s.plan.name)
        return yield* new CommandFailed({
          code: ExitCode.rejected,
          reason: "UnknownBackend",
          message: `no supervised backend named ${backend.value}; supervised: ${supervised.join(", ") || "none"}`,
          details: { known: supervised }
        })
      }
      const view = yield* progressView(json)
      const failures: Array<{ readonly backend: string; readonly model: string; readonly reason: string; readonly message: string }> = []
      for (const server of chosen) {
        const made = Result.getOrUndefined(server.backend)
        const wanted = Option.isSome(model)
          ? [model.value]
          : made
          ? Server.modelsOf(server.plan.models, yield* made.probe, server.normalizeModel)?.missing ?? server.plan.models
          : server.plan.models
        const log = LogFile.open(Paths.serverLogs(), server.plan.name)
        for (const m of wanted) {
          const result = yield* Pull.run({ plan: server.plan, backend: made, model: m, log }).pipe(
            Stream.runForEach((p) => view.show(server.plan.name, p)),
            Effect.result
          )
          if (Result.isFailure(result)) {
            // Some failures already name their backend ("mlx: its backend type cannot be loaded"): once is enough.
            const said = result.failure.message
            const named = said.startsWith(`${server.plan.name}: `) ? said : `${server.plan.name}: ${said}`
            failures.push({ backend: server.plan.name, model: m, reason: result.failure.reason, message: named })
          }
        }
        log.close()
      }
      yield* view.done
      if (failures.length > 0) {
        return yield* new CommandFailed({
          code: ExitCode.pullFailed,
          reason: "PullFailed",
          message: failures.length === 1
            ? `could not pull ${failures[0]!.model}: ${failures[0]!.message}`
            : `could not pull ${failures.length} models:\n${sameReason(failures).map(([message, models]) => `  ${models.join(", ")}: ${message}`).join("\n")}`,
          details: { failures }
        })
      }
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Pull missing models on the supervised servers, with progress"))
