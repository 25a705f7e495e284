/**
 * The contract every backend passes, built-in or plugin. Call it from the backend's own test
 * file with a way to make the backend against a running server (a simulator):
 *
 *   contractSuite("ollama", { make: ..., model: "phi3.5:3.8b", missingModel: "nope:1b" })
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Backend, GenerateEvent, GenerateRequest, Image } from "../Backend.ts"
import { BackendError } from "../BackendError.ts"
import * as Events from "../Events.ts"

export interface ContractTarget {
  /** Makes the backend against a running server. */
  readonly make: Effect.Effect<Backend, unknown, Scope.Scope>
  /** A model the server has. */
  readonly model: string
  /** A model the server does not have. */
  readonly missingModel: string
  /** Makes the same backend pointed at an address where nothing listens. */
  readonly makeUnreachable?: Effect.Effect<Backend, unknown, Scope.Scope>
  /** For image-capable backends: a model that takes images, and an image to send. */
  readonly image?: { readonly model: string; readonly image: Image }
  /** A secret the backend was configured with; it must never appear in errors or probes. */
  readonly secret?: Redacted.Redacted<string>
  /** Skip the text checks (an image-only backend such as Moondream). */
  readonly imageOnly?: boolean
}

const ask = (model: string, prompt = "Say hello", images?: ReadonlyArray<Image>): GenerateRequest => ({
  model,
  messages: [{ role: "user", content: prompt, ...(images ? { images } : {}) }]
})

const collect = (backend: Backend, request: GenerateRequest) =>
  Stream.runCollect(Events.stream(backend.generate(request)))

const checkShape = (events: ReadonlyArray<GenerateEvent>) => {
  expect(events[0]?._tag).toBe("Start")
  expect(events.at(-1)?._tag).toBe("Done")
  expect(events.filter((e) => e._tag === "Done")).toHaveLength(1)
  expect(events.filter((e) => e._tag === "Start")).toHaveLength(1)
  const text = events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")
  expect(text.length).toBeGreaterThan(0)
}

export const contractSuite = (name: string, target: ContractTarget): void => {
  describe(`Backend contract: ${name}`, () => {
    it.effect("probe is token-free and layered: the server is Ready and lists its models", () =>
      Effect.gen(function*() {
        const backend = yield* target.make
        const probe = yield* backend.probe
        expect(probe._tag).toBe("Ready")
        if (probe._tag === "Ready" && !target.imageOnly) expect(probe.models).toContain(target.model)
      }))

    if (!target.imageOnly) {
      it.effect("generate streams Start, text, then exactly one Done", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          checkShape(yield* collect(backend, ask(target.model)))
        }))

      it.effect("a missing model fails with ModelMissing, naming the backend", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const error = yield* Effect.flip(collect(backend, ask(target.missingModel)))
          expect(error).toBeInstanceOf(BackendError)
          expect(error.reason).toBe("ModelMissing")
          expect(error.backend).toBe(backend.name)
        }))

      it.effect("a consumer that stops early ends the stream without error", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const events = yield* Stream.runCollect(Stream.take(Events.stream(backend.generate(ask(target.model))), 2))
          expect(events).toHaveLength(2)
        }))
    }

    if (target.image) {
      const { image, model } = target.image
      it.effect("generate with an image answers", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          expect(backend.capabilities.images).toBe(true)
          checkShape(yield* collect(backend, ask(model, "Describe this image", [image])))
        }))
    }

    if (target.makeUnreachable) {
      const makeUnreachable = target.makeUnreachable
      it.effect("an unreachable server probes Unreachable and fails generate with Unreachable", () =>
        Effect.gen(function*() {
          const backend = yield* makeUnreachable
          expect((yield* backend.probe)._tag).toBe("Unreachable")
          // An image-only backend refuses a text request before connecting, so it gets its image.
          const request = target.imageOnly && target.image
            ? ask(target.image.model, "Describe this image", [target.image.image])
            : ask(target.image?.model ?? target.model)
          const error = yield* Effect.flip(collect(backend, request))
          expect(error).toBeInstanceOf(BackendError)
          expect(error.reason).toBe("Unreachable")
        }))
    }

    if (target.secret) {
      const secret = Redacted.value(target.secret)
      it.effect("the secret never appears in probes or errors", () =>
        Effect.gen(function*() {
          const backend = yield* target.make
          const probe = yield* backend.probe
          const error = yield* Effect.flip(collect(backend, ask(target.missingModel)))
          const seen = JSON.stringify(probe) + JSON.stringify(error) + String(error.message)
          expect(seen).not.toContain(secret)
        }))
    }
  })
}
