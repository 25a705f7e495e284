/**
 * The contract suite plugins run with @effect/vitest (`@local-router/core/testing`), run here on
 * the scripted backend: the suite itself works with the test runner plugins use.
 */
import * as Effect from "effect/Effect"
import { contractSuite, ScriptedBackend } from "../src/testing/index.ts"

contractSuite("scripted", {
  make: Effect.sync(() => ScriptedBackend.make({ name: "scripted", script: [{ tokens: ["Hello", ",", " world"] }], models: ["m"] }).backend),
  model: "m",
  missingModel: "nope"
})
