/**
 * The plain async facade, for callers that do not use Effect (the CLI, scripts). Each method
 * runs the Effect service at this edge; a failure rejects with the `VisionError` or
 * `RouteError` itself (check `error._tag` and `error.reason`), never a wrapped one.
 *
 *   const vision = VisionClient.make(router)
 *   const { answer } = await vision.describeImage("photo.jpg")
 *   for await (const event of vision.processPdf("report.pdf", { pages: "1-3" })) { ... }
 *
 * Leaving a `for await` loop early (break, throw) stops the work. Render workers stay warm
 * for the next call; `close()` ends them (idle ones never keep the process alive anyway).
 */
import type { Router } from "@local-router/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Input } from "./Input.ts"
import type { PageResult } from "./PageResult.ts"
import type { PdfEvent } from "./PdfEvent.ts"
import * as Vision from "./Vision.ts"

export interface VisionClient {
  readonly describeImage: (input: Input, options?: Vision.ImageOptions) => Promise<Vision.ImageAnswer>
  readonly queryImage: (
    input: Input,
    question: string,
    options?: Omit<Vision.ImageOptions, "prompt" | "length">
  ) => Promise<Vision.ImageAnswer>
  readonly processPdfPage: (input: Input, options?: Vision.PageOptions) => Promise<PageResult>
  readonly processPdf: (input: Input, options?: Vision.PdfOptions) => AsyncIterable<PdfEvent>
  /** Stop the render workers. */
  readonly close: () => Promise<void>
}

export const make = (router: Router.Router, settings?: Vision.Settings): VisionClient => {
  const scope = Effect.runSync(Scope.make())
  const service = Effect.runSync(Scope.provide(Vision.make(router, settings), scope))
  const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
    Effect.runPromiseExit(effect).then((exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      throw Cause.squash(exit.cause)
    })
  return {
    describeImage: (input, options) => run(service.describeImage(input, options)),
    queryImage: (input, question, options) => run(service.queryImage(input, question, options)),
    processPdfPage: (input, options) => run(service.processPdfPage(input, options)),
    processPdf: (input, options) => Stream.toAsyncIterable(service.processPdf(input, options)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
