import { describe, expect, it } from 'vitest'
import { timeTicks } from '../../dashboard/ticks.js'

describe('the task stream\'s time axis', () => {
  it('puts ticks on round times, at most six steps, covering the span', () => {
    expect(timeTicks(4100)).toEqual([0, 1000, 2000, 3000, 4000])
    expect(timeTicks(821)).toEqual([0, 200, 400, 600, 800])
    expect(timeTicks(95_000)).toEqual([0, 30_000, 60_000, 90_000])
    expect(timeTicks(3 * 3_600_000)).toEqual([0, 1_800_000, 3_600_000, 5_400_000, 7_200_000, 9_000_000, 10_800_000])
    for (const span of [1, 7, 999, 1001, 59_999, 123_456, 9 * 86_400_000]) {
      const ticks = timeTicks(span)
      expect(ticks[0]).toBe(0)
      expect(ticks.length - 1).toBeLessThanOrEqual(6)
      expect(ticks.at(-1)).toBeLessThanOrEqual(span)
      // The next step would pass the end: the axis is covered, not cut short.
      expect(ticks.at(-1)! + (ticks[1] ?? span)).toBeGreaterThan(span)
    }
  })

  it('gives one tick for an empty span', () => {
    expect(timeTicks(0)).toEqual([0])
    expect(timeTicks(Number.NaN)).toEqual([0])
  })
})
