/**
 * The render worker threads, kept warm: starting one costs over a second (pdfjs-dist is a large
 * module), so workers outlive documents and are handed from one to the next. A worker idle for
 * a minute is ended: each holds an isolate of its own (~30 MB of a serve that may then idle for
 * days), and the next PDF starts a new one. A worker that times out or crashes is killed and
 * replaced on demand. Idle workers are unref'd, so a forgotten pool never keeps the process
 * alive; closing the scope terminates them all.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { Worker } from "node:worker_threads"
import type { Reply, Request } from "./internal/RenderProtocol.ts"
import type { Limits } from "./Limits.ts"
import { VisionError } from "./VisionError.ts"

/** Below about 64 MiB V8 cannot even start a worker's isolate, and that failure is fatal to the whole process. */
export const MIN_WORKER_MEMORY_MB = 128

export interface PooledWorker {
  readonly worker: Worker
  /** The document this worker has open now, if any. */
  loaded: number | undefined
  /** While it waits in the pool: the timer that ends it if nobody borrows it. */
  retire?: Fiber.Fiber<void> | undefined
}

/** How long an idle worker is kept for the next document. */
export const WORKER_IDLE = Duration.minutes(1)

export interface RenderPool {
  readonly size: number
  /** Borrow a worker for one piece of work; it goes back to the pool unless it was killed. */
  readonly use: <A>(work: (worker: PooledWorker) => Effect.Effect<A, VisionError>) => Effect.Effect<A, VisionError>
  /** One request to one worker, under the render deadline; a timeout or a crash kills the worker. */
  readonly call: (worker: PooledWorker, request: Request, context: CallContext) => Effect.Effect<Reply & { ok: true }, VisionError>
}

export interface CallContext {
  readonly source: string
  readonly page?: number | undefined
}

// The worker's module in this module's own form: src/*.ts, or dist/*.js once built.
const workerUrl = new URL(`./internal/renderWorker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)

export const make = (limits: Limits, size: number): Effect.Effect<RenderPool, never, Scope.Scope> =>
  Effect.gen(function*() {
    const live = new Set<PooledWorker>()
    const idle: Array<PooledWorker> = []
    const heap = Math.max(MIN_WORKER_MEMORY_MB, limits.workerMemoryMb)
    const scope = yield* Effect.scope
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([...live].map((w) => w.worker.terminate()))))
    const permits = yield* Semaphore.make(Math.max(1, size))

    const kill = (pooled: PooledWorker) =>
      Effect.sync(() => {
        live.delete(pooled)
        void pooled.worker.terminate()
      })

    const spawn = Effect.sync(() => {
      const pooled: PooledWorker = { worker: new Worker(workerUrl, { resourceLimits: { maxOldGenerationSizeMb: heap } }), loaded: undefined }
      live.add(pooled)
      return pooled
    })

    const use: RenderPool["use"] = (work) =>
      permits.withPermits(1)(Effect.gen(function*() {
        const pooled = idle.pop() ?? (yield* spawn)
        if (pooled.retire) yield* Fiber.interrupt(pooled.retire)
        pooled.retire = undefined
        pooled.worker.ref()
        return yield* work(pooled).pipe(Effect.ensuring(Effect.suspend(() => {
          if (!live.has(pooled)) return Effect.void
          pooled.worker.unref()
          idle.push(pooled)
          return Effect.asVoid(Effect.tap(
            // Forked from a finalizer, which runs uninterruptibly; the fork starts interruptible
            // all the same (forkIn's default), so borrowing the worker again can stop the timer.
            Effect.forkIn(
              Effect.andThen(
                Effect.sleep(WORKER_IDLE),
                Effect.suspend(() => {
                  const at = idle.indexOf(pooled)
                  if (at < 0) return Effect.void
                  idle.splice(at, 1)
                  return kill(pooled)
                })
              ),
              scope
            ),
            (fiber) => Effect.sync(() => (pooled.retire = fiber))
          ))
        })))
      }))

    const call: RenderPool["call"] = (pooled, request, { page, source }) => {
      const fail = (reason: VisionError["reason"], message: string) =>
        new VisionError({ reason, source, message: `${source}${page === undefined ? "" : ` page ${page}`}: ${message}`, ...(page === undefined ? {} : { page }) })
      const { worker } = pooled
      return Effect.callback<Reply, VisionError>((resume) => {
        const onMessage = (reply: Reply) => done(Effect.succeed(reply))
        const onError = (error: Error & { code?: string }) =>
          done(Effect.fail(fail(
            "RenderFailed",
            error.code === "ERR_WORKER_OUT_OF_MEMORY" ? `the renderer ran out of memory (workerMemoryMb: ${heap})` : `the renderer failed: ${error.message}`
          )))
        const onExit = (code: number) => done(Effect.fail(fail("RenderFailed", `the renderer exited (code ${code})`)))
        const detach = () => {
          worker.off("message", onMessage)
          worker.off("error", onError)
          worker.off("exit", onExit)
        }
        const done = (result: Effect.Effect<Reply, VisionError>) => {
          detach()
          resume(result)
        }
        worker.on("message", onMessage)
        worker.on("error", onError)
        worker.on("exit", onExit)
        worker.postMessage(request)
        return Effect.sync(detach)
      }).pipe(
        Effect.timeoutOrElse({
          duration: limits.renderTimeoutMs,
          orElse: () =>
            Effect.fail(fail("RenderTimeout", `${page === undefined ? "opening the PDF" : `page ${page}`} took longer than ${limits.renderTimeoutMs} ms (renderTimeoutMs)`))
        }),
        Effect.tapError((e) => e.reason === "RenderTimeout" || e.reason === "RenderFailed" ? kill(pooled) : Effect.void),
        // Abandoned mid-request, the worker is still busy with it: it cannot be lent again.
        Effect.onInterrupt(() => kill(pooled)),
        Effect.flatMap((reply) => reply.ok ? Effect.succeed(reply) : Effect.fail(fail(reply.reason, reply.message)))
      )
    }

    return { size: Math.max(1, size), use, call }
  })
