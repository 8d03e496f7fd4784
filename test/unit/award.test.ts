import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { chooseWinners, type ReceivedBid } from '../../src/auction/award.ts'

/** A bid for task t1, attempt 1, unless told otherwise. */
const bid = (peer: string, etaMs: number, load: number, taskId = 't1'): ReceivedBid => ({ peer, taskId, attempt: 1, etaMs, load })

describe('chooseWinners: the award rule (docs/ARCHITECTURE.md §6)', () => {
  const cases: Array<{ name: string, life: string, bids: ReceivedBid[], winner: string }> = [
    {
      name: 'lowest ETA wins, whatever the load and id',
      life: 'a fast idle-ish machine beats a slow idle one: finishing sooner matters most',
      bids: [bid('a', 300, 0), bid('b', 120, 0.9), bid('c', 200, 0)],
      winner: 'b'
    },
    {
      name: 'equal ETA: the lower load wins',
      life: 'two identical machines promise the same time; the less busy one gets the work',
      bids: [bid('a', 100, 0.75), bid('b', 100, 0.25), bid('c', 100, 0.5)],
      winner: 'b'
    },
    {
      name: 'equal ETA and load: the lower peer id wins',
      life: 'three identical idle machines: every origin must pick the same one from the same bids',
      bids: [bid('c', 100, 0), bid('a', 100, 0), bid('b', 100, 0)],
      winner: 'a'
    },
    {
      name: 'ETA beats load even by a hair',
      life: 'a busier machine that still promises an earlier finish wins',
      bids: [bid('a', 100.1, 0), bid('b', 100, 1)],
      winner: 'b'
    },
    {
      name: 'peer ids compare as strings (libp2p ids, not numbers)',
      life: 'real peer ids are base58 strings: "12D3Koo…"; the rule must be a total order on them',
      bids: [bid('12D3KooWb', 50, 0.5), bid('12D3KooWB', 50, 0.5), bid('12D3KooWa', 50, 0.5)],
      winner: '12D3KooWB'
    },
    {
      name: 'a single bid wins',
      life: 'only one peer had room this round',
      bids: [bid('z', 9_999, 1)],
      winner: 'z'
    }
  ]

  for (const c of cases) {
    it(c.name, () => {
      // in real life… each case's `life` line says when it happens.
      expect(chooseWinners(c.bids).get('t1')?.peer, c.life).toBe(c.winner)
    })
  }

  it('decides each task separately and returns no entry for tasks without bids', () => {
    // in real life… one round announces many tasks; different peers win different ones, some find no bidder.
    const winners = chooseWinners([
      bid('a', 100, 0, 't1'), bid('b', 90, 0, 't1'),
      bid('a', 50, 0, 't2'), bid('b', 60, 0, 't2'),
      bid('c', 10, 0, 't3')
    ])
    expect([...winners].map(([t, w]) => [t, w.peer]).sort()).toEqual([['t1', 'b'], ['t2', 'a'], ['t3', 'c']])
    expect(winners.has('t4')).toBe(false)
    expect(chooseWinners([]).size).toBe(0)
  })

  it('the winner does not depend on the order bids arrived in', () => {
    // in real life… bids race over the network; two origins (or a replay) must still agree on the winner.
    const bidArb = fc.record({
      peer: fc.constantFrom('a', 'b', 'c', 'd'),
      taskId: fc.constantFrom('t1', 't2'),
      attempt: fc.constant(1),
      etaMs: fc.integer({ min: 0, max: 3 }).map(n => n * 10), // few values: plenty of ties
      load: fc.constantFrom(0, 0.5, 1)
    })
    fc.assert(fc.property(fc.uniqueArray(bidArb, { minLength: 1, maxLength: 12, selector: b => `${b.peer}/${b.taskId}` }), bids => {
      const forward = chooseWinners(bids)
      const backward = chooseWinners([...bids].reverse())
      for (const [task, w] of forward) {
        expect(backward.get(task)).toEqual(w)
        // And it really is the best by (eta, load, peer).
        for (const b of bids.filter(x => x.taskId === task)) {
          const key = (x: ReceivedBid): [number, number, string] => [x.etaMs, x.load, x.peer]
          const [we, wl, wp] = key(w)
          const [be, bl, bp] = key(b)
          expect(we < be || (we === be && (wl < bl || (wl === bl && wp <= bp)))).toBe(true)
        }
      }
    }), { seed: 42, numRuns: 300 })
  })
})
