/**
 * What an origin remembers of each peer (src/jobs/reputation.ts) and how it
 * prices and limits bids by it (src/auction/award.ts).
 */
import { describe, expect, it } from 'vitest'
import { chooseWinners, type ReceivedBid } from '../../src/auction/award.ts'
import { Reputation } from '../../src/jobs/reputation.ts'
import { toUnits } from '../../src/resources/ledger.ts'

const HOUR = 3_600_000

describe('Reputation', () => {
  it('a peer never seen is fully reliable; one that lost 16 attempts and delivered none is at 1/17', () => {
    const rep = new Reputation()
    expect(rep.reliability('new', 0)).toBe(1)
    for (let i = 0; i < 16; i++) rep.fault('hole', 'lease-expired', 0)
    expect(rep.reliability('hole', 0)).toBeCloseTo(1 / 17)
    rep.delivered('good', 0)
    rep.fault('good', 'peer-gone', 0)
    expect(rep.reliability('good', 0)).toBeCloseTo(2 / 2.5)
  })

  it('prices a bid by reliability: a black hole\'s ETA of 0 loses to an honest 5 s', () => {
    const rep = new Reputation()
    rep.fault('hole', 'lease-expired', 0)
    rep.fault('hole', 'lease-expired', 0)
    // Reliability 1/3: two failed tries for every success, each costing the lease (2 s) and the work (1 s).
    expect(rep.adjustedEtaMs('hole', 0, 3000, 0)).toBe(6000)
    expect(rep.adjustedEtaMs('honest', 5000, 3000, 0)).toBe(5000)
  })

  it('old observations fade: an hour halves them', () => {
    const rep = new Reputation()
    for (let i = 0; i < 4; i++) rep.fault('p', 'deadline', 0)
    expect(rep.reliability('p', 0)).toBeCloseTo(1 / 5)
    expect(rep.reliability('p', HOUR)).toBeCloseTo(1 / 3)
    expect(rep.view(HOUR)).toEqual([{ peer: 'p', delivered: 0, faults: 2, byKind: { deadline: 4 }, reliability: 0.333, agreedInARow: 0 }])
  })

  it('a wrong result weighs four faults and ends a run of agreements', () => {
    const rep = new Reputation()
    for (let i = 0; i < 12; i++) { rep.delivered('p', 0); rep.agreed('p', 0) }
    expect(rep.agreedInARow('p')).toBe(12)
    rep.fault('p', 'wrong-result', 0)
    expect(rep.agreedInARow('p')).toBe(0)
    expect(rep.reliability('p', 0)).toBeCloseTo(13 / 17)
  })
})

describe('chooseWinners with limits', () => {
  const bid = (peer: string, taskId: string, etaMs: number): ReceivedBid => ({ peer, taskId, attempt: 1, etaMs, load: 0 })
  const cpu = (n: number) => toUnits({ cpu: n, memoryMB: 0, gpu: 0, custom: {} })

  it('no bidder wins more than its room: the rest go to the next best bids', () => {
    // in real life… a peer bids ETA 0 for all 6 tasks of a job but advertises 2 cores (and a queue of 2).
    const bids = ['t0', 't1', 't2', 't3', 't4', 't5'].flatMap(t => [bid('greedy', t, 0), bid('honest', t, 500)])
    const winners = chooseWinners(bids, { roomOf: p => p === 'greedy' ? cpu(4) : undefined, demandOf: () => cpu(1), shunned: () => false, othersCanRun: () => true })
    const won = [...winners.values()].map(w => w.peer)
    expect(won.filter(p => p === 'greedy')).toHaveLength(4)
    expect(won.filter(p => p === 'honest')).toHaveLength(2)
  })

  it('a shunned peer wins only tasks no other peer could run; others wait for a peer that can', () => {
    // a: ok bid. b: only bad bid, but ok could run it (busy this round): it waits. c: nobody else can run it.
    const winners = chooseWinners([bid('bad', 'a', 0), bid('ok', 'a', 900), bid('bad', 'b', 0), bid('bad', 'c', 0)], { roomOf: () => undefined, demandOf: () => cpu(1), shunned: p => p === 'bad', othersCanRun: t => t !== 'c' })
    expect(winners.get('a')?.peer).toBe('ok')
    expect(winners.has('b')).toBe(false)
    expect(winners.get('c')?.peer).toBe('bad')
  })
})
