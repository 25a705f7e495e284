/**
 * One child process in its own process group, owned by exactly one scope: closing the scope
 * stops the whole group (the stop signal, then SIGKILL after the grace period), so a server's
 * helpers (Ollama's runners, Python workers) go with it. Output goes to the server's log file.
 *
 * Why not execa (measured 2026-12-06, this project's 2-core VM, a version of this file on execa
 * 10.2.1 with killDescendants + forceKillAfterDelay): idle serve 85.7-85.8 MB RSS against
 * 82.7-83.2 MB here (alternating runs of bench/supervisor), +35-70 ms to import it (34 more
 * Node built-ins: worker_threads, v8, readline...), twice the parent CPU per start (1.6 ms
 * against 0.8 ms), and kill -9 -> ready no faster (274-323 ms over the server's own start,
 * against 266-332 ms). Its `cleanup` (signal-exit) re-sends SIGTERM once Effect's runMain
 * handler has removed itself, so serve died before stopping its children gracefully; without
 * `cleanup` it would replace only the group signal and the SIGKILL timer below, and the exit
 * hook and the leader's own `exit` event would still be ours.
 *
 * Why not Effect 4's `effect/process` (ChildProcess + @effect/platform-node's spawner, read
 * 2026-12-06 at 4.1.5): it does detach, signal the group and escalate to SIGKILL
 * (`killSignal`, `forceKillAfter`), but a death by signal comes back only as a PlatformError
 * message (our status says "killed by SIGKILL"), output arrives as byte streams that would need
 * two fibers per child to reach the log file, helpers left in the group after the leader exits get
 * the whole grace period instead of the SIGKILL sweep below, it has no last-resort exit hook, and
 * every caller up to serve would need a spawner, FileSystem and Path layer. Not simpler here.
 */
import { spawn as spawnProcess } from "node:child_process"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { LogFile } from "./LogFile.ts"

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Set when the process could not be started at all (EACCES, ENOENT...). */
  readonly error?: string
}

export const describeExit = (exit: Exit): string =>
  exit.error ?? (exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`)

export interface Child {
  readonly pid: number
  readonly startedAt: number
  /** Completes when the process has exited, for whatever reason. */
  readonly exited: Effect.Effect<Exit>
  readonly isRunning: Effect.Effect<boolean>
}

export class SpawnError extends Schema.TaggedError<SpawnError>()("SpawnError", { message: Schema.String }) {}

export interface Spec {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
  readonly stdin: "pipe" | "ignore"
  readonly stop: { readonly signal: NodeJS.Signals; readonly grace: number }
}

// Last resort for "no orphans": if the supervisor exits without closing its scopes (a bug, an
// uncaught error), every group still alive gets SIGKILL on the way out.
const groups = new Set<number>()
let hooked = false
const hookExit = () => {
  if (hooked) return
  hooked = true
  process.once("exit", () => {
    for (const pgid of groups) signalGroup(pgid, "SIGKILL")
  })
}

/** Signal a whole process group; false when it no longer exists. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): boolean => {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    // ESRCH: every process of the group has exited.
    return false
  }
}

/** Start the child; it is stopped (the whole group) when `scope` closes. */
export const spawn = (spec: Spec, log: LogFile): Effect.Effect<Child, SpawnError, Scope.Scope> =>
  Effect.acquireRelease(start(spec, log), (child) => stop(child, spec.stop)).pipe(
    Effect.map(({ child }) => child)
  )

interface Started {
  readonly child: Child
  readonly pgid: number
}

const start = (spec: Spec, log: LogFile): Effect.Effect<Started, SpawnError> =>
  Effect.gen(function*() {
    hookExit()
    const done = yield* Deferred.make<Exit>()
    const proc = yield* Effect.try({
      try: () =>
        spawnProcess(spec.file, [...spec.args], {
          cwd: spec.cwd,
          env: { ...process.env, ...spec.env },
          // A pipe we never write nor close: interactive servers see an open terminal-less stdin.
          stdio: [spec.stdin, "pipe", "pipe"],
          detached: true
        }),
      catch: (e) => new SpawnError({ message: `cannot start ${spec.file}: ${e instanceof Error ? e.message : String(e)}` })
    })
    proc.stdout?.setEncoding("utf8").on("data", (s: string) => log.write(s, "stdout"))
    proc.stderr?.setEncoding("utf8").on("data", (s: string) => log.write(s, "stderr"))
    proc.stdin?.on("error", () => {
      // EPIPE after the child exited; its exit is reported through `exited`.
    })
    proc.once("error", (e) => {
      Deferred.doneUnsafe(done, Effect.succeed({ code: null, signal: null, error: `cannot start ${spec.file}: ${e.message}` }))
    })
    proc.once("exit", (code, signal) => {
      Deferred.doneUnsafe(done, Effect.succeed({ code, signal }))
    })
    if (proc.pid === undefined) {
      const exit = yield* Deferred.await(done)
      return yield* new SpawnError({ message: describeExit(exit) })
    }
    const pgid = proc.pid
    groups.add(pgid)
    return {
      pgid,
      child: {
        pid: pgid,
        startedAt: Date.now(),
        exited: Deferred.await(done),
        isRunning: Effect.map(Deferred.isDone(done), (d) => !d)
      }
    }
  })

/** The stop signal to the group, SIGKILL after `grace`, and a final sweep of the group. */
export const stop = (started: Started, how: Spec["stop"]): Effect.Effect<Exit> =>
  Effect.gen(function*() {
    const { child, pgid } = started
    if (yield* child.isRunning) {
      signalGroup(pgid, how.signal)
      // A release runs uninterruptibly; the timeout's contenders start interruptible, so it can abandon the wait.
      const exit = yield* Effect.timeoutOption(child.exited, Duration.millis(how.grace))
      if (Option.isNone(exit)) {
        yield* Effect.logWarning(`pid ${pgid} ignored ${how.signal} for ${how.grace}ms: SIGKILL`)
        signalGroup(pgid, "SIGKILL")
      }
    }
    const exit = yield* child.exited
    // Helpers left in the group after the leader exited go too: no orphans.
    signalGroup(pgid, "SIGKILL")
    groups.delete(pgid)
    return exit
  })
