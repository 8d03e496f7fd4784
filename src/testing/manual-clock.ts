/**
 * A clock that moves only when told. Timers fire in deadline order (ties in
 * the order they were set), with `now()` equal to each timer's deadline while
 * it runs, so a test or a simulation is exactly repeatable.
 */
import type { Clock, TimerHandle } from '../clock.ts'

interface Timer { at: number, seq: number, fn: () => void, cancelled: boolean }

export class ManualClock implements Clock {
  #now: number
  #seq = 0
  readonly #heap: Timer[] = []

  constructor (start = 1_700_000_000_000) {
    this.#now = start
  }

  now = (): number => this.#now

  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#push(timer)
    return timer
  }

  clearTimeout = (handle: TimerHandle): void => {
    (handle as Timer).cancelled = true
  }

  /** Number of timers still pending. */
  get pending (): number {
    return this.#heap.filter(t => !t.cancelled).length
  }

  /** Deadline of the next pending timer, if any. */
  nextAt (): number | undefined {
    this.#dropCancelled()
    return this.#heap[0]?.at
  }

  /** Move time forward by `ms`, firing every timer that falls due (including ones set meanwhile). */
  advance (ms: number): void {
    const target = this.#now + ms
    for (;;) {
      this.#dropCancelled()
      const next = this.#heap[0]
      if (next === undefined || next.at > target) break
      this.#pop()
      this.#now = Math.max(this.#now, next.at)
      next.fn()
    }
    this.#now = target
  }

  /**
   * Like `advance`, but lets promise callbacks run after every timer, for code
   * that awaits (pings, publishes). `step` bounds how far time jumps at once.
   */
  async advanceAsync (ms: number, step = 10): Promise<void> {
    const target = this.#now + ms
    while (this.#now < target) {
      this.advance(Math.min(step, target - this.#now))
      await flushMicrotasks()
    }
  }

  #dropCancelled (): void {
    while (this.#heap[0]?.cancelled === true) this.#pop()
  }

  #less (a: Timer, b: Timer): boolean {
    return a.at !== b.at ? a.at < b.at : a.seq < b.seq
  }

  #push (t: Timer): void {
    const h = this.#heap
    h.push(t)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(h[i]!, h[parent]!)) break
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
  }

  #pop (): Timer | undefined {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}

/** Let every queued promise callback run (several rounds, for chained awaits). */
export async function flushMicrotasks (rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}
