/**
 * A connected peer whose ads never reach us (its pub/sub dropped our
 * subscription announcement, as gossipsub does for a peer it has graylisted)
 * is hung up on and dialled again, which makes it learn that we subscribe; a
 * peer that stays silent is redialled less and less often; peers we hear are
 * left alone.
 */
import { describe, expect, it } from 'vitest'
import { SilentPeers } from '../../src/membership/silent-peers.ts'
import { TestMesh } from '../helpers/mesh.ts'

/** Two peers, a and b; b's pub/sub does not send to a on their first connection. */
async function muffledPair (opts: { everyConnection?: boolean } = {}): Promise<TestMesh> {
  const mesh = new TestMesh()
  // Apart until they connect: the memory network delivers gossip between any two reachable peers.
  mesh.network.partition('a', 'b')
  mesh.add('a')
  mesh.add('b')
  await mesh.advance(100)
  mesh.network.heal('a', 'b')
  if (opts.everyConnection === true) {
    mesh.transport('a').onPeerEvent(e => { if (e.type === 'connect' && e.peer === 'b') mesh.network.muffle('b', 'a') })
  }
  mesh.network.link('a', 'b')
  mesh.network.muffle('b', 'a')
  await mesh.advance(500)
  return mesh
}

describe('silent peers', () => {
  it('redials a connected peer whose ads do not arrive, after which they do', async () => {
    const mesh = await muffledPair()
    // b hears a; a hears nothing from b.
    expect(mesh.view('b', 'a')?.state).toBe('alive')
    expect(mesh.view('a', 'b')).toBeUndefined()
    expect(mesh.peer('a').membership.redials).toBe(0)
    await mesh.advance(mesh.config.gossip.intervalMs * 5)
    expect(mesh.peer('a').membership.redials).toBe(1)
    expect(mesh.view('a', 'b')?.state).toBe('alive')
    // Heard from now on: no more redials.
    await mesh.advance(60_000)
    expect(mesh.peer('a').membership.redials).toBe(1)
    expect(mesh.peer('b').membership.redials).toBe(0)
    expect(mesh.view('b', 'a')?.state).toBe('alive')
  })

  it('waits twice as long after each redial for a peer that stays silent, up to a minute', async () => {
    const mesh = await muffledPair({ everyConnection: true })
    const at: number[] = []
    mesh.transport('b').onPeerEvent(e => { if (e.type === 'disconnect') at.push(mesh.clock.now()) })
    await mesh.advance(300_000)
    expect(mesh.view('a', 'b')).toBeUndefined()
    const gaps = at.slice(1).map((t, i) => t - at[i]!)
    // 3 s, 6 s, 12 s, 24 s, 48 s, then a minute each (plus the ad period the check runs on).
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThanOrEqual(gaps[i - 1]!)
    expect(gaps[0]!).toBeGreaterThanOrEqual(3000)
    expect(gaps.at(-1)).toBeGreaterThanOrEqual(60_000)
    expect(gaps.at(-1)).toBeLessThanOrEqual(62_000)
    expect(at.length).toBeLessThanOrEqual(10)
    expect(at.length).toBeGreaterThanOrEqual(6)
  })

  it('never redials peers it hears', async () => {
    const mesh = new TestMesh()
    for (const id of ['a', 'b', 'c']) mesh.add(id)
    mesh.network.link('a', 'b')
    mesh.network.link('b', 'c')
    await mesh.advance(120_000)
    for (const id of ['a', 'b', 'c']) expect(mesh.peer(id).membership.redials, id).toBe(0)
  })
})

describe('SilentPeers', () => {
  it('is due after its patience, doubles it per redial, and forgets a peer once heard', () => {
    const s = new SilentPeers(3000, 10_000)
    s.subscribed('p', 0)
    s.subscribed('p', 2000) // a second subscription does not restart the wait
    expect(s.due(2999)).toEqual([])
    expect(s.due(3000)).toEqual(['p'])
    expect(s.due(8999)).toEqual([])
    expect(s.due(9000)).toEqual(['p'])
    expect(s.due(19_000)).toEqual(['p']) // capped at 10 s
    s.disconnected('p')
    expect(s.due(100_000)).toEqual([])
    s.subscribed('p', 100_000)
    expect(s.due(109_999)).toEqual([]) // the patience is kept across the redial's reconnection
    s.heard('p')
    s.subscribed('p', 200_000)
    expect(s.due(203_000)).toEqual(['p']) // and forgotten once heard
  })
})
