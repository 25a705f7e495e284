/**
 * The plain async face of local-router, for callers that do not use Effect:
 *
 *   const router = await LocalRouter.create({ config: "routing.yaml" })
 *   const answer = await router.runLocalLlm("Summarise this", "fast")
 *   for await (const event of router.streamLocalLlm({ prompt: "Hi", category: "fast" })) ...
 *   const { vectors } = await router.embedLocal(["a text", "another"], "embed")
 *   await router.close()
 *
 * It is an edge: the one place below the CLI that runs Effects as Promises.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as LiveRouting from "./LiveRouting.ts"
import * as Router from "./Router.ts"
import * as RoutingConfig from "./RoutingConfig.ts"

export interface CreateOptions extends LiveRouting.Options {
  /** routing.yaml's path; default: LOCAL_ROUTER_CONFIG, ./routing.yaml, ~/.config/local-router/routing.yaml. */
  readonly config?: string
}

export type Ask = Router.Request & { readonly signal?: AbortSignal }

export interface RunLocalLlm {
  /** The successor of the old `router.run_local_llm(prompt, category)`. */
  (request: string | (Ask & { readonly stream?: false }), category?: string): Promise<Router.Answer>
  /** With `stream: true`, the answer as it is generated (same as `streamLocalLlm`). */
  (request: Ask & { readonly stream: true }): AsyncIterable<Router.Event>
}

export interface LocalRouter {
  readonly runLocalLlm: RunLocalLlm
  /** The answer as it is generated, through the commit gate. Breaking out of the loop cancels upstream. */
  readonly streamLocalLlm: (request: Ask) => AsyncIterable<Router.Event>
  /** Embeddings: one vector per text, from a category with `input: embed` (default `embed`), within one vector space. */
  readonly embedLocal: (
    input: string | ReadonlyArray<string> | (Router.EmbedInput & { readonly signal?: AbortSignal }),
    category?: string
  ) => Promise<Router.Embedded>
  readonly router: Router.Router
  readonly live: LiveRouting.LiveRouting
  readonly close: () => Promise<void>
}

export const create = async (options: CreateOptions = {}): Promise<LocalRouter> => {
  const scope = Effect.runSync(Scope.make())
  const setup = Effect.gen(function*() {
    const file = yield* RoutingConfig.locate({ flag: options.config })
    const live = yield* LiveRouting.make(file, options)
    const router = yield* Router.make(live.snapshot)
    return { live, router }
  }).pipe(Scope.provide(scope))
  const setupExit = await Effect.runPromiseExit(setup)
  if (Exit.isFailure(setupExit)) await Effect.runPromise(Scope.close(scope, setupExit))
  const { live, router } = unwrap(setupExit)
  const toRequest = (request: string | Ask, category?: string): Router.Request =>
    typeof request === "string" ? { prompt: request, category } : request
  return {
    router,
    live,
    runLocalLlm: ((request: string | (Ask & { readonly stream?: boolean }), category?: string) => {
      if (typeof request !== "string" && request.stream) return Stream.toAsyncIterable(router.stream(request))
      const signal = typeof request === "string" ? undefined : request.signal
      return Effect.runPromiseExit(router.run(toRequest(request, category)), signal ? { signal } : undefined).then(unwrap)
    }) as RunLocalLlm,
    streamLocalLlm: (request) => Stream.toAsyncIterable(router.stream(request)),
    embedLocal: (input, category) => {
      const request: Router.EmbedInput & { readonly signal?: AbortSignal } = typeof input === "string"
        ? { input: [input], category }
        : isTexts(input)
        ? { input, category }
        : input
      const { signal, ...embed } = request
      return Effect.runPromiseExit(router.embed(embed), signal ? { signal } : undefined).then(unwrap)
    },
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const isTexts = (u: unknown): u is ReadonlyArray<string> => Array.isArray(u)

/** The value, or the typed error itself (a RouteError, a ConfigError) thrown as is. */
const unwrap = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw Option.getOrElse(Cause.findErrorOption(exit.cause), () => Cause.squash(exit.cause))
}
