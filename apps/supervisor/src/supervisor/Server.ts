/**
 * One supervised server: a single fiber owns its state and its child process (see README.md
 * for the states and why each transition happens). The fiber loops: adopt a running server, or
 * start our own, wait until it is ready, watch it with probes, and on a failure back off and
 * start again, or stop in `failed` when failures come too fast. Interrupting the server (the
 * scope closing) stops the child's whole process group.
 */
import type { Backend } from "@local-router/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Schema from "effect/Schema"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Binary from "./Binary.ts"
import * as Child from "./Child.ts"
import * as Liveness from "./Liveness.ts"
import * as LogFile from "./LogFile.ts"
import type * as Plans from "./Plans.ts"
import * as Policy from "./Policy.ts"
import * as Port from "./Port.ts"
import * as Pull from "./Pull.ts"

export interface Models {
  readonly present: ReadonlyArray<string>
  readonly missing: ReadonlyArray<string>
  /**
   * Of `present`, those the server itself reports in memory now (Ollama's /api/ps, mlx_vlm's
   * /health, Station's stats). Empty when none is, and also when the server cannot tell
   * (mlx_lm.server): never a guess.
   */
  readonly loaded: ReadonlyArray<string>
}

export interface Status {
  readonly name: string
  readonly type: string
  readonly phase: Policy.Phase
  /** Why it is in this phase, in words a person can act on. */
  readonly reason: string
  /** When the phase began (epoch ms). */
  readonly since: number
  readonly address: string
  readonly command: string
  /** Our child's pid; undefined for an adopted server or when nothing runs. */
  readonly pid: number | undefined
  /** When our child started (epoch ms), for uptime. */
  readonly startedAt: number | undefined
  readonly restarts: number
  /** Compared with `supervise.models`; undefined until a probe listed the server's models. */
  readonly models: Models | undefined
  readonly lastError: string | undefined
  /** The child's last output lines when it failed. */
  readonly lastLines: ReadonlyArray<string>
  readonly pull: Pull.Progress | undefined
  /** Whether a missing model can be pulled here: the backend's `capabilities.pull`, or a `pull.command`. */
  readonly canPull: boolean
  /** "backend": the backend's own layered probe; "tcp": its type cannot be loaded here, an open port counts. */
  readonly probe: "backend" | "tcp"
  readonly log: string
}

export interface Server {
  readonly name: string
  readonly status: Effect.Effect<Status>
  readonly changes: Stream.Stream<Status>
  /** Leave `failed` / `not-installed` now instead of waiting for the next check. */
  readonly retry: Effect.Effect<void>
  /**
   * Stop our child gracefully and start it again at once (no back-off, not counted as a crash);
   * from `failed` / `not-installed` it is `retry`. Refused for an adopted server: not ours to stop.
   */
  readonly restart: Effect.Effect<string, RestartRefused>
  /** Make a model present (one pull per server at a time), with progress. */
  readonly pull: (model: string) => Stream.Stream<Pull.Progress, Pull.PullError>
}

/** How a run ends when a person asked for the restart (not a failure: no back-off). */
const restartRequested = "restart requested"

export class RestartRefused extends Schema.TaggedError<RestartRefused>()("RestartRefused", {
  server: Schema.String,
  message: Schema.String
}) {}

export interface Options {
  readonly logDir: string
  /** How often a missing binary or a taken port is checked again. */
  readonly recheck?: number
  readonly env?: Readonly<Record<string, string | undefined>>
}

const PROBE_DEADLINE = Duration.seconds(10)
/** A server that takes longer than this to answer GET / gets the full probe at once. */
const QUICK_DEADLINE = 1_000

/** Which of `wanted` the server lists, comparing names as the server spells them (`normalize`). */
export const modelsOf = (wanted: ReadonlyArray<string>, probe: Backend.Probe, normalize: (name: string) => string): Models | undefined => {
  if (probe._tag !== "Ready") return undefined
  const listed = new Set(probe.models.map(normalize))
  const inMemory = new Set(probe.loaded.map(normalize))
  const present = wanted.filter((m) => listed.has(normalize(m)))
  return { present, missing: wanted.filter((m) => !listed.has(normalize(m))), loaded: present.filter((m) => inMemory.has(normalize(m))) }
}

/** Pulling needs a server with a pull API (`capabilities.pull`) or a `pull.command` to run instead. */
export const canPull = (plan: Pick<Plans.Server["plan"], "pull">, backend: Backend.Backend | undefined): boolean =>
  plan.pull.command !== undefined || backend?.capabilities.pull === true

const detail = (probe: Backend.Probe) => (probe._tag === "Ready" ? "ready" : probe.detail)

export const make = (server: Plans.Server, options: Options): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.gen(function*() {
    const plan = server.plan
    const env = options.env ?? process.env
    const recheck = options.recheck ?? 30_000
    const address = `${plan.host}:${plan.port}`
    const log = yield* Effect.acquireRelease(
      Effect.sync(() => LogFile.open(options.logDir, plan.name)),
      (l) => Effect.sync(() => l.close())
    )
    const backend = server.backend
    const modelsOfPlan = (p: Backend.Probe) => modelsOf(plan.models, p, server.normalizeModel)
    if (Result.isFailure(backend)) yield* Effect.logWarning(`${plan.name}: health is checked by TCP connect only: ${backend.failure}`)
    const probe: Effect.Effect<Backend.Probe> = Result.isSuccess(backend)
      ? Effect.timeoutOrElse(backend.success.probe, {
        duration: PROBE_DEADLINE,
        orElse: () => Effect.succeed<Backend.Probe>({ _tag: "Starting", detail: `the probe did not finish within ${Duration.format(PROBE_DEADLINE)}` })
      })
      : Port.tcpProbe(plan.host, plan.port)
    // Between full probes; a TCP-only probe is already cheap.
    const quick = Result.isSuccess(backend) ? Liveness.answers(plan.host, plan.port, QUICK_DEADLINE) : undefined

    const state = yield* SubscriptionRef.make<Status>({
      name: plan.name,
      type: plan.type,
      phase: "stopped",
      reason: "not started yet",
      since: Date.now(),
      address,
      command: [plan.command, ...plan.args].join(" "),
      pid: undefined,
      startedAt: undefined,
      restarts: 0,
      models: undefined,
      lastError: undefined,
      lastLines: [],
      pull: undefined,
      canPull: canPull(plan, Result.getOrUndefined(backend)),
      probe: Result.isSuccess(backend) ? "backend" : "tcp",
      log: log.file
    })
    const kick = yield* Queue.sliding<void>(1)
    const restartAsked = yield* Queue.sliding<void>(1)
    const pullLock = yield* Semaphore.make(1)
    const starts = yield* Ref.make(0)

    const update = (patch: Partial<Status>) => SubscriptionRef.update(state, (s) => ({ ...s, ...patch }))

    /** The only way the phase changes: checked against Policy.transitions, logged with its reason. */
    const move = (to: Policy.Phase, reason: string, patch: Partial<Status> = {}) =>
      Effect.gen(function*() {
        const current = yield* SubscriptionRef.get(state)
        const from = current.phase
        if (from !== to && !Policy.canMove(from, to)) {
          return yield* Effect.die(new Error(`${plan.name}: transition ${from} -> ${to} is not allowed (${reason})`))
        }
        // The same phase for the same reason again (a recheck that found nothing new): not logged,
        // and `since` keeps saying when it began.
        if (!Policy.isNews(current, to, reason)) return yield* update(patch)
        const now = yield* Clock.currentTimeMillis
        // In the log before anyone sees the phase: whoever reads the log on seeing it finds the line.
        log.note(`${from} -> ${to}: ${reason}`)
        yield* update({ ...patch, phase: to, reason, since: now })
        const line = `${plan.name}: ${from} -> ${to}: ${reason}`
        yield* to === "failed" || to === "unhealthy" || to === "not-installed" || to === "backing-off"
          ? Effect.logWarning(line)
          : Effect.logInfo(line)
      })

    const waitOrKick = (ms: number) => Effect.race(Effect.sleep(Duration.millis(ms)), Queue.take(kick))

    const pull = (model: string): Stream.Stream<Pull.Progress, Pull.PullError> =>
      Stream.unwrap(Effect.gen(function*() {
        yield* Effect.acquireRelease(pullLock.take(1), () => pullLock.release(1))
        return Pull.run({ plan, backend: Result.getOrUndefined(backend), model, log }).pipe(
          Stream.tap((progress) => update({ pull: progress })),
          // A failed pull shows where a person looks (the status page's card, `status`), not only in the log.
          Stream.tapError((error) => update({ lastError: `pull of ${model} failed: ${error.message}`, lastLines: [] })),
          Stream.ensuring(Effect.andThen(update({ pull: undefined }), refreshModels))
        )
      }))

    const refreshModels = Effect.flatMap(probe, (p) => {
      const models = modelsOfPlan(p)
      return models ? update({ models }) : Effect.void
    })

    const pullMissing = Effect.gen(function*() {
      const missing = (yield* SubscriptionRef.get(state)).models?.missing ?? []
      for (const model of missing) {
        yield* Effect.logInfo(`${plan.name}: pulling missing model ${model}`)
        const result = yield* Effect.result(Stream.runDrain(pull(model)))
        if (Result.isFailure(result)) {
          yield* update({ lastError: result.failure.message })
          yield* Effect.logWarning(`${plan.name}: pull of ${model} failed: ${result.failure.message}`)
        }
      }
    })

    /** Watch a running server; fails with the reason it must be restarted. */
    const watch = (onRecover: Effect.Effect<void>, onDead: (failures: number, probe: Backend.Probe) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        let failures = 0
        // Watching starts right after a full probe (readiness, or the one that found it adopted).
        let fullAt = yield* Clock.currentTimeMillis
        while (true) {
          yield* Effect.sleep(Duration.millis(plan.health.interval))
          const now = yield* Clock.currentTimeMillis
          if (quick && Policy.nextCheck(plan.health, failures, now - fullAt) === "quick" && (yield* quick)) continue
          const p = yield* probe
          fullAt = yield* Clock.currentTimeMillis
          const verdict = Policy.afterProbe(plan.health.failures, failures, p)
          switch (verdict._tag) {
            case "Healthy": {
              if (failures > 0) yield* onRecover
              failures = 0
              const models = modelsOfPlan(p)
              if (models) yield* update({ models })
              break
            }
            case "Unhealthy":
              failures = verdict.failures
              yield* onDead(failures, p)
              break
            case "Restart":
              return yield* Effect.fail(`${verdict.failures} health probes failed in a row (${detail(p)})`)
          }
        }
      })

    /** Our own child, from spawn to the reason its run ended. */
    const run = (file: string): Effect.Effect<string, never, Scope.Scope> =>
      Effect.gen(function*() {
        const spawned = yield* Effect.result(Child.spawn({ file, args: plan.args, env: plan.env, cwd: plan.cwd, stdin: plan.stdin, stop: plan.stop }, log))
        if (Result.isFailure(spawned)) return spawned.failure.message
        const child = spawned.success
        const n = yield* Ref.updateAndGet(starts, (k) => k + 1)
        yield* move("starting", `started ${file} (pid ${child.pid})`, { pid: child.pid, startedAt: child.startedAt, restarts: n - 1 })
        // A restart asked for before this start is already done.
        yield* Queue.clear(restartAsked)
        const exited = Effect.raceFirst(
          Effect.flatMap(child.exited, (e) => Effect.fail(`${plan.command} ${Child.describeExit(e)}`)),
          Effect.andThen(Queue.take(restartAsked), Effect.fail(restartRequested))
        )

        const ready = Effect.gen(function*() {
          const started = yield* Clock.currentTimeMillis
          let loading = false
          while (true) {
            const p = yield* probe
            const r = Policy.readiness(p)
            const now = yield* Clock.currentTimeMillis
            if (r === "ready") return { probe: p, ms: now - started }
            if (r === "loading" && !loading) {
              loading = true
              yield* update({ reason: `loading: ${detail(p)}` })
            }
            if (!loading && now - started > plan.readiness.deadline) {
              return yield* Effect.fail(`not ready within ${plan.readiness.deadline}ms (${detail(p)})`)
            }
            yield* Effect.sleep(Duration.millis(plan.readiness.interval))
          }
        })
        const up = yield* Effect.result(Effect.raceFirst(ready, exited))
        if (Result.isFailure(up)) return up.failure
        yield* move("ready", `answers at ${address} (${up.success.ms}ms after start)`, { models: modelsOfPlan(up.success.probe) })
        if (plan.pull.onStart) yield* Effect.forkScoped(pullMissing)
        const ended = yield* Effect.result(Effect.raceFirst(
          watch(
            move("ready", "probes answer again"),
            (n, p) => move("unhealthy", `health probe ${n}/${plan.health.failures} failed: ${detail(p)}`)
          ),
          exited
        ))
        return Result.isFailure(ended) ? ended.failure : "stopped watching"
      })

    /** A server that answered before we started anything: watch it until it goes away. */
    const adopt = (p: Backend.Probe) =>
      Effect.gen(function*() {
        yield* move("adopted", `a ${plan.type} server already answers at ${address}; using it instead of starting another`, {
          pid: undefined,
          startedAt: undefined,
          models: modelsOfPlan(p)
        })
        const gone = yield* Effect.flip(watch(Effect.void, () => Effect.void))
        yield* Effect.logWarning(`${plan.name}: the adopted server stopped answering: ${gone}; starting our own`)
      })

    let failures: ReadonlyArray<number> = []
    const cycle = Effect.gen(function*() {
      const before = yield* probe
      if (Policy.health(before) === "alive") {
        if (plan.adopt) return yield* adopt(before)
        yield* move("failed", `${address} already serves a ${plan.type} server that local-router did not start, and adopt is false: stop it or set adopt: true`)
        return yield* waitOrKick(recheck)
      }
      if (yield* Port.isOpen(plan.host, plan.port)) {
        yield* move("failed", `port ${address} is taken by another program (${detail(before)}): stop it or give this backend another url`, {
          lastError: `port ${address} is taken by another program`
        })
        return yield* waitOrKick(recheck)
      }
      const found = Binary.find(plan.command, { ...env, ...(plan.env.PATH ? { PATH: plan.env.PATH } : {}) })
      if (found._tag === "Missing") {
        yield* move("not-installed", `${plan.command} not found (looked in ${found.searched.join(", ")})${plan.installHint ? `; install it with: ${plan.installHint}` : ""}`)
        return yield* waitOrKick(recheck)
      }
      const reason = yield* Effect.scoped(run(found.path))
      // Asked for, not a crash: the child was stopped gracefully; start the next one now.
      if (reason === restartRequested) {
        failures = []
        return yield* move("stopped", "restart asked for: stopped gracefully, starting again", { pid: undefined })
      }
      const lastLines = log.tail()
      const now = yield* Clock.currentTimeMillis
      const decision = Policy.afterFailure(plan.restart, failures, now)
      failures = decision.failures
      if (decision._tag === "Retry") {
        yield* move("backing-off", `${reason}; starting again in ${decision.delay}ms`, { pid: undefined, lastError: reason, lastLines })
        return yield* Effect.sleep(Duration.millis(decision.delay))
      }
      yield* move("failed", `${decision.reason}; last: ${reason}${lastLines.length ? `\n  last output:\n    ${lastLines.slice(-10).join("\n    ")}` : ""}`, {
        pid: undefined,
        lastError: reason,
        lastLines
      })
      yield* Queue.take(kick)
      failures = []
    })

    yield* Effect.addFinalizer(() =>
      Effect.flatMap(SubscriptionRef.get(state), (s) => s.phase === "stopped" ? Effect.void : move("stopped", "supervisor stopping"))
    )
    yield* Effect.forkScoped(Effect.forever(cycle).pipe(
      Effect.catchCause((cause) => Effect.logError(`${plan.name}: supervision ended unexpectedly`, cause))
    ))

    return {
      name: plan.name,
      status: SubscriptionRef.get(state),
      changes: SubscriptionRef.changes(state),
      retry: Queue.offer(kick, undefined),
      restart: Effect.flatMap(SubscriptionRef.get(state), (s): Effect.Effect<string, RestartRefused> => {
        switch (s.phase) {
          case "adopted":
            return Effect.fail(new RestartRefused({ server: plan.name, message: `${plan.name} was already running when local-router started (adopted): restart it where it was started` }))
          case "failed":
          case "not-installed":
            return Effect.as(Queue.offer(kick, undefined), `${plan.name}: trying again now`)
          case "starting":
          case "ready":
          case "unhealthy":
            return Effect.as(Queue.offer(restartAsked, undefined), `${plan.name}: restarting`)
          default:
            return Effect.fail(new RestartRefused({ server: plan.name, message: `${plan.name} is ${s.phase}: nothing runs to restart` }))
        }
      }),
      pull
    }
  })
