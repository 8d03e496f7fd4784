/**
 * Three real libp2p peers in one process on 127.0.0.1: they find each other
 * through a bootstrap seed, gossip their resources, drop bad gossip, and notice
 * a peer that vanishes without a goodbye.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { createPeer, type Peer } from '../../node/index.ts'
import { encodeMessage } from '../../protocols/codec.ts'
import { RESOURCES_TOPIC, encodeResourceAd } from '../../protocols/resources.ts'
import { waitFor } from '../helpers/wait.ts'

const quiet = pino({ level: 'silent' })
const running: Peer[] = []

async function startPeer (bootstrap: string[] = [], custom: Record<string, number> = {}): Promise<Peer> {
  const peer = await createPeer({
    config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, resources: { custom } },
    ephemeral: true,
    logger: quiet
  })
  await peer.start()
  running.push(peer)
  return peer
}

async function startMesh (): Promise<[Peer, Peer, Peer]> {
  const a = await startPeer([], { 'licence:matlab': 2 })
  const seed = a.addresses()
  const b = await startPeer(seed)
  const c = await startPeer(seed)
  return [a, b, c]
}

const aliveIds = (p: Peer): string[] => p.peers().filter(v => v.state === 'alive').map(v => v.id).sort()

afterEach(async () => {
  await Promise.all(running.splice(0).map(async p => { await p.stop({ goodbye: false }) }))
})

describe('membership over libp2p', () => {
  it('three peers each list all three, with resources, within 3 s', async () => {
    const peers = await startMesh()
    const all = peers.map(p => p.id).sort()
    await waitFor('every peer to list all three alive', () => peers.every(p => aliveIds(p).join() === all.join()), { timeoutMs: 3000 })

    // b and c only ever dialled a: they learned of each other through gossip and connect directly
    // (the dial starts when the first ad arrives, so it may still be under way when both list each other).
    const [a, b, c] = peers
    await waitFor('b and c to connect directly', () => b.libp2p.getConnections().some(conn => conn.remotePeer.toString() === c.id), { timeoutMs: 3000 })
    const aSeenByC = c.peers().find(v => v.id === a.id)
    expect(aSeenByC).toEqual(expect.objectContaining({
      state: 'alive',
      capacity: expect.objectContaining({ custom: { 'licence:matlab': 2 } })
    }))
    expect(aSeenByC?.capacity.cpu).toBeGreaterThan(0)
    expect(aSeenByC?.capacity.memoryMB).toBeGreaterThan(0)
    expect(aSeenByC?.addrs.some(x => x.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)
  })

  it('a peer stopped abruptly (no goodbye) is marked gone within suspectMs + goneMs', async () => {
    const [a, b, c] = await startMesh()
    await waitFor('mesh to form', () => [a, b, c].every(p => aliveIds(p).length === 3), { timeoutMs: 3000 })
    // In real life: the process is killed; its sockets close but it says nothing.
    await c.stop({ goodbye: false })
    const { suspectMs, goneMs } = a.config.failure
    for (const observer of [a, b]) {
      const seen = await waitFor(`${observer.id} to mark c gone`, () => {
        const v = observer.peers().find(p => p.id === c.id)
        return v?.state === 'gone' ? v : undefined
      }, { timeoutMs: suspectMs + goneMs })
      expect(seen.reason).toMatch(/ping failed|no ad/)
    }
  })

  it('a peer that stops cleanly is marked gone at once with the reason', async () => {
    const [a, b, c] = await startMesh()
    await waitFor('mesh to form', () => [a, b, c].every(p => aliveIds(p).length === 3), { timeoutMs: 3000 })
    await c.stop()
    const seen = await waitFor('a to see c leave', () => {
      const v = a.peers().find(p => p.id === c.id)
      return v?.state === 'gone' ? v : undefined
    })
    expect(seen.reason).toMatch(/clean shutdown|ping failed/)
  })

  it('drops and counts garbage and forged ads without disturbing the mesh', async () => {
    const [a, b, c] = await startMesh()
    await waitFor('mesh to form', () => [a, b, c].every(p => aliveIds(p).length === 3), { timeoutMs: 3000 })
    const pubsub = a.libp2p.services.pubsub
    // In real life: a buggy or hostile peer gossips bytes that are not an ad,
    await pubsub.publish(RESOURCES_TOPIC, new Uint8Array([0xc1, 0xff, 0x00, 0x13]))
    // a map of the wrong shape,
    await pubsub.publish(RESOURCES_TOPIC, encodeMessage({ v: 1, peerId: a.id, seq: 'many' }))
    // and an ad that claims to come from c (signed by a).
    const cAd = c.core.membership.lastAd
    if (cAd === undefined) throw new Error('c has sent no ad')
    await pubsub.publish(RESOURCES_TOPIC, encodeResourceAd({ ...cAd, seq: cAd.seq + 1000 }))

    await waitFor('b to count three drops', () => b.stats().dropped.total >= 3)
    expect(b.stats().dropped.byReason).toEqual(expect.objectContaining({ malformed: 1, schema: 1, signer: 1 }))
    // Nothing changed: all three still alive, c's advertised seq not hijacked.
    expect(aliveIds(b)).toHaveLength(3)
    const cAsSeenByB = b.core.membership.table.get(c.id)
    expect(cAsSeenByB?.ad.seq).toBeLessThan(cAd.seq + 1000)
  })
})
