/**
 * The libp2p node behind a peer: TCP, noise, yamux, identify, ping, gossipsub,
 * optional pnet and mDNS. Settings that differ from libp2p's defaults, and why:
 *  - a connection silent for `pingIntervalMs` is pinged, with a timeout of
 *    `pingTimeoutMs`–3×, so a frozen peer's connection closes in about a second
 *    instead of libp2p's 5–15 s; with yamux ping frames (liveness.ts) instead
 *    of libp2p's connection monitor, which opens a stream per ping;
 *  - inboundConnectionThreshold 100: the default 5/s per IP breaks several
 *    peers on one host (§6);
 *  - gossipsub StrictSign (every peer must agree) and allowPublishToZeroTopicPeers,
 *    so a lone peer's ads do not throw; a fast message id (author + seqno, the
 *    same id StrictSign uses) so the copies of a message that every mesh
 *    neighbour forwards are dropped before their signature is checked, not after;
 *    no penalty for many peers on one IP address, and a quick restart's
 *    behaviour penalty forgiven (see below).
 */
import type { Registry } from 'prom-client'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { muxerLiveness, type Liveness } from './liveness.ts'
import { preSharedKey } from './pnet.ts'
import type { Quarantine } from './quarantine.ts'
import { RESOURCES_TOPIC } from '../../protocols/resources.ts'
import { AUCTION_TOPIC } from '../../protocols/auction.ts'

export type MeshServices = { identify: Identify, ping: Ping, pubsub: GossipSub, liveness: Liveness }
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
  /** libp2p's own metrics (`@libp2p/prometheus-metrics`), into this prom-client registry. */
  metricsRegistry?: Registry
  /** Peers refused for a while (quarantine.ts): the connection gater asks it. */
  quarantine?: Quarantine
  /** What this peer thinks of another as an executor, as a gossip score (0 for most; negative for the unreliable). */
  appScore?: (peer: string) => number
}

/**
 * Scores for Meshwork's topics. Only invalid messages count (P4, squared, its
 * counter halving every second): a peer sending invalid ads or calls at a few
 * per second sustained, or a burst of dozens, falls below the graylist
 * threshold. Time in mesh, first deliveries and mesh delivery rates (P1–P3)
 * are off: our topics are quiet by design (an ad a second, a call per round),
 * and gossipsub's delivery-rate penalty would punish honest peers for it.
 */
const TOPIC_SCORE = {
  topicWeight: 1,
  timeInMeshWeight: 0,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 1,
  firstMessageDeliveriesWeight: 0,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 1,
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 1,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: -1,
  invalidMessageDeliveriesDecay: 0.5
}

export async function createMeshLibp2p (init: MeshLibp2pInit): Promise<MeshLibp2p> {
  return await createLibp2p({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // A stream's window never outgrows what its paused read buffer may hold (4 MiB), so a
    // reader that pauses a fast sender (node/libp2p/frames.ts) is never reset for it; 2 MiB
    // in flight is 40 MB/s per stream at 50 ms round trips. Inbound streams per connection:
    // our protocols take 8 or 16 each, and nothing else needs hundreds.
    streamMuxers: [yamux({ maxInboundStreams: 256, streamOptions: { maxStreamWindowSize: 2 * 1024 * 1024 } })],
    ...(init.swarmKey !== null ? { connectionProtector: preSharedKey({ psk: init.swarmKey }) } : {}),
    connectionManager: { inboundConnectionThreshold: 100, maxIncomingPendingConnections: 64 },
    ...(init.quarantine !== undefined
      ? { connectionGater: { denyDialPeer: (id: PeerId) => init.quarantine!.isRefused(id), denyInboundEncryptedConnection: (id: PeerId) => init.quarantine!.isRefused(id), denyOutboundEncryptedConnection: (id: PeerId) => init.quarantine!.isRefused(id) } }
      : {}),
    connectionMonitor: { enabled: false },
    peerDiscovery: init.mdns ? [mdns({ interval: 5000 })] : [],
    ...(init.metricsRegistry !== undefined ? { metrics: (await import('@libp2p/prometheus-metrics')).prometheusMetrics({ registry: init.metricsRegistry }) } : {}),
    services: {
      identify: identify(),
      ping: ping(),
      liveness: muxerLiveness({ intervalMs: init.pingIntervalMs, minTimeoutMs: init.pingTimeoutMs, maxTimeoutMs: 3 * init.pingTimeoutMs }),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        heartbeatInterval: init.gossipHeartbeatMs ?? 1000,
        fastMsgIdFn: authorAndSeqno,
        // An RPC carries a few messages of at most 256 KiB (a call for bids): 1 MiB, not 4, and far
        // fewer items than gossipsub's 5000 of each kind.
        maxInboundDataLength: 1024 * 1024,
        decodeRpcLimits: { maxSubscriptions: 64, maxMessages: 256, maxIhaveMessageIDs: 5000, maxIwantMessageIDs: 5000, maxControlMessages: 256, maxIdontwantMessageIDs: 512, maxPeerInfos: 16 },
        // Gossipsub's default scoring penalises more than 10 peers behind one
        // IP, a Sybil defence for open networks. Several daemons per machine
        // (mesh demo, local meshes) and labs behind one NAT are normal here,
        // and with 14 or more peers on one address the penalty reached the
        // graylist threshold: every peer ignored every other and no ad got through.
        // A peer that restarts within a minute grafts during the backoff its
        // last run left, which costs it 2 behaviour-penalty points per topic (4
        // for our two); they decay within seconds while it stays, and are kept
        // while it is away. Stopped again before they decayed, it comes back at
        // -10 × 4² = -160 under the default threshold (0): below the graylist
        // threshold (-80), so the neighbour drops its subscription announcement
        // and never sends it an ad. 6 forgives one such restart and leaves two
        // above the graylist; membership's redial (SilentPeers) cures the rest.
        scoreParams: {
          IPColocationFactorWeight: 0,
          behaviourPenaltyThreshold: 6,
          topics: { [RESOURCES_TOPIC]: TOPIC_SCORE, [AUCTION_TOPIC]: TOPIC_SCORE },
          appSpecificScore: init.appScore ?? (() => 0),
          appSpecificWeight: 1
        }
      })
    }
  })
}

/**
 * The StrictSign message id (author, seqno) read from the raw message, before
 * its signature is verified. A forged copy with a seen id is dropped as a
 * duplicate, which is right: the genuine message was already delivered. One
 * without author or seqno gets an id nothing else has, and fails validation.
 */
function authorAndSeqno (msg: { from?: Uint8Array, seqno?: Uint8Array }): string {
  if (msg.from === undefined || msg.seqno === undefined) return `unsigned:${Math.random()}`
  return `${Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')}/${Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('base64')}`
}
