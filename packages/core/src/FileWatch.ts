/**
 * Run an action whenever a file changes, debounced, for as long as the scope lives. The
 * directory is watched, not the file: editors save by writing a new file and renaming it over
 * the old one, which a watch on the old inode would miss.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"

export const onChange = <A>(
  file: string,
  action: Effect.Effect<A>,
  debounce: Duration.Input = Duration.millis(75)
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const changes = yield* Queue.sliding<void>(1)
    const base = path.basename(file)
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        fs.watch(path.dirname(path.resolve(file)), { persistent: false }, (_event, name) => {
          if (name === null || String(name) === base) Queue.offerUnsafe(changes, undefined)
        })
      ),
      (watcher) => Effect.sync(() => watcher.close())
    )
    // One action per burst of changes: wait for quiet, drop what queued meanwhile, act.
    const loop = Queue.take(changes).pipe(
      Effect.andThen(Effect.sleep(debounce)),
      Effect.andThen(Queue.clear(changes)),
      Effect.andThen(action),
      Effect.forever
    )
    const fiber = yield* Effect.forkDetach(loop)
    yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))
  })
