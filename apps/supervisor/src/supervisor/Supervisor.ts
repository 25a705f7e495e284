/**
 * All supervised servers of one routing.yaml. Each server lives in its own scope; a config
 * edit closes the scopes of servers that were removed or whose block changed (stopping their
 * process groups) and opens scopes for new or changed ones, leaving the rest untouched. A bad
 * edit changes nothing and is reported with its file:line:col.
 */
import { type BackendLoader, type ConfigError, FileWatch, type RoutingConfig } from "@local-router/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as Plans from "./Plans.ts"
import * as Server from "./Server.ts"

export interface Snapshot {
  readonly file: string
  readonly pid: number
  readonly startedAt: number
  /** The last rejected edit of routing.yaml (the running config is older than the file). */
  readonly configError: string | undefined
  readonly servers: ReadonlyArray<Server.Status>
}

export type ReloadOutcome =
  | { readonly _tag: "Applied"; readonly started: ReadonlyArray<string>; readonly stopped: ReadonlyArray<string>; readonly restarted: ReadonlyArray<string> }
  | { readonly _tag: "Rejected"; readonly error: ConfigError.ConfigError }
  | { readonly _tag: "Unchanged" }

export interface Supervisor {
  readonly file: string
  /** The routing.yaml in force (the last good version). */
  readonly config: Effect.Effect<RoutingConfig.Config>
  readonly servers: Effect.Effect<ReadonlyArray<Server.Server>>
  readonly server: (name: string) => Effect.Effect<Server.Server | undefined>
  readonly snapshot: Effect.Effect<Snapshot>
  readonly reload: Effect.Effect<ReloadOutcome>
}

export interface Options extends Server.Options {
  readonly loader?: BackendLoader.Options
  /** Watch routing.yaml and reload on change (default true). */
  readonly watch?: boolean
}

interface Running {
  readonly key: string
  readonly scope: Scope.CloseableScope
  readonly server: Server.Server
}

export const make = (file: string, options: Options): Effect.Effect<Supervisor, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const running = yield* Ref.make(new Map<string, Running>())
    const configError = yield* Ref.make<string | undefined>(undefined)
    const lastText = yield* Ref.make("")
    const lock = yield* Effect.makeSemaphore(1)

    const keyOf = (s: Plans.Server) => JSON.stringify([s.plan, s.entry, s.definition ? "loaded" : s.definitionError])

    const apply = (loaded: Plans.Loaded) =>
      Effect.gen(function*() {
        const before = yield* Ref.get(running)
        const next = new Map(loaded.servers.map((s) => [s.plan.name, s] as const))
        const going = [...before.values()].filter((r) => {
          const s = next.get(r.server.name)
          return !s || keyOf(s) !== r.key
        })
        // Stop first, so a changed server's port is free before its new self starts.
        yield* Effect.forEach(going, (r) => Scope.close(r.scope, Exit.void), { concurrency: "unbounded", discard: true })
        const after = new Map(before)
        for (const r of going) after.delete(r.server.name)
        const started: Array<string> = []
        const restarted: Array<string> = []
        for (const s of loaded.servers) {
          if (after.has(s.plan.name)) continue
          const scope = yield* Scope.make()
          const server = yield* Scope.extend(Server.make(s, options), scope)
          after.set(s.plan.name, { key: keyOf(s), scope, server })
          if (before.has(s.plan.name)) restarted.push(s.plan.name)
          else started.push(s.plan.name)
        }
        yield* Ref.set(running, after)
        yield* Ref.set(current, loaded.config)
        const stopped = going.map((r) => r.server.name).filter((n) => !next.has(n))
        return { _tag: "Applied", started, stopped, restarted } as const
      })

    const reload: Effect.Effect<ReloadOutcome> = lock.withPermits(1)(
      Effect.gen(function*() {
        const text = yield* Effect.either(Effect.promise(() => fs.promises.readFile(file, "utf8").catch(() => undefined)))
        const content = text._tag === "Right" ? text.right : undefined
        if (content !== undefined && content === (yield* Ref.get(lastText))) return { _tag: "Unchanged" } as const
        const loaded = yield* Effect.either(
          content === undefined ? Plans.load(file, options.loader) : Plans.fromText(content, file, options.loader)
        )
        if (loaded._tag === "Left") {
          yield* Ref.set(configError, loaded.left.message)
          yield* Effect.logWarning(`routing.yaml edit rejected; every server keeps running as it was.\n${loaded.left.message}`)
          return { _tag: "Rejected", error: loaded.left } as const
        }
        yield* Ref.set(lastText, content ?? "")
        yield* Ref.set(configError, undefined)
        const outcome = yield* apply(loaded.right)
        const said = [
          outcome.started.length ? `started ${outcome.started.join(", ")}` : "",
          outcome.restarted.length ? `restarted ${outcome.restarted.join(", ")}` : "",
          outcome.stopped.length ? `stopped ${outcome.stopped.join(", ")}` : ""
        ].filter(Boolean)
        yield* Effect.logInfo(`routing.yaml applied${said.length ? `: ${said.join("; ")}` : " (no server changed)"}`)
        return outcome
      })
    )

    // Every server stops, in parallel, when the supervisor's scope closes.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Ref.get(running), (m) =>
        Effect.forEach(m.values(), (r) => Scope.close(r.scope, Exit.void), { concurrency: "unbounded", discard: true }))
    )

    const first = yield* Plans.load(file, options.loader)
    const current = yield* Ref.make(first.config)
    yield* Ref.set(lastText, yield* Effect.promise(() => fs.promises.readFile(file, "utf8").catch(() => "")))
    yield* apply(first)
    if (options.watch ?? true) yield* FileWatch.onChange(file, reload, Duration.millis(100))

    return {
      file,
      config: Ref.get(current),
      servers: Effect.map(Ref.get(running), (m) => [...m.values()].map((r) => r.server)),
      server: (name) => Effect.map(Ref.get(running), (m) => m.get(name)?.server),
      snapshot: Effect.gen(function*() {
        const m = yield* Ref.get(running)
        return {
          file,
          pid: process.pid,
          startedAt,
          configError: yield* Ref.get(configError),
          servers: yield* Effect.forEach(m.values(), (r) => r.server.status)
        }
      }),
      reload
    }
  })

