import type { Clock, TimerHandle } from '../src/clock.ts'

let latenessMs = 0

/**
 * The real clock. Timers are unref'd so they never keep a process alive by
 * themselves, and each notes how late it fired: that is the event-loop delay
 * the peer's own work saw (`takeTimerLateness`), measured with no timer of
 * its own.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const due = performance.now() + ms
    const t = setTimeout(() => {
      latenessMs = Math.max(latenessMs, performance.now() - due)
      fn()
    }, ms)
    t.unref()
    return t as unknown as TimerHandle
  },
  clearTimeout: handle => { clearTimeout(handle as unknown as NodeJS.Timeout) },
  defer: fn => { setImmediate(fn) }
}

/** The most any timer of `systemClock` fired late since the last call, ms. */
export function takeTimerLateness (): number {
  const late = latenessMs
  latenessMs = 0
  return late
}
