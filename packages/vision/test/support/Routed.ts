/**
 * A real Router over scripted backends, configured from routing.yaml text, so tests can see
 * exactly what each backend received.
 */
import { Router, RoutingConfig } from "@local-router/core"
import { ScriptedBackend } from "@local-router/core/testing"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"

export const routingYaml = `
backends:
  moondream: { type: scripted, images: { maxSide: 512 } }
  ollama: { type: scripted, images: { maxPixels: 3000000 } }
  text: { type: scripted }
priorities:
  text: [text]
  image: [moondream, ollama]
  pdf: [ollama]
categories:
  default: { input: text, models: { text: phi } }
  vision: { input: image, models: { moondream: moondream-2, ollama: moondream } }
  vision_pdf: { input: pdf, models: { ollama: "llava:7b" } }
`

export type Scripts = Partial<Record<"moondream" | "ollama" | "text", ScriptedBackend.Options["script"]>>

export const make = (scripts: Scripts = {}) =>
  Effect.gen(function*() {
    const config = yield* Result.match(RoutingConfig.parse(routingYaml, "routing.yaml"), { onFailure: Effect.die, onSuccess: Effect.succeed })
    const backends = {
      moondream: ScriptedBackend.make({ name: "moondream", script: scripts.moondream ?? [{ tokens: ["A red and blue picture"] }], capabilities: { images: true, text: false } }),
      ollama: ScriptedBackend.make({ name: "ollama", script: scripts.ollama ?? [{ tokens: ["A page"] }], capabilities: { images: true } }),
      text: ScriptedBackend.make({ name: "text", script: scripts.text ?? [{ tokens: ["From the text"] }] })
    }
    const router = yield* Router.make(Effect.succeed({
      version: 1,
      config,
      backends: new Map(Object.entries(backends).map(([name, s]) => [name, Router.Slot.Ready({ backend: s.backend, timeouts: {} })]))
    }))
    return { router, backends }
  })

/** The images of the last request a backend received. */
export const imagesOf = (scripted: ScriptedBackend.Scripted, call = -1) =>
  scripted.requests.at(call)?.messages.flatMap((m) => m.images ?? []) ?? []

export const promptOf = (scripted: ScriptedBackend.Scripted, call = -1) =>
  scripted.requests.at(call)?.messages.filter((m) => m.role === "user").map((m) => m.content).join("\n") ?? ""
