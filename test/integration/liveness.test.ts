/**
 * Connection liveness (node/libp2p/liveness.ts) on two real libp2p nodes in
 * one process: only silence is pinged, the two ends take turns, and a peer
 * that stops answering has its connection closed and counts as already
 * probed.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { createMeshLibp2p, type MeshLibp2p } from '../../node/libp2p/create.ts'
import { Libp2pTransport } from '../../node/libp2p/transport.ts'
import { waitFor } from '../helpers/wait.ts'

const INTERVAL_MS = 200
const running: MeshLibp2p[] = []

async function node (): Promise<MeshLibp2p> {
  const n = await createMeshLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, swarmKey: null, pingIntervalMs: INTERVAL_MS, pingTimeoutMs: 300 })
  await n.start()
  running.push(n)
  return n
}

/** The yamux muxer of a node's only connection (what liveness pings on). */
function muxerOf (n: MeshLibp2p): { sendPing: (id: number, flag?: number) => void, handlePing: (header: { flag: number }) => void } {
  return (n.getConnections()[0] as unknown as { muxer: ReturnType<typeof muxerOf> }).muxer
}

/** Counts the ping requests (not the answers) a node sends. */
function countPingRequests (n: MeshLibp2p): () => number {
  const muxer = muxerOf(n)
  const send = muxer.sendPing.bind(muxer)
  let requests = 0
  muxer.sendPing = (id, flag) => { if (flag === undefined || flag === 1) requests++; send(id, flag) }
  return () => requests
}

afterEach(async () => {
  await Promise.all(running.splice(0).map(async n => { await n.stop() }))
})

describe('connection liveness', () => {
  it('pings an idle pair once per interval between them, not once per interval from each end', async () => {
    const [a, b] = [await node(), await node()]
    await a.dial(multiaddr(b.getMultiaddrs()[0]!.toString()))
    await waitFor('the connection on both ends', () => a.getConnections().length === 1 && b.getConnections().length === 1)
    const fromA = countPingRequests(a)
    const fromB = countPingRequests(b)
    const t0 = performance.now()
    await new Promise(resolve => setTimeout(resolve, 15 * INTERVAL_MS))
    const intervals = (performance.now() - t0) / INTERVAL_MS
    const total = fromA() + fromB()
    // About one request per interval for the pair; two ends pinging on their own
    // would send two. The margin allows turns lost to timer jitter on a busy machine.
    expect(total).toBeLessThanOrEqual(Math.ceil(1.5 * intervals) + 2)
    // Silence is still pinged: a dead link would go unnoticed otherwise.
    expect(total).toBeGreaterThanOrEqual(3)
  })

  it('closes the connection of a peer that stops answering, and reports that ping as the failed probe', async () => {
    const [a, b] = [await node(), await node()]
    await a.dial(multiaddr(b.getMultiaddrs()[0]!.toString()))
    await waitFor('the connection on both ends', () => a.getConnections().length === 1 && b.getConnections().length === 1)
    const transport = new Libp2pTransport(a, { debug () {}, info () {}, warn () {}, error () {} } as never)
    const bId = b.peerId.toString()
    expect(await transport.ping(bId, 300)).toBe(true)
    // b goes quiet as a frozen process would: it sends nothing, and answers no ping.
    const muxer = muxerOf(b)
    muxer.handlePing = () => {}
    muxer.sendPing = () => {}
    await waitFor('a to close its connection to b', () => a.getConnections(b.peerId).length === 0, { timeoutMs: 5000 })
    expect(a.services.liveness.unanswered(bId, 1000)).toBe(true)
    // The core's probe after the close answers from that ping. (A real probe would
    // dial b again and get an answer: b still answers libp2p's ping protocol.)
    expect(await transport.ping(bId, 1000)).toBe(false)
  })
})
