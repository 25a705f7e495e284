/**
 * All supervised servers of the running routing.yaml. The supervisor reads no file and watches
 * none: it follows LiveRouting's snapshots, so it moves to a new version of the config at the
 * moment the router does, and probes and pulls through the very backends the router uses.
 *
 * Each server lives in its own scope. A new version closes the scopes of servers that were
 * removed or whose plan or backend changed (stopping their process groups) and opens scopes for
 * new or changed ones, leaving the rest untouched. A rejected edit never reaches the supervisor:
 * LiveRouting keeps the running version, and its error shows in the status (`configError`).
 */
import { LiveRouting } from "@local-router/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Plans from "./Plans.ts"
import * as Server from "./Server.ts"
import * as Supervise from "./Supervise.ts"

export interface Snapshot {
  readonly file: string
  readonly pid: number
  readonly startedAt: number
  /** The version of routing.yaml the servers run (LiveRouting's, the router's). */
  readonly version: number
  /** The last rejected edit of routing.yaml (the running config is older than the file). */
  readonly configError: string | undefined
  readonly servers: ReadonlyArray<Server.Status>
}

interface Applied {
  readonly version: number
  readonly started: ReadonlyArray<string>
  readonly stopped: ReadonlyArray<string>
  readonly restarted: ReadonlyArray<string>
}

export interface Supervisor {
  readonly file: string
  readonly servers: Effect.Effect<ReadonlyArray<Server.Server>>
  readonly server: (name: string) => Effect.Effect<Server.Server | undefined>
  readonly snapshot: Effect.Effect<Snapshot>
  /** The version of routing.yaml the servers run now, then each version as they reach it. */
  readonly versions: Stream.Stream<number>
}

export const Supervisor = Context.Service<Supervisor>("@local-router/supervisor/Supervisor")

export type Options = Server.Options

interface Running {
  readonly key: string
  readonly slot: Plans.Server["slot"]
  readonly scope: Scope.Closeable
  readonly server: Server.Server
}

/**
 * The supervisor of LiveRouting's config. LiveRouting must check `supervise:` blocks
 * (`superviseSchema: Supervise.Field`, as Builtins.loaderOptions does), so a bad block is a
 * rejected edit with its file:line:col rather than a server left alone.
 */
export const make = (options: Options): Effect.Effect<Supervisor, never, Scope.Scope | LiveRouting.LiveRouting> =>
  Effect.gen(function*() {
    const live = yield* LiveRouting.LiveRouting
    const startedAt = Date.now()
    const running = yield* Ref.make(new Map<string, Running>())
    const version = yield* SubscriptionRef.make(0)

    const apply = (snapshot: LiveRouting.Snapshot): Effect.Effect<Applied | undefined> =>
      Effect.gen(function*() {
        if (snapshot.version <= (yield* SubscriptionRef.get(version))) return undefined
        const loaded = Plans.fromSnapshot(snapshot)
        for (const problem of loaded.invalid) yield* Effect.logWarning(`not supervised: ${problem}`)
        const before = yield* Ref.get(running)
        const next = new Map(loaded.servers.map((s) => [s.plan.name, s] as const))
        const going = [...before.values()].filter((r) => {
          const s = next.get(r.server.name)
          return !s || Supervise.key(s.plan) !== r.key || s.slot !== r.slot
        })
        // Stop first, so a changed server's port is free before its new self starts.
        yield* Effect.forEach(going, (r) => Scope.close(r.scope, Exit.void), { concurrency: "unbounded", discard: true })
        yield* Ref.update(running, (m) => new Map([...m].filter(([, r]) => !going.includes(r))))
        const started: Array<string> = []
        const restarted: Array<string> = []
        for (const s of loaded.servers) {
          if ((yield* Ref.get(running)).has(s.plan.name)) continue
          const scope = yield* Scope.make()
          const server = yield* Scope.provide(Server.make(s, options), scope)
          // Recorded at once, so the supervisor's finalizer stops it even if this apply is cut short.
          yield* Ref.update(running, (m) => new Map(m).set(s.plan.name, { key: Supervise.key(s.plan), slot: s.slot, scope, server }))
          if (before.has(s.plan.name)) restarted.push(s.plan.name)
          else started.push(s.plan.name)
        }
        yield* SubscriptionRef.set(version, snapshot.version)
        const stopped = going.map((r) => r.server.name).filter((n) => !next.has(n))
        return { version: snapshot.version, started, stopped, restarted }
      })

    // Every server stops, in parallel, when the supervisor's scope closes.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Ref.get(running), (m) =>
        Effect.forEach(m.values(), (r) => Scope.close(r.scope, Exit.void), { concurrency: "unbounded", discard: true }))
    )

    // The version in force now, then, one at a time, every version LiveRouting swaps in.
    yield* apply(yield* live.snapshot)
    yield* Effect.forkScoped(Stream.runForEach(live.changes, (snapshot) =>
      Effect.flatMap(apply(snapshot), (a) => {
        if (!a) return Effect.void
        const said = [
          a.started.length ? `started ${a.started.join(", ")}` : "",
          a.restarted.length ? `restarted ${a.restarted.join(", ")}` : "",
          a.stopped.length ? `stopped ${a.stopped.join(", ")}` : ""
        ].filter(Boolean)
        return Effect.logInfo(`routing.yaml version ${a.version} supervised${said.length ? `: ${said.join("; ")}` : " (no server changed)"}`)
      })))

    return {
      file: live.file,
      servers: Effect.map(Ref.get(running), (m) => [...m.values()].map((r) => r.server)),
      server: (name) => Effect.map(Ref.get(running), (m) => m.get(name)?.server),
      snapshot: Effect.gen(function*() {
        const m = yield* Ref.get(running)
        return {
          file: live.file,
          pid: process.pid,
          startedAt,
          version: yield* SubscriptionRef.get(version),
          configError: (yield* live.lastError)?.message,
          servers: yield* Effect.forEach(m.values(), (r) => r.server.status)
        }
      }),
      versions: SubscriptionRef.changes(version)
    }
  })

/** The Supervisor, following the LiveRouting in context. */
export const layer = (options: Options): Layer.Layer<Supervisor, never, LiveRouting.LiveRouting> =>
  Layer.effect(Supervisor, make(options))
