import type { Clock, TimerHandle } from '../src/clock.ts'

/** The real clock. Timers are unref'd so they never keep a process alive by themselves. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t as unknown as TimerHandle
  },
  clearTimeout: handle => { clearTimeout(handle as unknown as NodeJS.Timeout) }
}
