/**
 * mlx_lm.server's single generation thread: one resident model, requests served one at a
 * time in arrival order, the launch model loading in the background from start-up, and a
 * swap (as slow as a cold load) whenever a request names a different model string.
 */
import { setTimeout as sleep } from "node:timers/promises"

export class Resident {
  private tail: Promise<void> = Promise.resolve()
  private current: string | undefined
  private readonly initial: Promise<void>
  readonly launchModel: string
  private readonly loadMs: number
  /** The launch model failed to load: every completion then waits forever, /health stays ok. */
  private readonly broken: boolean

  constructor(launchModel: string, loadMs: number, broken: boolean) {
    this.launchModel = launchModel
    this.loadMs = loadMs
    this.broken = broken
    this.initial = sleep(loadMs).then(() => {
      if (!broken) this.current = launchModel
    })
  }

  get model(): string | undefined {
    return this.current
  }

  /** Runs `work` when the generation thread is free; nothing is written to the client before. */
  exclusive<A>(work: () => Promise<A>): Promise<A> {
    const run = this.tail.then(work)
    this.tail = run.then(
      () => undefined,
      () => undefined
    )
    return run
  }

  /** Inside `exclusive`: waits for the launch load, then swaps to `model` if needed. */
  async ensure(model: string, gone: Promise<void>): Promise<void> {
    await this.initial
    if (this.broken) return gone
    if (this.current === model) return
    this.current = undefined
    await sleep(this.loadMs)
    this.current = model
  }
}
