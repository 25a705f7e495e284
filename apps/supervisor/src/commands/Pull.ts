/**
 * `local-router pull [backend] [model]`: make models present. With no model, every model the
 * backend's `supervise.models` (by default: the models routing.yaml's categories use) lists
 * that the server does not have; with no backend, every supervised server. Progress bars on a
 * terminal, JSON lines otherwise. The servers must be running (`local-router serve` does this
 * on start by itself).
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"
import type * as Pull from "../supervisor/Pull.ts"

interface Bar {
  update(value: number, payload?: object): void
  setTotal(total: number): void
  stop(): void
}

const progressView = Effect.promise(async () => {
  if (!process.stdout.isTTY) {
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

export const pull = Command.make(
  "pull",
  {
    backend: Argument.String("backend").pipe(Argument.optional),
    model: Argument.String("model").pipe(Argument.optional)
  },
  ({ backend, model }) =>
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
        yield* Console.error(`no supervised backend named ${backend.value}; supervised: ${loaded.servers.map((s) => s.plan.name).join(", ") || "none"}`)
        return yield* Effect.sync(() => void (process.exitCode = 2))
      }
      const view = yield* progressView
      let failed = 0
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
            failed++
            yield* Console.error(`${server.plan.name}: ${result.failure.message}`)
          }
        }
        log.close()
      }
      yield* view.done
      if (failed > 0) process.exitCode = 1
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Pull missing models on the supervised servers, with progress"))
