import { describe, expect, it } from 'vitest'
import { RoundLog } from '../../src/jobs/round-log.ts'
import type { ReceivedBid } from '../../src/auction/award.ts'

const round = (n: number, bids: ReceivedBid[], awarded: Array<[string, { peer: string, etaMs: number }]>, tasks = 3) => ({
  jobId: 'j1', jobName: 'job', round: n, openedAt: 1000 * n, closedAt: 1000 * n + 40, windowMs: 50, tasks, backups: 0, expected: 2, answered: 2, bids, awarded: new Map(awarded)
})
const bid = (peer: string, taskId: string, etaMs: number, queued = false): ReceivedBid => ({ peer, taskId, attempt: 1, etaMs, load: 0, queued })

describe('RoundLog', () => {
  it('records who bid, who won each task by what ETA, and what found no bid or was deferred', () => {
    const log = new RoundLog()
    log.add(round(0, [bid('a', 't1', 100), bid('b', 't1', 80), bid('a', 't2', 300, true), bid('b', 't2', 500)], [['t1', { peer: 'b', etaMs: 80 }]]))
    const [r] = log.recent()
    expect(r!.winners).toEqual([{ taskId: 't1', peer: 'b', etaMs: 80 }])
    expect(r!.bids.filter(b => b.won)).toEqual([{ peer: 'b', taskId: 't1', etaMs: 80, queued: false, won: true }])
    expect(r!.bids.find(b => b.peer === 'a' && b.taskId === 't2')!.queued).toBe(true)
    // t3 got no bid; t2 got bids but no award (deferred).
    expect(r!.unbid).toBe(1)
    expect(r!.deferred).toBe(1)
    expect(r!.bidCount).toBe(4)
  })

  it('keeps the last rounds only, and a bounded number of bids per round', () => {
    const log = new RoundLog(3, 2)
    for (let n = 0; n < 5; n++) log.add(round(n, [bid('a', 't1', 1), bid('b', 't1', 2), bid('c', 't1', 3)], [['t1', { peer: 'a', etaMs: 1 }]], 1))
    expect(log.recent().map(r => r.round)).toEqual([2, 3, 4])
    for (const r of log.recent()) {
      expect(r.bids).toHaveLength(2)
      expect(r.bidCount).toBe(3)
    }
  })
})
