/** What an origin learns from its own rounds and results: per-peer latency and per-kind work. */
import { describe, expect, it } from 'vitest'
import { PeerLatency } from '../../src/jobs/peer-latency.ts'
import { WorkEstimates } from '../../src/jobs/work-estimates.ts'

describe('PeerLatency', () => {
  it('is the median of recent bid delays per remote peer, zero for itself and for peers not heard yet', () => {
    const l = new PeerLatency('me')
    for (const ms of [3, 40, 4, 5, 2]) l.observe('p', ms)
    expect(l.of('p')).toBe(4)
    l.observe('me', 100)
    expect(l.of('me')).toBe(0)
    expect(l.of('q')).toBe(0)
    l.forget('p')
    expect(l.of('p')).toBe(0)
  })

  it('follows a peer that moved: old samples age out', () => {
    const l = new PeerLatency('me')
    for (let i = 0; i < 9; i++) l.observe('p', 2)
    for (let i = 0; i < 9; i++) l.observe('p', 30)
    expect(l.of('p')).toBe(30)
  })
})

describe('WorkEstimates', () => {
  it('is the median per kind of work, and forgets the least recently used kind beyond its cap', () => {
    const w = new WorkEstimates()
    for (const ms of [10, 12, 500, 11]) w.record('handler:resize', ms)
    expect(w.estimate('handler:resize')).toBe(12)
    expect(w.estimate('handler:other')).toBeUndefined()
    for (let i = 0; i < 1024; i++) w.record(`k${i}`, i)
    expect(w.estimate('handler:resize')).toBeUndefined()
    expect(w.estimate('k1023')).toBe(1023)
  })
})
