/**
 * serve's last safety net. Every request already runs in its own fiber with its own error
 * handling; this catches what escaped everything else (an exception thrown from a timer or an
 * event handler of a dependency, a promise nobody awaited). serve supervises model servers and
 * answers many clients: one such slip is logged with its stack and serve goes on, rather than
 * exiting and taking every answer in flight and every supervised server's watch with it.
 */
import * as Effect from "effect/Effect"

/** Install for the life of the scope. */
export const install: Effect.Effect<void, never, import("effect/Scope").Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const report = (what: string) => (error: unknown) => {
      const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error)
      process.stderr.write(`[${new Date().toISOString()}] local-router serve: caught ${what} and kept serving (please report it):\n${text}\n`)
    }
    const exception = report("an uncaught exception")
    const rejection = report("an unhandled promise rejection")
    process.on("uncaughtException", exception)
    process.on("unhandledRejection", rejection)
    return { exception, rejection }
  }),
  ({ exception, rejection }) =>
    Effect.sync(() => {
      process.off("uncaughtException", exception)
      process.off("unhandledRejection", rejection)
    })
)
