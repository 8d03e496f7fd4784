import { describe, it, expect } from 'vitest'
import { RESOURCES_TOPIC, decodeResourceAd, encodeResourceAd, type ResourceAd } from '../../protocols/resources.ts'
import { isSignificantChange } from '../../src/resources/capacity.ts'
import { fakeProbe, lineOfThree, TestMesh } from '../helpers/mesh.ts'
import { makeAd } from '../helpers/ads.ts'

const IDS = ['a', 'b', 'c']

/** The ads a peer has published so far, decoded. */
function sentAds (mesh: TestMesh, id: string): ResourceAd[] {
  return mesh.transport(id).sent
    .filter(m => m.topic === RESOURCES_TOPIC)
    .map(m => {
      const d = decodeResourceAd(m.data, id)
      if (!d.ok) throw new Error(`peer ${id} sent a bad ad: ${d.detail}`)
      return d.value
    })
}

describe('Membership: forming a mesh', () => {
  it('every peer of a line a–b–c lists all three as alive with their capacity', async () => {
    const mesh = await lineOfThree()
    for (const observer of IDS) {
      const views = mesh.peer(observer).peers()
      expect(views.map(v => v.id)).toEqual([observer, ...IDS.filter(id => id !== observer)])
      for (const id of IDS) {
        expect(views.find(v => v.id === id)).toEqual(expect.objectContaining({
          state: 'alive',
          self: id === observer,
          capacity: { cpu: 4, memoryMB: 8192 - 512, gpu: 0, custom: {} },
          free: { cpu: 4, memoryMB: 8192 - 512, gpu: 0, custom: {} },
          cpuModel: 'test',
          speed: 1,
          addrs: [`/memory/${id}`],
          epoch: mesh.peer(id).membership.epoch
        }))
      }
    }
  })

  it('dials peers learned from gossip: a and c end up connected directly', async () => {
    const mesh = await lineOfThree()
    expect(mesh.network.isLinked('a', 'c')).toBe(true)
    expect(mesh.transport('a').isConnected('c')).toBe(true)
  })

  it('publishes one ad per gossip interval with increasing seq', async () => {
    const mesh = await lineOfThree()
    const before = sentAds(mesh, 'a')
    await mesh.advance(mesh.config.gossip.intervalMs * 3)
    const ads = sentAds(mesh, 'a')
    expect(ads.length - before.length).toBe(3)
    const seqs = ads.map(ad => ad.seq)
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y))
    expect(new Set(seqs).size).toBe(seqs.length)
  })

  it('keeps healthy peers alive indefinitely (no spurious suspicion)', async () => {
    const mesh = await lineOfThree()
    const from = mesh.clock.now()
    await mesh.advance(30_000)
    expect(mesh.changes.filter(c => c.at >= from)).toEqual([])
  })
})

describe('Membership: failures', () => {
  it('marks a crashed peer gone within pingTimeout, by the closed connection and a failed ping', async () => {
    const mesh = await lineOfThree()
    const crashAt = mesh.clock.now()
    mesh.network.crash('c')
    await mesh.peer('c').stop({ goodbye: false }) // the process is dead: its timers stop too
    await mesh.advance(mesh.config.failure.pingTimeoutMs + 100)
    for (const observer of ['a', 'b']) {
      expect(mesh.view(observer, 'c')).toEqual(expect.objectContaining({ state: 'gone', reason: 'connection closed and ping failed' }))
      const [gone, ...rest] = mesh.changesAbout(observer, 'c', crashAt)
      expect(rest).toEqual([])
      expect(gone).toEqual(expect.objectContaining({ from: 'alive', to: 'gone' }))
      expect(gone!.at - crashAt).toBeLessThanOrEqual(mesh.config.failure.pingTimeoutMs + 50)
    }
    // a and b are unaffected.
    expect(mesh.view('a', 'b')?.state).toBe('alive')
  })

  it('marks a frozen peer suspect then gone within suspectMs + goneMs, and alive again after it thaws', async () => {
    const mesh = await lineOfThree()
    const { suspectMs, goneMs } = mesh.config.failure
    await mesh.advance(500) // mid-way between two ads
    const frozenAt = mesh.clock.now()
    mesh.network.freeze('c')
    await mesh.advance(suspectMs + goneMs)
    for (const observer of ['a', 'b']) {
      const seen = mesh.changesAbout(observer, 'c', frozenAt)
      expect(seen.map(c => c.to)).toEqual(['suspect', 'gone'])
      expect(seen[1]!.at - frozenAt).toBeLessThanOrEqual(suspectMs + goneMs)
      expect(mesh.view(observer, 'c')?.state).toBe('gone')
    }

    const thawedAt = mesh.clock.now()
    mesh.network.thaw('c')
    await mesh.advance(2 * mesh.config.gossip.intervalMs)
    for (const observer of ['a', 'b']) {
      expect(mesh.changesAbout(observer, 'c', thawedAt)).toEqual([expect.objectContaining({ from: 'gone', to: 'alive' })])
      expect(mesh.view(observer, 'c')?.state).toBe('alive')
    }
    // And c, which saw everyone fall silent, sees them again.
    expect(mesh.view('c', 'a')?.state).toBe('alive')
    expect(mesh.view('c', 'b')?.state).toBe('alive')
  })

  it('marks a silent peer gone by ad timeout alone when its connections stay open', async () => {
    // A connection monitor slower than the ad timeouts: only the missing ads reveal the frozen peer.
    const mesh = await lineOfThree({ network: { monitorMs: 60_000 } })
    const { suspectMs, goneMs } = mesh.config.failure
    await mesh.advance(500)
    const frozenAt = mesh.clock.now()
    mesh.network.freeze('c')
    await mesh.advance(suspectMs + goneMs)
    for (const observer of ['a', 'b']) {
      const seen = mesh.changesAbout(observer, 'c', frozenAt)
      expect(seen).toEqual([
        expect.objectContaining({ to: 'suspect', reason: expect.stringMatching(/^no ad for \d+ ms$/) }),
        expect.objectContaining({ to: 'gone', reason: expect.stringMatching(/^no ad for \d+ ms$/) })
      ])
      expect(seen[0]!.at - frozenAt).toBeLessThanOrEqual(suspectMs)
      expect(seen[1]!.at - frozenAt).toBeLessThanOrEqual(suspectMs + goneMs)
    }
  })

  it('marks a cleanly stopped peer gone at once, as a clean shutdown', async () => {
    const mesh = await lineOfThree()
    const stopAt = mesh.clock.now()
    await mesh.peer('c').stop()
    await mesh.advance(20)
    for (const observer of ['a', 'b']) {
      expect(mesh.view(observer, 'c')).toEqual(expect.objectContaining({ state: 'gone', reason: expect.stringMatching(/clean shutdown/) }))
      expect(mesh.changesAbout(observer, 'c', stopAt)).toEqual([expect.objectContaining({ from: 'alive', to: 'gone' })])
    }
    expect(sentAds(mesh, 'c').at(-1)).toEqual(expect.objectContaining({ leaving: true, free: { cpu: 0, memoryMB: 0, gpu: 0, custom: {} } }))
  })

  it('shows a restarted peer (same id, new epoch) alive again at once, despite the crash quarantine', async () => {
    const mesh = await lineOfThree()
    const oldEpoch = mesh.peer('b').membership.epoch
    mesh.network.crash('b')
    await mesh.peer('b').stop({ goodbye: false })
    await mesh.advance(200)
    expect(mesh.view('a', 'b')?.state).toBe('gone')
    expect(mesh.view('c', 'b')?.state).toBe('gone')

    const restartedAt = mesh.clock.now()
    const b2 = mesh.add('b')
    expect(b2.membership.epoch).toBeGreaterThan(oldEpoch)
    await mesh.advance(20) // well inside the quarantine (one gossip interval)
    for (const observer of ['a', 'c']) {
      expect(mesh.view(observer, 'b')).toEqual(expect.objectContaining({ state: 'alive', epoch: b2.membership.epoch, reason: 'ad received (restarted)' }))
      expect(mesh.changesAbout(observer, 'b', restartedAt)).toEqual([expect.objectContaining({ from: 'gone', to: 'alive' })])
    }
    await mesh.advance(2_000)
    expect(b2.peers().map(v => [v.id, v.state])).toEqual([['b', 'alive'], ['a', 'alive'], ['c', 'alive']])
    expect(mesh.network.isLinked('a', 'b') && mesh.network.isLinked('b', 'c')).toBe(true)
  })

  // Fails today: MemoryTransport.publish checks the status of its id, not whether it is still the
  // live transport, so the dead process's transport publishes again once 'b' restarts.
  it('a crashed transport stays silent even after a new peer reuses its id (MemoryNetwork crash emulation)', async () => {
    // A killed process cannot send anything, ever. The restarted process has a new transport.
    const mesh = await lineOfThree()
    const oldTransport = mesh.transport('b')
    mesh.network.crash('b') // the old MeshPeer's timers keep running, as a simulator would leave them
    await mesh.advance(200)
    mesh.add('b')
    const sentBefore = oldTransport.sent.length
    const ignoredBefore = mesh.network.verdicts.ignore
    await mesh.advance(3 * mesh.config.gossip.intervalMs)
    expect(oldTransport.sent.length).toBe(sentBefore)
    expect(mesh.network.verdicts.ignore).toBe(ignoredBefore)
  })
})

describe('Membership: validation of received ads', () => {
  it('rejects an ad published by one peer claiming to be another, and counts it as signer', async () => {
    const mesh = await lineOfThree()
    const rejectedBefore = mesh.network.verdicts.reject
    const forged = makeAd({ peerId: 'b', epoch: Number.MAX_SAFE_INTEGER, seq: 1, capacity: { cpu: 1000, memoryMB: 1, gpu: 0, custom: {} }, free: { cpu: 1000, memoryMB: 1, gpu: 0, custom: {} } })
    await mesh.transport('a').publish(RESOURCES_TOPIC, encodeResourceAd(forged))
    await mesh.advance(10)
    // b and c both received it from signer a, and both rejected it.
    expect(mesh.network.verdicts.reject - rejectedBefore).toBe(2)
    for (const id of ['b', 'c']) {
      expect(mesh.peer(id).stats().dropped).toEqual({ total: 1, byReason: expect.objectContaining({ signer: 1, malformed: 0 }) })
    }
    // c's view of b is untouched.
    expect(mesh.view('c', 'b')).toEqual(expect.objectContaining({ state: 'alive', capacity: expect.objectContaining({ cpu: 4 }) }))
  })

  it('rejects a garbage payload and counts it as malformed', async () => {
    const mesh = await lineOfThree()
    const rejectedBefore = mesh.network.verdicts.reject
    await mesh.transport('c').publish(RESOURCES_TOPIC, Uint8Array.of(0x85, 0xa1, 0x76)) // a 5-entry map cut short
    await mesh.advance(10)
    expect(mesh.network.verdicts.reject - rejectedBefore).toBe(2)
    for (const id of ['a', 'b']) {
      expect(mesh.peer(id).stats().dropped.byReason).toEqual(expect.objectContaining({ malformed: 1, signer: 0 }))
    }
    expect(mesh.view('a', 'c')?.state).toBe('alive')
  })
})

describe('Membership: resourcesChanged', () => {
  it('publishes an early ad when free capacity changes markedly', async () => {
    const mesh = await lineOfThree()
    await mesh.advance(300) // the last periodic ad is 300 ms old; the next is 700 ms away
    const a = mesh.peer('a')
    const sentBefore = mesh.transport('a').sent.length
    a.setFree({ ...a.capacity, cpu: 1 })
    await mesh.advance(10)
    expect(mesh.transport('a').sent.length).toBe(sentBefore + 1)
    expect(sentAds(mesh, 'a').at(-1)?.free.cpu).toBe(1)
    await mesh.advance(20)
    expect(mesh.view('b', 'a')?.free.cpu).toBe(1)
  })

  it('does not send an early ad in the same instant as the previous one, nor wait for the period', async () => {
    const mesh = await lineOfThree() // a periodic ad was sent just now
    const a = mesh.peer('a')
    const periodicAt = sentAds(mesh, 'a').at(-1)!.time
    expect(periodicAt).toBe(mesh.clock.now())
    a.setFree({ ...a.capacity, cpu: 0 })
    a.setFree({ ...a.capacity, cpu: 1 }) // a second change coalesces into the same early ad
    await mesh.advance(mesh.config.gossip.intervalMs - 10)
    const early = sentAds(mesh, 'a').filter(ad => ad.time > periodicAt)
    expect(early).toEqual([expect.objectContaining({ free: expect.objectContaining({ cpu: 1 }) })])
    expect(early[0]!.time).toBeGreaterThan(periodicAt)
  })

  // Fails today: isSignificantChange treats any resource with capacity 0 (here: gpu, no GPUs) as
  // always "moved", so every setFree publishes early. See src/resources/capacity.ts.
  it('does not publish early for a tiny change (machine without GPUs)', async () => {
    const mesh = await lineOfThree()
    await mesh.advance(300)
    const a = mesh.peer('a')
    const sentBefore = mesh.transport('a').sent.length
    a.setFree({ ...a.capacity, memoryMB: a.capacity.memoryMB - 1 }) // 1 MB of 7680
    await mesh.advance(600) // still before the next periodic ad
    expect(mesh.transport('a').sent.length).toBe(sentBefore)
  })

  it('does not publish early for a tiny change on a machine with a GPU', async () => {
    const mesh = new TestMesh()
    const a = mesh.add('a', fakeProbe({ gpus: [{ model: 'gpu', memoryMB: 8192 }] }))
    await mesh.advance(2_300)
    const sentBefore = mesh.transport('a').sent.length
    a.setFree({ ...a.capacity, memoryMB: a.capacity.memoryMB - 1 })
    await mesh.advance(600)
    expect(mesh.transport('a').sent.length).toBe(sentBefore)
  })

  // Fails today for the same reason as the tiny-change test above.
  it('isSignificantChange: no change at all is never significant, even for a resource of capacity 0', () => {
    const capacity = { cpu: 4, memoryMB: 7680, gpu: 0, custom: { slots: 0 } }
    expect(isSignificantChange(capacity, structuredClone(capacity), capacity)).toBe(false)
    expect(isSignificantChange({ ...capacity, gpu: 1 }, capacity, { ...capacity, gpu: 1 })).toBe(true) // 1 of 1 GPU
  })
})
