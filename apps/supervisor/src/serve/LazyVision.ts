/**
 * The vision service for the gateway, loaded on the first image or PDF request: sharp and
 * pdfjs-dist are heavy, and a `serve` that only routes text should not carry them.
 */
import type { Router } from "@local-router/core"
import type { VisionRoutes } from "@local-router/gateway"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

export const make = (router: Router.Router, scope: Scope.Scope): Effect.Effect<VisionRoutes.VisionService> =>
  Effect.map(
    Effect.cached(
      Effect.promise(() => import("@local-router/vision")).pipe(
        Effect.flatMap(({ Vision }) => Vision.make(router)),
        Effect.provideService(Scope.Scope, scope)
      )
    ),
    (service): VisionRoutes.VisionService => ({
      describeImage: (input, options) => Effect.flatMap(service, (s) => s.describeImage(input, options)),
      processPdf: (input, options) => Stream.unwrap(Effect.map(service, (s) => s.processPdf(input, options)))
    })
  )
