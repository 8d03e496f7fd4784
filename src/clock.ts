/**
 * Time as the core sees it. The core never reads `Date.now()` or calls
 * `setTimeout` itself: a real clock is passed in by `node/`, a `ManualClock` by
 * tests and the simulator, so every timing rule can be tested in microseconds.
 */
export interface Clock {
  /** Milliseconds since 1970 (wall time; the manual clock starts wherever it is told). */
  now: () => number
  /** Run `fn` once after `ms`. Must not run `fn` synchronously. */
  setTimeout: (fn: () => void, ms: number) => TimerHandle
  clearTimeout: (handle: TimerHandle) => void
  /**
   * Run `fn` as soon as the work in hand is done, without a timer's
   * millisecond granularity (Node's `setImmediate`). Optional: without it,
   * `later` falls back to a 0 ms timer, which keeps manual clocks deterministic.
   */
  defer?: (fn: () => void) => void
}

/** Run `fn` on a later turn: `clock.defer` when the clock has it, else a 0 ms timer. */
export function later (clock: Clock, fn: () => void): void {
  if (clock.defer !== undefined) clock.defer(fn)
  else clock.setTimeout(fn, 0)
}

/** Opaque to the core; each clock decides what it is. */
export type TimerHandle = { readonly __timer: unique symbol } | object

/**
 * One re-armable timer: `arm(at)` replaces any earlier deadline. Used for
 * "wake me at the next deadline" loops that must never pile up timers.
 */
export class Alarm {
  readonly #clock: Clock
  readonly #fire: () => void
  #handle: TimerHandle | undefined
  #at: number | undefined

  constructor (clock: Clock, fire: () => void) {
    this.#clock = clock
    this.#fire = fire
  }

  /** Fire at absolute time `at` (clock ms); an earlier pending deadline is kept if sooner. */
  armAt (at: number): void {
    if (this.#at !== undefined && this.#at <= at) return
    this.cancel()
    this.#at = at
    this.#handle = this.#clock.setTimeout(() => {
      this.#handle = undefined
      this.#at = undefined
      this.#fire()
    }, Math.max(0, at - this.#clock.now()))
  }

  cancel (): void {
    if (this.#handle !== undefined) this.#clock.clearTimeout(this.#handle)
    this.#handle = undefined
    this.#at = undefined
  }
}
