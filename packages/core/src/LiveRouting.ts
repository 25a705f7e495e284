/**
 * The running config, and the only reader and watcher of routing.yaml: the file loaded, its
 * backends made, and the file watched. Everything else (the router, the gateway, the
 * supervisor) reads its snapshots or follows its `changes`, so each backend exists once per
 * config version and every reader moves to a new version at the same moment.
 *
 * A valid edit builds a new snapshot (plugins resolved once per version, unchanged backends
 * kept as they are) and swaps it in atomically: requests read the snapshot once when they
 * start, so those in flight finish on the version they began with. An invalid edit keeps the
 * running snapshot and is reported with its file:line:col.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as BackendLoader from "./BackendLoader.ts"
import * as FileWatch from "./FileWatch.ts"
import type { ConfigError } from "./ConfigError.ts"
import { Slot, type Snapshot as RouterSnapshot } from "./Router.ts"
import * as RoutingConfig from "./RoutingConfig.ts"

export type ReloadResult = Data.TaggedEnum<{
  Applied: { readonly version: number; readonly changed: ReadonlyArray<string> }
  Rejected: { readonly error: ConfigError }
  Unchanged: {}
}>
export const ReloadResult = Data.taggedEnum<ReloadResult>()

export interface PluginInfo {
  readonly type: string
  readonly from: string | undefined
  readonly version: string | undefined
  readonly contract: string | undefined
  readonly error: string | undefined
}

/** One backend of a version as it was loaded: what a reader needs beside the router's slot. */
export interface Entry {
  readonly entry: RoutingConfig.BackendConfig
  /** Its type's definition, or why that could not be loaded. */
  readonly loaded: Result.Result<BackendLoader.Loaded, BackendLoader.LoadError>
  /** Its own options, decoded by its definition (as written when they could not be). */
  readonly options: unknown
  /** The backend itself: the same object the router's snapshot holds. */
  readonly slot: Slot
}

/** One version of routing.yaml: the router's snapshot, and how each backend was loaded. */
export interface Snapshot extends RouterSnapshot {
  readonly entries: ReadonlyMap<string, Entry>
}

export interface LiveRouting {
  readonly file: string
  readonly snapshot: Effect.Effect<Snapshot>
  /** The snapshot in force now, then each new version as it is swapped in. */
  readonly changes: Stream.Stream<Snapshot>
  /** Re-read the file now (the watcher calls this on every change). */
  readonly reload: Effect.Effect<ReloadResult>
  /** Every reload's outcome, as it happens. */
  readonly results: Stream.Stream<ReloadResult>
  /** The last rejected edit, if the running config is older than the file. */
  readonly lastError: Effect.Effect<ConfigError | undefined>
  readonly plugins: Effect.Effect<ReadonlyArray<PluginInfo>>
}

export interface Options extends BackendLoader.Options {
  /** Watch the file and reload on change (default true). */
  readonly watch?: boolean
  /** Quiet time after a change before reloading, so a multi-step save reloads once. */
  readonly debounce?: Duration.Input
}

/** The running routing.yaml, as a service. */
export const LiveRouting = Context.Service<LiveRouting>("@local-router/core/LiveRouting")

interface Version {
  readonly text: string
  readonly snapshot: Snapshot
  readonly keys: ReadonlyMap<string, string>
  readonly scopes: ReadonlyMap<string, Scope.Closeable>
  readonly plugins: ReadonlyArray<PluginInfo>
}

export const make = (file: string, options: Options = {}): Effect.Effect<LiveRouting, ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const results = yield* PubSub.unbounded<ReloadResult>()
    const lastError = yield* Ref.make<ConfigError | undefined>(undefined)
    const lock = yield* Semaphore.make(1)

    const build = (text: string, version: number, previous: Version | undefined): Effect.Effect<Version, ConfigError> =>
      Effect.gen(function*() {
        const { config, types: loaded } = yield* BackendLoader.check(text, file, options)
        const types = [...loaded.keys()]
        const backends = new Map<string, Slot>()
        const entries = new Map<string, Entry>()
        const keys = new Map<string, string>()
        const scopes = new Map<string, Scope.Closeable>()
        for (const entry of Object.values(config.backends)) {
          const l = loaded.get(entry.type)!
          // Same entry and same plugin file (path and mtime): keep the running backend.
          const key = JSON.stringify([entry, Result.isSuccess(l) ? [l.success.from, l.success.stamp] : l.failure.message])
          keys.set(entry.name, key)
          const kept = previous?.keys.get(entry.name) === key ? previous.snapshot.entries.get(entry.name) : undefined
          if (kept) {
            backends.set(entry.name, kept.slot)
            entries.set(entry.name, kept)
            const scope = previous!.scopes.get(entry.name)
            if (scope) scopes.set(entry.name, scope)
            continue
          }
          if (Result.isFailure(l)) {
            const slot = Slot.Failed({ reason: l.failure.message, code: l.failure.reason })
            backends.set(entry.name, slot)
            entries.set(entry.name, { entry, loaded: l, options: entry.options, slot })
            continue
          }
          const scope = yield* Scope.make()
          scopes.set(entry.name, scope)
          const slot = yield* BackendLoader.make(entry, l.success, config, scope, options)
          backends.set(entry.name, slot)
          const decoded = Schema.decodeUnknownResult(l.success.definition.options)(entry.options)
          entries.set(entry.name, { entry, loaded: l, options: Result.getOrElse(decoded, () => entry.options), slot })
        }
        const plugins = types.map((type): PluginInfo => {
          const l = loaded.get(type)!
          return Result.isSuccess(l)
            ? { type, from: l.success.from, version: l.success.definition.version, contract: l.success.definition.contract, error: undefined }
            : { type, from: undefined, version: undefined, contract: undefined, error: l.failure.message }
        })
        return { text, snapshot: { version, config, backends, entries }, keys, scopes, plugins }
      })

    const text0 = yield* readText(file)
    const current = yield* SubscriptionRef.make(yield* build(text0, 1, undefined))

    // Backends no longer used are closed once requests that may still hold them have had time to finish.
    const retire = (scopes: ReadonlyArray<Scope.Closeable>, grace: number) =>
      scopes.length === 0 ? Effect.void : Effect.forkDetach(
        Effect.sleep(Duration.millis(grace)).pipe(Effect.andThen(Effect.forEach(scopes, (s) => Scope.close(s, Exit.void))))
      )

    const reload: Effect.Effect<ReloadResult> = lock.withPermits(1)(
      Effect.gen(function*() {
        const before = yield* SubscriptionRef.get(current)
        const text = yield* Effect.result(readText(file))
        if (Result.isFailure(text)) return yield* reject(text.failure)
        if (text.success === before.text) return ReloadResult.Unchanged()
        const next = yield* Effect.result(build(text.success, before.snapshot.version + 1, before))
        if (Result.isFailure(next)) return yield* reject(next.failure)
        yield* SubscriptionRef.set(current, next.success)
        yield* Ref.set(lastError, undefined)
        const stale = [...before.scopes].filter(([name, scope]) => next.success.scopes.get(name) !== scope).map(([, s]) => s)
        yield* retire(stale, before.snapshot.config.defaults.timeouts.total)
        const changed = [...new Set([...before.keys.keys(), ...next.success.keys.keys()])]
          .filter((name) => before.keys.get(name) !== next.success.keys.get(name))
        const result = ReloadResult.Applied({ version: next.success.snapshot.version, changed })
        yield* Effect.logInfo(`routing.yaml reloaded (version ${next.success.snapshot.version}${changed.length ? `; backends changed: ${changed.join(", ")}` : ""})`)
        yield* PubSub.publish(results, result)
        return result
      })
    )

    const reject = (error: ConfigError) =>
      Effect.gen(function*() {
        yield* Ref.set(lastError, error)
        yield* Effect.logWarning(`routing.yaml edit rejected; the running config stays in place.\n${error.message}`)
        const result = ReloadResult.Rejected({ error })
        yield* PubSub.publish(results, result)
        return result
      })

    if (options.watch ?? true) yield* FileWatch.onChange(file, reload, options.debounce)

    yield* Effect.addFinalizer(() =>
      Effect.flatMap(SubscriptionRef.get(current), (v) => Effect.forEach(v.scopes.values(), (s) => Scope.close(s, Exit.void)))
    )

    return {
      file,
      snapshot: Effect.map(SubscriptionRef.get(current), (v) => v.snapshot),
      changes: Stream.map(SubscriptionRef.changes(current), (v) => v.snapshot),
      reload,
      results: Stream.fromPubSub(results),
      lastError: Ref.get(lastError),
      plugins: Effect.map(SubscriptionRef.get(current), (v) => v.plugins)
    }
  })

/** LiveRouting for `file`, for as long as the layer lives. */
export const layer = (file: string, options: Options = {}): Layer.Layer<LiveRouting, ConfigError> =>
  Layer.effect(LiveRouting, make(file, options))

const readText = RoutingConfig.readFile
