/**
 * The local-router side of the gateway bench, in its own process (as `local-router serve`
 * would run it): routing.yaml from argv[2], the MLX backend type (any OpenAI-compatible
 * server) built in, the gateway on a free loopback port. Prints one JSON line with the URL.
 */
import { createRequire } from "node:module"
import * as path from "node:path"
import { definition as mlx } from "../../packages/backend-mlx/src/index.ts"
import { type Backend, LiveRouting, Router } from "../../packages/core/src/index.ts"
import { Gateway } from "../../packages/gateway/src/index.ts"

type EffectModule = typeof import("../../packages/gateway/node_modules/effect/dist/index.js")
const gatewayDir = path.resolve(import.meta.dirname, "../../packages/gateway")
const { Effect } = await import(createRequire(path.join(gatewayDir, "package.json")).resolve("effect")) as EffectModule

const file = process.argv[2]
if (!file) throw new Error("usage: serve.ts routing.yaml")

const builtins = new Map<string, Backend.Definition>([["mlx", mlx as Backend.Definition]])

await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const live = yield* LiveRouting.make(file, { builtins, watch: false })
  const router = yield* Router.make(live.snapshot)
  const gateway = yield* Gateway.make({ port: 0, router, routing: live })
  process.stdout.write(`${JSON.stringify({ url: gateway.url })}\n`)
  yield* Effect.never
})))
