/**
 * The network as the core sees it: signed pub/sub topics, peer connection
 * events, a liveness probe and a way to ask for a connection. `node/` implements
 * it over libp2p (`Libp2pTransport`); tests and the simulator use `MemoryNetwork`.
 *
 * Peer ids are strings (libp2p's base58 form); the core never handles PeerId objects.
 */

/** What a topic handler says about a message, as gossipsub's validators do. */
export type Verdict =
  /** Valid and new: deliver and forward. */
  | 'accept'
  /** Valid but not useful (stale, duplicate): do not forward, do not penalise. */
  | 'ignore'
  /** Invalid or forged: do not forward, count against the forwarder. */
  | 'reject'

export interface TopicMessage {
  topic: string
  /** The peer that signed the message (its author), not the neighbour that forwarded it. */
  from: string
  data: Uint8Array
}

/** Must not throw and must not block: called on the receive path. */
export type TopicHandler = (msg: TopicMessage) => Verdict

export type PeerEvent =
  | { type: 'connect' | 'disconnect', peer: string }
  /** A connected peer subscribed to `topic` (it can now receive what we publish there). */
  | { type: 'subscribed', peer: string, topic: string }

/**
 * What a direct protocol's inbound messages may be. The transport refuses a
 * frame over `maxBytes` before buffering it (and, over libp2p, one that
 * arrives too slowly or over the sender's memory share), and tells `onBad`.
 */
export interface InboundLimits {
  maxBytes: number
  /** A frame was refused before it reached the handler: `problem` is oversize, malformed, slow or budget. */
  onBad?: (peer: string, problem: string, detail: string) => void
}

export interface Transport {
  /** This peer's id. */
  readonly self: string
  /** This peer's dialable addresses, as multiaddr strings. */
  addresses: () => string[]
  /** Publish to a topic. Best effort: resolves once handed to the network; failures are logged, never thrown. */
  publish: (topic: string, data: Uint8Array) => Promise<void>
  /** Receive a topic's messages from other peers (not our own). Returns an unsubscribe function. */
  subscribe: (topic: string, handler: TopicHandler) => () => void
  /** Connection opened / last connection closed / a peer subscribed to a topic. Returns an unsubscribe function. */
  onPeerEvent: (handler: (event: PeerEvent) => void) => () => void
  /** Is there an open connection to `peer` right now? */
  isConnected: (peer: string) => boolean
  /** Resolve true when `peer` answers a ping within `timeoutMs`, false otherwise. Never rejects. */
  ping: (peer: string, timeoutMs: number) => Promise<boolean>
  /** Try to open a connection to `peer` at `addrs` (best effort, never rejects). */
  connect: (peer: string, addrs: string[]) => void
  /**
   * Close every connection to `peer` and dial it again at the addresses
   * already known (best effort, never rejects). A new connection makes each
   * side announce its subscriptions again.
   */
  redial: (peer: string) => void
  /**
   * Send one message to `peer` on a direct protocol (`/meshwork/task/1.0.0`…),
   * over one long-lived stream per peer and protocol, in order. Resolves false
   * when it could not be handed to the stream; never rejects.
   */
  send: (peer: string, protocol: string, data: Uint8Array) => Promise<boolean>
  /** Receive a direct protocol's messages, each within `limits`. The handler must not throw or block. Returns an unsubscribe function. */
  handle: (protocol: string, handler: (from: string, data: Uint8Array) => void, limits: InboundLimits) => () => void
}
