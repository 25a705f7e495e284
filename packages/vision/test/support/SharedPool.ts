/**
 * Warm render workers shared by the tests of one file: starting a worker costs over a second,
 * and every test would otherwise pay it. Closed after the file's tests.
 */
import { afterAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Limits, RenderPool } from "../../src/index.ts"

export const make = (size = 2): RenderPool.RenderPool => {
  const scope = Effect.runSync(Scope.make())
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return Effect.runSync(Scope.provide(RenderPool.make(Limits.defaults, size), scope))
}
