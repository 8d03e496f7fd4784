import { describe, expect, it } from 'vitest'
import { attemptKind } from '../../node/dashboard/state.ts'
import type { AttemptRecord } from '../../src/jobs/job-record.ts'

const attempt = (n: number, state: AttemptRecord['state'], awardedAt: number, endedAt?: number): AttemptRecord =>
  ({ attempt: n, peer: `p${n}`, state, awardedAt, lastHeartbeat: awardedAt, ...(endedAt !== undefined ? { endedAt } : {}) })

describe('how the timeline names an attempt', () => {
  it('first, then a retry after a failure, a migration after a loss', () => {
    const list = [attempt(1, 'failed', 0, 10), attempt(2, 'lost', 20, 30), attempt(3, 'done', 40, 50)]
    expect(list.map((_a, i) => attemptKind(list, i))).toEqual(['first', 'retry', 'migration'])
  })

  it('a backup is awarded while the attempt before it still runs, or ran on past its award', () => {
    const running = [attempt(1, 'running', 0), attempt(2, 'running', 100)]
    expect(attemptKind(running, 1)).toBe('backup')
    const overtaken = [attempt(1, 'cancelled', 0, 300), attempt(2, 'done', 100, 250)]
    expect(attemptKind(overtaken, 1)).toBe('backup')
  })
})
