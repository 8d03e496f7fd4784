import { describe, it, expect } from 'vitest'
import { PeerTable, isNewer } from '../../src/membership/peer-table.ts'
import type { ResourceAd } from '../../protocols/resources.ts'
import { AD_EPOCH, makeAd } from '../helpers/ads.ts'

const SUSPECT_MS = 2_500
const GONE_MS = 2_500
const FORGET_MS = 60_000
const QUARANTINE_MS = 1_000
/** Local clock at the first ad of each test. */
const T0 = 1_700_000_100_000

function newTable (): PeerTable {
  return new PeerTable({ self: 'me', suspectMs: SUSPECT_MS, goneMs: GONE_MS, forgetMs: FORGET_MS, quarantineMs: QUARANTINE_MS })
}

/** An ad from peer `b`. */
function adB (overrides: Partial<ResourceAd> = {}): ResourceAd {
  return makeAd({ peerId: 'b', ...overrides })
}

/** A table that has just accepted b's first ad at T0. */
function tableWithB (overrides: Partial<ResourceAd> = {}): PeerTable {
  const table = newTable()
  table.receiveAd(adB(overrides), T0)
  return table
}

describe('PeerTable: receiving ads', () => {
  it('makes a peer alive on its first ad', () => {
    // in real life… a peer boots and its first gossip ad reaches us.
    const table = newTable()
    const result = table.receiveAd(adB(), T0)
    expect(result).toEqual({ verdict: 'accept', change: { peer: 'b', from: 'new', to: 'alive', reason: 'first ad', at: T0 } })
    expect(table.get('b')).toEqual(expect.objectContaining({ state: 'alive', lastSeen: T0, since: T0, reason: 'first ad', probing: false }))
    expect(table.alive().map(e => e.id)).toEqual(['b'])
  })

  it('ignores ads with an older or equal seq, and they do not refresh lastSeen', () => {
    // in real life… gossip delivers a duplicate or a late copy of an ad via a slower path.
    const table = tableWithB({ seq: 5 })
    expect(table.receiveAd(adB({ seq: 5 }), T0 + 100)).toEqual({ verdict: 'ignore' })
    expect(table.receiveAd(adB({ seq: 3 }), T0 + 200)).toEqual({ verdict: 'ignore' })
    expect(table.get('b')).toEqual(expect.objectContaining({ lastSeen: T0, ad: expect.objectContaining({ seq: 5 }) }))
  })

  it('accepts a newer seq and refreshes lastSeen without a state change', () => {
    // in real life… the peer's next periodic ad arrives.
    const table = tableWithB({ seq: 1 })
    expect(table.receiveAd(adB({ seq: 2 }), T0 + 1_000)).toEqual({ verdict: 'accept' })
    expect(table.get('b')).toEqual(expect.objectContaining({ state: 'alive', lastSeen: T0 + 1_000, ad: expect.objectContaining({ seq: 2 }) }))
  })

  it('accepts a new epoch even with a lower seq, and ignores an older epoch even with a higher seq', () => {
    // in real life… the peer process restarted (seq starts again at 1), then a straggler from the old process arrives.
    const table = tableWithB({ epoch: AD_EPOCH, seq: 500 })
    expect(table.receiveAd(adB({ epoch: AD_EPOCH + 60_000, seq: 1 }), T0 + 100).verdict).toBe('accept')
    expect(table.get('b')?.ad).toEqual(expect.objectContaining({ epoch: AD_EPOCH + 60_000, seq: 1 }))
    expect(table.receiveAd(adB({ epoch: AD_EPOCH, seq: 501 }), T0 + 200)).toEqual({ verdict: 'ignore' })
    expect(table.get('b')?.ad.epoch).toBe(AD_EPOCH + 60_000)
  })

  it('ignores its own ads', () => {
    // in real life… gossipsub echoes our own ad back to us through a neighbour.
    const table = newTable()
    expect(table.receiveAd(makeAd({ peerId: 'me' }), T0)).toEqual({ verdict: 'ignore' })
    expect(table.entries()).toEqual([])
  })

  it('orders ads by epoch, then seq (isNewer)', () => {
    // in real life… deciding which of two ads from one peer describes it now.
    expect(isNewer(adB({ seq: 2 }), adB({ seq: 1 }))).toBe(true)
    expect(isNewer(adB({ seq: 1 }), adB({ seq: 1 }))).toBe(false)
    expect(isNewer(adB({ epoch: AD_EPOCH + 1, seq: 1 }), adB({ seq: 99 }))).toBe(true)
    expect(isNewer(adB({ epoch: AD_EPOCH - 1, seq: 99 }), adB({ seq: 1 }))).toBe(false)
  })
})

describe('PeerTable: timeouts', () => {
  it('turns alive → suspect at exactly suspectMs of silence, not before', () => {
    // in real life… a peer's ads stop arriving (frozen process, congested link).
    const table = tableWithB()
    expect(table.tick(T0 + SUSPECT_MS - 1)).toEqual([])
    expect(table.get('b')?.state).toBe('alive')
    expect(table.tick(T0 + SUSPECT_MS)).toEqual([
      { peer: 'b', from: 'alive', to: 'suspect', reason: `no ad for ${SUSPECT_MS} ms`, at: T0 + SUSPECT_MS }
    ])
    expect(table.get('b')).toEqual(expect.objectContaining({ state: 'suspect', since: T0 + SUSPECT_MS }))
    expect(table.alive()).toEqual([])
  })

  it('turns suspect → gone after goneMs more of silence', () => {
    // in real life… the silent peer never comes back: it is given up on.
    const table = tableWithB()
    table.tick(T0 + SUSPECT_MS)
    expect(table.tick(T0 + SUSPECT_MS + GONE_MS - 1)).toEqual([])
    expect(table.tick(T0 + SUSPECT_MS + GONE_MS)).toEqual([
      expect.objectContaining({ peer: 'b', from: 'suspect', to: 'gone', reason: `no ad for ${SUSPECT_MS + GONE_MS} ms` })
    ])
    expect(table.get('b')?.state).toBe('gone')
  })

  it('goes alive → suspect → gone in one tick when the clock jumps past both deadlines', () => {
    // in real life… our own process was paused (laptop lid closed) and wakes up long after.
    const table = tableWithB()
    const now = T0 + SUSPECT_MS + GONE_MS + 10_000
    expect(table.tick(now)).toEqual([
      expect.objectContaining({ peer: 'b', from: 'alive', to: 'suspect', at: now }),
      expect.objectContaining({ peer: 'b', from: 'suspect', to: 'gone', at: now })
    ])
  })

  it('brings a suspect peer back to alive on a newer ad', () => {
    // in real life… a peer was slow (GC pause, busy link) but is fine again.
    const table = tableWithB({ seq: 1 })
    table.tick(T0 + SUSPECT_MS)
    const back = table.receiveAd(adB({ seq: 2 }), T0 + SUSPECT_MS + 300)
    expect(back).toEqual({ verdict: 'accept', change: { peer: 'b', from: 'suspect', to: 'alive', reason: 'ad received', at: T0 + SUSPECT_MS + 300 } })
    // The old gone deadline no longer applies: silence counts from the new ad.
    expect(table.tick(T0 + SUSPECT_MS + GONE_MS)).toEqual([])
    expect(table.get('b')?.state).toBe('alive')
  })

  it('forgets a gone peer after forgetMs and removes its entry', () => {
    // in real life… a machine left the mesh for good; after a minute it drops off `mesh peers`.
    const table = tableWithB()
    const goneAt = T0 + SUSPECT_MS + GONE_MS
    table.tick(goneAt)
    expect(table.tick(goneAt + FORGET_MS - 1)).toEqual([])
    expect(table.get('b')?.state).toBe('gone')
    expect(table.tick(goneAt + FORGET_MS)).toEqual([
      { peer: 'b', from: 'gone', to: 'forgotten', reason: `gone for ${FORGET_MS} ms`, at: goneAt + FORGET_MS }
    ])
    expect(table.get('b')).toBeUndefined()
    expect(table.entries()).toEqual([])
  })

  it('treats a forgotten peer that comes back as new', () => {
    // in real life… a machine that was off for hours is switched on again.
    const table = tableWithB({ seq: 7 })
    const goneAt = T0 + SUSPECT_MS + GONE_MS
    table.tick(goneAt)
    table.tick(goneAt + FORGET_MS)
    expect(table.receiveAd(adB({ seq: 8 }), goneAt + FORGET_MS + 1).change).toEqual(expect.objectContaining({ from: 'new', to: 'alive' }))
  })
})

describe('PeerTable: lost connections and probes', () => {
  it('asks for one probe per lost connection; a failed ping makes the peer gone', () => {
    // in real life… the peer's process was killed: its socket closed and it no longer answers pings.
    const table = tableWithB()
    expect(table.connectionLost('b')).toBe(true)
    expect(table.connectionLost('b')).toBe(false) // already probing
    expect(table.get('b')?.probing).toBe(true)
    const change = table.probeResult('b', false, T0 + 50)
    expect(change).toEqual(expect.objectContaining({ peer: 'b', from: 'alive', to: 'gone', at: T0 + 50 }))
    expect(change?.reason).toMatch(/ping/)
    expect(table.get('b')).toEqual(expect.objectContaining({ state: 'gone', probing: false }))
    expect(table.connectionLost('b')).toBe(false) // gone peers are not probed
  })

  it('does not probe peers it has never heard of', () => {
    // in real life… a connection from a peer whose ad has not arrived yet closes again.
    expect(newTable().connectionLost('stranger')).toBe(false)
    expect(newTable().probeResult('stranger', false, T0)).toBeUndefined()
  })

  it('changes nothing when the probe answers, and allows the next loss to probe again', () => {
    // in real life… libp2p pruned a redundant connection; the peer is fine.
    const table = tableWithB()
    table.connectionLost('b')
    expect(table.probeResult('b', true, T0 + 5)).toBeUndefined()
    expect(table.get('b')).toEqual(expect.objectContaining({ state: 'alive', reason: 'first ad', since: T0, probing: false }))
    expect(table.connectionLost('b')).toBe(true)
  })

  it('probes a suspect peer too, and a failed ping makes it gone', () => {
    // in real life… a peer went quiet, then its connection closed as well.
    const table = tableWithB()
    table.tick(T0 + SUSPECT_MS)
    expect(table.connectionLost('b')).toBe(true)
    expect(table.probeResult('b', false, T0 + SUSPECT_MS + 10)).toEqual(expect.objectContaining({ from: 'suspect', to: 'gone' }))
  })

  it('ignores same-epoch ads during the quarantine after a detected crash, but revives at once on a new epoch', () => {
    // in real life… after a crash, its last ads are still bouncing through gossip; then systemd restarts it.
    const table = tableWithB({ seq: 10 })
    table.connectionLost('b')
    const crashAt = T0 + 100
    table.probeResult('b', false, crashAt)
    expect(table.receiveAd(adB({ seq: 11 }), crashAt + QUARANTINE_MS - 1)).toEqual({ verdict: 'ignore' })
    expect(table.get('b')?.state).toBe('gone')
    const restarted = table.receiveAd(adB({ epoch: AD_EPOCH + 5_000, seq: 1 }), crashAt + 200)
    expect(restarted).toEqual({ verdict: 'accept', change: expect.objectContaining({ from: 'gone', to: 'alive', reason: 'ad received (restarted)' }) })
    expect(table.get('b')?.ad.epoch).toBe(AD_EPOCH + 5_000)
  })

  it('revives a crash-detected peer on a same-epoch ad once the quarantine is over', () => {
    // in real life… the ping failed because of a brief network blip, and the peer keeps advertising.
    const table = tableWithB({ seq: 10 })
    table.connectionLost('b')
    const crashAt = T0 + 100
    table.probeResult('b', false, crashAt)
    const back = table.receiveAd(adB({ seq: 12 }), crashAt + QUARANTINE_MS)
    expect(back).toEqual({ verdict: 'accept', change: expect.objectContaining({ from: 'gone', to: 'alive', reason: 'ad received' }) })
  })

  it('revives a peer that went gone by timeout on its next same-epoch ad (no quarantine)', () => {
    // in real life… a frozen process (SIGSTOP) is resumed (SIGCONT) and advertises again.
    const table = tableWithB({ seq: 1 })
    const goneAt = T0 + SUSPECT_MS + GONE_MS
    table.tick(goneAt)
    expect(table.receiveAd(adB({ seq: 2 }), goneAt + 1).change).toEqual(expect.objectContaining({ from: 'gone', to: 'alive' }))
  })
})

describe('PeerTable: clean shutdown', () => {
  it('makes a peer gone at once on a leaving ad', () => {
    // in real life… someone ran `mesh stop` on that machine and it said goodbye.
    const table = tableWithB({ seq: 1 })
    const result = table.receiveAd(adB({ seq: 2, leaving: true }), T0 + 400)
    expect(result.verdict).toBe('accept')
    expect(result.change).toEqual(expect.objectContaining({ peer: 'b', from: 'alive', to: 'gone', at: T0 + 400 }))
    expect(result.change?.reason).toMatch(/clean shutdown/)
    expect(table.get('b')?.state).toBe('gone')
  })

  it('records a peer whose first ad is its leaving ad as gone', () => {
    // in real life… we joined just as another peer was stopping.
    const table = newTable()
    const result = table.receiveAd(adB({ leaving: true }), T0)
    expect(result.change).toEqual(expect.objectContaining({ from: 'new', to: 'gone', reason: expect.stringMatching(/clean shutdown/) }))
  })

  it('reports no second change for a leaving ad about a peer already gone', () => {
    // in real life… we timed the peer out before its goodbye reached us.
    const table = tableWithB({ seq: 1 })
    table.tick(T0 + SUSPECT_MS + GONE_MS)
    expect(table.receiveAd(adB({ seq: 2, leaving: true }), T0 + SUSPECT_MS + GONE_MS + 1)).toEqual({ verdict: 'accept', change: undefined })
  })
})

describe('PeerTable: nextDeadline', () => {
  it('is undefined for an empty table', () => {
    // in real life… a lone peer has nothing to time out, so no timer is armed.
    expect(newTable().nextDeadline()).toBeUndefined()
  })

  it('returns the earliest pending deadline over all peers and states', () => {
    // in real life… membership arms one alarm for whichever peer times out first.
    const table = tableWithB()
    table.receiveAd(makeAd({ peerId: 'c' }), T0 + 1_000)
    expect(table.nextDeadline()).toBe(T0 + SUSPECT_MS) // b turns suspect first

    table.tick(T0 + SUSPECT_MS) // b suspect (gone due T0+5000); c still alive (suspect due T0+3500)
    expect(table.nextDeadline()).toBe(T0 + 1_000 + SUSPECT_MS)

    table.tick(T0 + 1_000 + SUSPECT_MS) // c suspect too (gone due T0+6000)
    expect(table.nextDeadline()).toBe(T0 + SUSPECT_MS + GONE_MS)

    table.tick(T0 + SUSPECT_MS + GONE_MS) // b gone (forgotten due T0+65000); c gone due T0+6000
    expect(table.nextDeadline()).toBe(T0 + 1_000 + SUSPECT_MS + GONE_MS)

    table.tick(T0 + 1_000 + SUSPECT_MS + GONE_MS) // both gone: b is forgotten first
    expect(table.nextDeadline()).toBe(T0 + SUSPECT_MS + GONE_MS + FORGET_MS)
  })

  it('nothing changes before nextDeadline, and something does at it', () => {
    // in real life… the alarm must neither fire too late nor be useless.
    const table = tableWithB()
    table.receiveAd(makeAd({ peerId: 'c' }), T0 + 700)
    for (let i = 0; i < 6; i++) {
      const at = table.nextDeadline()
      if (at === undefined) break
      expect(table.tick(at - 1)).toEqual([])
      expect(table.tick(at).length).toBeGreaterThan(0)
    }
    expect(table.entries()).toEqual([])
  })
})
