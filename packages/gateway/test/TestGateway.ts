/**
 * A gateway over scripted backends on a free port, for tests that drive it with real HTTP
 * clients. Each backend follows its script (see core's ScriptedBackend) and records requests.
 */
import { type Backend, Router, RoutingConfig } from "@local-router/core"
import { ScriptedBackend } from "@local-router/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import type { VisionService } from "../src/vision/VisionRoutes.ts"
import { Gateway } from "../src/index.ts"

/** The four scripted backends and their defaults: the head of every routing.yaml these tests use. */
export const backends = `backends:
  mlx: { type: scripted }
  ollama: { type: scripted }
  cloud: { type: scripted }
  vision: { type: scripted }
defaults:
  timeouts: { connect: 2s, firstToken: 2s, idle: 2s, total: 20s }
  breaker: { failures: 100, cooldown: 30s }
`

export const yaml = `${backends}priorities:
  text: [mlx, ollama, cloud]
  image: [vision, cloud]
categories:
  fast:
    input: text
    models: { mlx: m-mlx, ollama: "phi3.5:3.8b", cloud: gpt-4o-mini }
  code:
    input: text
    models: { mlx: qwen-coder, cloud: gpt-4o }
  vision:
    input: image
    models: { vision: moondream, cloud: gpt-4o-mini }
`

export type Name = "mlx" | "ollama" | "cloud" | "vision"
export type Scripts = Partial<Record<Name, ScriptedBackend.Options["script"]>>

export interface Running {
  readonly url: string
  readonly gateway: Gateway.Gateway
  readonly scripted: Record<Name, ScriptedBackend.Scripted>
  readonly router: Router.Router
  readonly close: () => Promise<void>
}

/** What a scripted backend can do besides its script, for agent tests (tools, embeddings, per-model reports). */
export interface Abilities {
  readonly capabilities?: Partial<Backend.Capabilities>
  readonly embed?: NonNullable<ScriptedBackend.Options["embed"]>
  readonly modelCapabilities?: NonNullable<ScriptedBackend.Options["modelCapabilities"]>
}

export const start = async (
  scripts: Scripts = {},
  settings: Gateway.Settings & {
    readonly status?: Gateway.Options["status"]
    readonly vision?: (router: Router.Router) => Effect.Effect<VisionService, never, Scope.Scope>
    /** Another routing.yaml over the same four backends. */
    readonly yaml?: string
    readonly abilities?: Partial<Record<Name, Abilities>>
  } = {}
): Promise<Running> => {
  const { abilities = {}, yaml: file = yaml, ...gatewaySettings } = settings
  const config = Result.getOrThrow(RoutingConfig.parse(file, "routing.yaml"))
  const scripted = Object.fromEntries(
    (["mlx", "ollama", "cloud", "vision"] as const).map((name) => {
      const { capabilities, ...more } = abilities[name] ?? {}
      return [
        name,
        ScriptedBackend.make({
          name,
          script: scripts[name] ?? [{}],
          capabilities: { images: name === "vision" || name === "cloud", text: name !== "vision", ...capabilities },
          ...more
        })
      ]
    })
  ) as Record<Name, ScriptedBackend.Scripted>
  const snapshot: Router.Snapshot = {
    version: 1,
    config,
    backends: new Map(Object.entries(scripted).map(([name, s]) => [name, Router.Slot.Ready({ backend: s.backend, timeouts: {} })]))
  }
  const scope = Effect.runSync(Scope.make())
  const { gateway, router } = await Effect.runPromise(
    Effect.gen(function*() {
      const router = yield* Router.make(Effect.succeed(snapshot))
      const { vision: makeVision, ...rest } = gatewaySettings
      const vision = makeVision ? yield* makeVision(router) : undefined
      const gateway = yield* Gateway.make({ port: 0, ...rest, vision, router, routing: { snapshot: Effect.succeed(snapshot) } })
      return { gateway, router }
    }).pipe(Scope.provide(scope))
  )
  return { url: gateway.url, gateway, scripted, router, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** Resolves once `check` holds, polling each millisecond; rejects after `withinMs`. */
export const eventually = async (check: () => boolean, withinMs = 2000): Promise<number> => {
  const t0 = performance.now()
  while (!check()) {
    if (performance.now() - t0 > withinMs) throw new Error(`condition not met within ${withinMs}ms`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  return performance.now() - t0
}
