/**
 * The libp2p node behind a peer: TCP, noise, yamux, identify, ping, gossipsub,
 * optional pnet and mDNS. Settings that differ from libp2p's defaults, and why:
 *  - connectionMonitor pings every `pingIntervalMs` (1 s) with a 1–3 s timeout,
 *    so a frozen peer's connection closes in about a second instead of libp2p's
 *    5–15 s (notes/libp2p-v3.md §8);
 *  - inboundConnectionThreshold 100: the default 5/s per IP breaks several
 *    peers on one host (§6);
 *  - gossipsub StrictSign (every peer must agree) and allowPublishToZeroTopicPeers,
 *    so a lone peer's ads do not throw.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { ping, type Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'

export type MeshServices = { identify: Identify, ping: Ping, pubsub: GossipSub }
export type MeshLibp2p = Libp2p<MeshServices>

export interface MeshLibp2pInit {
  privateKey: PrivateKey
  listen: string[]
  mdns: boolean
  /** Contents of a pnet swarm key file; null for an open mesh. */
  swarmKey: Uint8Array | null
  pingIntervalMs: number
  pingTimeoutMs: number
  gossipHeartbeatMs?: number
}

export async function createMeshLibp2p (init: MeshLibp2pInit): Promise<MeshLibp2p> {
  return await createLibp2p({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(init.swarmKey !== null ? { connectionProtector: preSharedKey({ psk: init.swarmKey }) } : {}),
    connectionManager: { inboundConnectionThreshold: 100, maxIncomingPendingConnections: 64 },
    connectionMonitor: {
      pingInterval: init.pingIntervalMs,
      pingTimeout: { minTimeout: init.pingTimeoutMs, maxTimeout: 3 * init.pingTimeoutMs }
    },
    peerDiscovery: init.mdns ? [mdns({ interval: 5000 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        heartbeatInterval: init.gossipHeartbeatMs ?? 1000
      })
    }
  })
}
