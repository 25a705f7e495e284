/**
 * llama-server's slots: `-np N` parallel sequences, each with n_ctx/N of the context. A
 * request takes a free slot or waits in arrival order (queued, never rejected); a client that
 * goes away while waiting or generating frees its place. `/slots` shows each slot's state.
 */
export interface SlotView {
  readonly id: number
  readonly n_ctx: number
  readonly is_processing: boolean
  readonly id_task: number
  readonly prompt: string
  readonly next_token: { readonly has_next_token: boolean; readonly n_decoded: number }
}

interface Slot {
  task: number
  prompt: string
  decoded: number
}

export class Slots {
  private readonly slots: Array<Slot | undefined>
  private readonly waiting: Array<(index: number) => void> = []
  private tasks = 0
  readonly perSlotCtx: number

  constructor(count: number, ctxSize: number) {
    this.slots = Array.from({ length: Math.max(1, count) }, () => undefined)
    this.perSlotCtx = Math.floor(ctxSize / this.slots.length)
  }

  get total(): number {
    return this.slots.length
  }

  get queued(): number {
    return this.waiting.length
  }

  get busy(): number {
    return this.slots.filter((s) => s !== undefined).length
  }

  /**
   * Runs `work` in a slot once one is free; `gone` resolving (the client left) gives up the
   * place in the queue. `progress` lets the work report decoded tokens for `/slots`.
   */
  async run(prompt: string, gone: Promise<void>, work: (progress: (decoded: number) => void) => Promise<void>): Promise<void> {
    const index = await this.acquire(gone)
    if (index === undefined) return
    const slot: Slot = { task: this.tasks++, prompt, decoded: 0 }
    this.slots[index] = slot
    try {
      await work((decoded) => {
        slot.decoded = decoded
      })
    } finally {
      this.release(index)
    }
  }

  private acquire(gone: Promise<void>): Promise<number | undefined> {
    const free = this.slots.indexOf(undefined)
    if (free >= 0 && this.waiting.length === 0) {
      this.slots[free] = { task: -1, prompt: "", decoded: 0 }
      return Promise.resolve(free)
    }
    return new Promise((resolve) => {
      const waiter = (index: number) => resolve(index)
      this.waiting.push(waiter)
      void gone.then(() => {
        // Give the place up, so a freed slot goes to someone who is still there.
        const at = this.waiting.indexOf(waiter)
        if (at < 0) return
        this.waiting.splice(at, 1)
        resolve(undefined)
      })
    })
  }

  /** A freed slot goes straight to the longest waiter, so the queue keeps arrival order. */
  private release(index: number): void {
    const next = this.waiting.shift()
    if (next === undefined) this.slots[index] = undefined
    else next(index)
  }

  view(): ReadonlyArray<SlotView> {
    return this.slots.map((s, id) => ({
      id,
      n_ctx: this.perSlotCtx,
      is_processing: s !== undefined,
      id_task: s?.task ?? -1,
      prompt: s?.prompt ?? "",
      next_token: { has_next_token: s !== undefined, n_decoded: s?.decoded ?? 0 }
    }))
  }
}
