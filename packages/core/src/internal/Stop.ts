/**
 * A deadline's way to stop a transport's wait without interrupting the fiber that waits.
 *
 * The Router reads core's own backends (OpenAiChat) in the fiber that asked for the next
 * event, with no reader fiber between them: a fiber per attempt cost more than reading the
 * whole answer. When a deadline passes, the attempt's watchdog fires the `Stop` found in the
 * waiting fiber's context; HttpCall's waits (for headers, for body bytes) end at once with a
 * failure and cut the connection, and the Router reports the deadline, not that failure.
 */
import * as FiberRef from "effect/FiberRef"

export class Stop {
  #stopped = false
  #listeners = new Set<() => void>()

  get stopped(): boolean {
    return this.#stopped
  }

  /** Run `then` when stopped (at once if already); returns a function that forgets it. */
  on(then: () => void): () => void {
    if (this.#stopped) {
      then()
      return () => {}
    }
    this.#listeners.add(then)
    return () => {
      this.#listeners.delete(then)
    }
  }

  fire(): void {
    if (this.#stopped) return
    this.#stopped = true
    const listeners = [...this.#listeners]
    this.#listeners.clear()
    for (const listener of listeners) listener()
  }
}

/** The Stop of the attempt whose events the current fiber is reading, if any. */
export const current: FiberRef.FiberRef<Stop | undefined> = FiberRef.unsafeMake<Stop | undefined>(undefined)

/** The failure a stopped wait ends with (its caller reports the deadline instead). */
export class Stopped extends Error {
  readonly code = "STOPPED"
  constructor() {
    super("stopped: a deadline passed")
  }
}
