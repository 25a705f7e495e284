/**
 * Station's inference worker pool as configured by default: one worker, a bounded queue,
 * a per-request wait limit that does not cancel the work (the worker finishes an abandoned
 * job, and the next request waits for it), and weights loaded lazily by the first job.
 */
import { setTimeout as sleep } from "node:timers/promises"

export type Outcome<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly reason: "full" | "timeout" }

interface Job {
  readonly work: () => Promise<void>
}

export class Worker {
  private readonly waiting: Array<Job> = []
  private busy = false
  private loaded = false
  processed = 0
  timeouts = 0
  readonly maxQueue: number
  private readonly loadMs: number

  constructor(maxQueue: number, loadMs: number) {
    this.maxQueue = maxQueue
    this.loadMs = loadMs
  }

  get queueSize(): number {
    return this.waiting.length
  }

  get processing(): number {
    return this.busy ? 1 : 0
  }

  /** Queues `work` (after the lazy model load); gives up waiting after `timeoutMs`. */
  submit<A>(work: () => Promise<A>, timeoutMs: number): Promise<Outcome<A>> {
    if (this.waiting.length >= this.maxQueue) return Promise.resolve({ ok: false, reason: "full" })
    return new Promise((resolve) => {
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        this.timeouts += 1
        resolve({ ok: false, reason: "timeout" })
      }, timeoutMs)
      this.waiting.push({
        work: async () => {
          if (!this.loaded) {
            await sleep(this.loadMs)
            this.loaded = true
          }
          const value = await work()
          this.processed += 1
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve({ ok: true, value })
        }
      })
      void this.drain()
    })
  }

  private async drain(): Promise<void> {
    if (this.busy) return
    this.busy = true
    for (let job = this.waiting.shift(); job !== undefined; job = this.waiting.shift()) {
      await job.work().catch(() => undefined)
    }
    this.busy = false
  }
}
