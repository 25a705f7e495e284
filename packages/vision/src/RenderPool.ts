/**
 * The render processes, kept warm: starting one costs over a second (pdfjs-dist is a large
 * module), so they outlive documents and are handed from one to the next. One idle for
 * WORKER_IDLE is ended, and the next PDF starts a new one. A renderer that times out or crashes
 * is killed and replaced on demand. Idle ones are unref'd, so a forgotten pool never keeps the
 * process alive; closing the scope ends them all, and one whose parent died ends itself.
 *
 * Processes, not worker threads: Skia (drawing pages) allocates in the threads that draw, and
 * what a thread's malloc arena held stays in the process after the thread ends, together with
 * Skia's and pdfjs's code. A served 36-page PDF left serve ~210 MB above idle 60 s later that way
 * (~40 MB with glibc told to give memory back); a process gives every byte back when it exits,
 * and serve was 2.5 MB above idle (bench/pdf --serve). The price: each renderer is a Node process
 * of its own (~200 MB while it draws a page with images, nothing once it has ended).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Reply, Request } from "./internal/RenderProtocol.ts"
import type { Limits } from "./Limits.ts"
import { VisionError } from "./VisionError.ts"

/** Below about 64 MiB V8 cannot even start its heap; 128 leaves room for pdfjs itself. */
export const MIN_WORKER_MEMORY_MB = 128

export interface PooledWorker {
  readonly worker: ChildProcess
  /** The document this renderer has open now, if any. */
  loaded: number | undefined
  /** While it waits in the pool: the timer that ends it if nobody borrows it. */
  retire?: Fiber.Fiber<void> | undefined
  /** Whether V8 said on its stderr that it reached its heap limit, to say why it died. */
  outOfMemory: boolean
}

/**
 * How long an idle renderer is kept for the next document: long enough for the next page of a
 * person working through files, short enough that an idle serve is back to its own size soon.
 */
export const WORKER_IDLE = Duration.seconds(10)

export interface RenderPool {
  readonly size: number
  /** Borrow a renderer for one piece of work; it goes back to the pool unless it was killed. */
  readonly use: <A>(work: (worker: PooledWorker) => Effect.Effect<A, VisionError>) => Effect.Effect<A, VisionError>
  /** One request to one renderer, under the render deadline; a timeout or a crash kills it. */
  readonly call: (worker: PooledWorker, request: Request, context: CallContext) => Effect.Effect<Reply & { ok: true }, VisionError>
}

export interface CallContext {
  readonly source: string
  readonly page?: number | undefined
}

// The renderer's module in this module's own form: src/*.ts, or dist/*.js once built.
const workerFile = fileURLToPath(new URL(`./internal/renderWorker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url))

/** V8's last words when a heap limit is reached. */
const outOfMemory = (stderr: string) => /heap limit|heap out of memory/i.test(stderr)

export const make = (limits: Limits, size: number): Effect.Effect<RenderPool, never, Scope.Scope> =>
  Effect.gen(function*() {
    const live = new Set<PooledWorker>()
    const idle: Array<PooledWorker> = []
    const heap = Math.max(MIN_WORKER_MEMORY_MB, limits.workerMemoryMb)
    const scope = yield* Effect.scope
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([...live].map(end))))
    const permits = yield* Semaphore.make(Math.max(1, size))

    const kill = (pooled: PooledWorker) =>
      Effect.sync(() => {
        live.delete(pooled)
        pooled.worker.kill("SIGKILL")
      })

    const spawn = Effect.sync(() => {
      const worker = fork(workerFile, [], {
        // Its own heap cap: a hostile file that bloats the heap ends this renderer only.
        execArgv: [`--max-old-space-size=${heap}`, "--disable-warning=ExperimentalWarning"],
        // Structured clone over the pipe: the PDF's and the pages' bytes go as bytes.
        serialization: "advanced",
        stdio: ["ignore", "ignore", "pipe", "ipc"]
      })
      const pooled: PooledWorker = { worker, loaded: undefined, outOfMemory: false }
      // V8's last words are followed by a long stack: look at each piece as it comes.
      worker.stderr!.setEncoding("utf8").on("data", (text: string) => {
        if (outOfMemory(text)) pooled.outOfMemory = true
      })
      // A renderer that could not start says so through 'exit' on its next call.
      worker.on("error", () => {})
      live.add(pooled)
      return pooled
    })

    const use: RenderPool["use"] = (work) =>
      permits.withPermits(1)(Effect.gen(function*() {
        const pooled = idle.pop() ?? (yield* spawn)
        if (pooled.retire) yield* Fiber.interrupt(pooled.retire)
        pooled.retire = undefined
        ref(pooled, true)
        return yield* work(pooled).pipe(Effect.ensuring(Effect.suspend(() => {
          if (!live.has(pooled)) return Effect.void
          ref(pooled, false)
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
        const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
          done(Effect.fail(fail(
            "RenderFailed",
            pooled.outOfMemory
              ? `the renderer ran out of memory (workerMemoryMb: ${heap})`
              : `the renderer exited (${signal ? `signal ${signal}` : `code ${code}`})`
          )))
        const detach = () => {
          worker.off("message", onMessage)
          worker.off("close", onExit)
        }
        const done = (result: Effect.Effect<Reply, VisionError>) => {
          detach()
          resume(result)
        }
        if (worker.exitCode !== null || worker.signalCode !== null || !worker.connected) return onExit(worker.exitCode, worker.signalCode)
        worker.on("message", onMessage)
        // 'close', not 'exit': its stderr has been read to the end by then.
        worker.on("close", onExit)
        worker.send(request)
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

/** Whether a renderer keeps this process alive: only while it works. */
const ref = ({ worker }: PooledWorker, on: boolean) => {
  const handles = [worker, worker.channel, worker.stderr] as ReadonlyArray<{ ref?: () => void; unref?: () => void } | null | undefined>
  for (const h of handles) on ? h?.ref?.() : h?.unref?.()
}

/** End a renderer and wait for it to be gone. */
const end = ({ worker }: PooledWorker): Promise<void> =>
  worker.exitCode !== null || worker.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => {
      worker.once("exit", () => resolve())
      worker.kill("SIGKILL")
    })
