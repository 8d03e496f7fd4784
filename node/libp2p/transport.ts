/**
 * The core's `Transport` over libp2p. Topic handlers run as gossipsub topic
 * validators: the handler decodes, checks and applies a message once, and its
 * verdict decides whether gossipsub forwards it (accept), drops it quietly
 * (ignore: stale) or drops it and penalises the forwarder (reject: bad or forged).
 */
import type { SubscriptionChangeData, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../../src/logger.ts'
import type { InboundLimits, PeerEvent, TopicHandler, Transport, Verdict } from '../../src/transport.ts'
import { Channels } from './channels.ts'
import { FrameBudget } from './frames.ts'
import { settleWithin } from './liveness.ts'
import type { MeshLibp2p } from './create.ts'

/** Dials started from gossip give up after this long (a wrong pnet key can hang a dial for 6 s). */
const DIAL_TIMEOUT_MS = 5000
/**
 * Inbound frames a peer may have in flight at once, and all peers together:
 * one task frame at its 16 MiB cap and room to spare per peer; past the total,
 * senders wait (their streams paused) until frames are handled.
 */
export const FRAME_BUDGET = { perPeerBytes: 24 * 1024 * 1024, totalBytes: 128 * 1024 * 1024 }

export interface Libp2pTransportOptions {
  /**
   * Called before a topic message is handed to its handlers; a promise returned
   * holds the message (and gossipsub's forwarding of it) until it settles. The
   * peer uses it to load what handling needs on first use (HiGHS, for calls for bids).
   */
  beforeDeliver?: (topic: string) => Promise<void> | undefined
}

export class Libp2pTransport implements Transport {
  readonly self: string
  readonly #node: MeshLibp2p
  readonly #log: Logger
  readonly #topics = new Map<string, Set<TopicHandler>>()
  readonly #beforeDeliver: Libp2pTransportOptions['beforeDeliver']
  readonly channels: Channels
  /**
   * Our own addresses, for every ad. libp2p derives them afresh on each call
   * (for a wildcard listener, from the machine's interfaces); they change only
   * when libp2p says so.
   */
  #addresses: string[] | undefined

  constructor (node: MeshLibp2p, log: Logger, options: Libp2pTransportOptions = {}) {
    this.#node = node
    this.#log = log
    this.#beforeDeliver = options.beforeDeliver
    this.self = node.peerId.toString()
    this.channels = new Channels(node, log, new FrameBudget(FRAME_BUDGET.perPeerBytes, FRAME_BUDGET.totalBytes))
    const stale = (): void => { this.#addresses = undefined }
    node.addEventListener('self:peer:update', stale)
    node.addEventListener('transport:listening', stale)
    node.addEventListener('transport:close', stale)
  }

  send = async (peer: string, protocol: string, data: Uint8Array): Promise<boolean> => await this.channels.send(peer, protocol, data)

  handle = (protocol: string, handler: (from: string, data: Uint8Array) => void, limits: InboundLimits): (() => void) => {
    const guarded = (from: string, data: Uint8Array): void => {
      try { handler(from, data) } catch (err) { this.#log.error({ protocol, err }, 'protocol handler threw') }
    }
    this.channels.handle(protocol, guarded, limits).catch((err: Error) => { this.#log.error({ protocol, err: err.message }, 'cannot register protocol handler') })
    return () => { void this.channels.unhandle(protocol).catch(() => {}) }
  }

  addresses = (): string[] => {
    this.#addresses ??= this.#node.getMultiaddrs().map(String)
    return this.#addresses
  }

  publish = async (topic: string, data: Uint8Array): Promise<void> => {
    try {
      await this.#node.services.pubsub.publish(topic, data)
    } catch (err) {
      this.#log.debug({ topic, err: (err as Error).message }, 'publish failed')
    }
  }

  subscribe = (topic: string, handler: TopicHandler): (() => void) => {
    const pubsub = this.#node.services.pubsub
    let handlers = this.#topics.get(topic)
    if (handlers === undefined) {
      handlers = new Set()
      this.#topics.set(topic, handlers)
      const set = handlers
      pubsub.topicValidators.set(topic, (_forwarder, msg) => {
        // Unsigned messages cannot be attributed to anyone; every Meshwork peer signs.
        if (msg.type !== 'signed') return 'reject' as TopicValidatorResult
        const message = { topic, from: msg.from.toString(), data: msg.data }
        const wait = this.#beforeDeliver?.(topic)
        if (wait === undefined) return this.#dispatch(set, message) as TopicValidatorResult
        const deliver = (): TopicValidatorResult => this.#dispatch(set, message) as TopicValidatorResult
        return wait.then(deliver, deliver)
      })
      pubsub.subscribe(topic)
    }
    handlers.add(handler)
    return () => {
      handlers.delete(handler)
      if (handlers.size === 0) {
        this.#topics.delete(topic)
        pubsub.topicValidators.delete(topic)
        // After libp2p stopped, gossipsub throws on unsubscribe; nothing is subscribed then anyway.
        if (this.#node.status === 'started') pubsub.unsubscribe(topic)
      }
    }
  }

  onPeerEvent = (handler: (e: PeerEvent) => void): (() => void) => {
    const onConnect = (e: CustomEvent<PeerId>): void => { handler({ type: 'connect', peer: e.detail.toString() }) }
    const onDisconnect = (e: CustomEvent<PeerId>): void => { handler({ type: 'disconnect', peer: e.detail.toString() }) }
    const onSubscription = (e: CustomEvent<SubscriptionChangeData>): void => {
      for (const s of e.detail.subscriptions) {
        if (s.subscribe) handler({ type: 'subscribed', peer: e.detail.peerId.toString(), topic: s.topic })
      }
    }
    const pubsub = this.#node.services.pubsub
    this.#node.addEventListener('peer:connect', onConnect)
    this.#node.addEventListener('peer:disconnect', onDisconnect)
    pubsub.addEventListener('subscription-change', onSubscription)
    return () => {
      this.#node.removeEventListener('peer:connect', onConnect)
      this.#node.removeEventListener('peer:disconnect', onDisconnect)
      pubsub.removeEventListener('subscription-change', onSubscription)
    }
  }

  isConnected = (peer: string): boolean => {
    const id = parsePeerId(peer)
    return id !== undefined && this.#node.getConnections(id).length > 0
  }

  ping = async (peer: string, timeoutMs: number): Promise<boolean> => {
    const id = parsePeerId(peer)
    if (id === undefined) return false
    // The liveness service closed its connection because a ping went unanswered
    // just now: that was this probe, already failed. (A frozen peer's kernel still
    // accepts a new connection, so probing again would only wait out the timeout.)
    if (this.#node.services.liveness.unanswered(peer, timeoutMs)) return false
    // `settleWithin` decides, after reading what arrived while this process
    // was stalled, whether the answer was in time; the ping stops after that.
    const hardStop = new AbortController()
    try {
      await settleWithin(this.#node.services.ping.ping(id, { signal: hardStop.signal }), timeoutMs)
      return true
    } catch {
      return false
    } finally {
      hardStop.abort()
    }
  }

  connect = (peer: string, addrs: string[]): void => {
    const id = parsePeerId(peer)
    if (id === undefined || peer === this.self) return
    const valid = addrs.map(parseMultiaddr).filter((a): a is Multiaddr => a !== undefined)
    void (async () => {
      try {
        if (valid.length > 0) await this.#node.peerStore.merge(id, { multiaddrs: valid })
        await this.#node.dial(id, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      } catch (err) {
        this.#log.debug({ peer, err: (err as Error).message }, 'dial to gossiped peer failed')
      }
    })()
  }

  redial = (peer: string): void => {
    const id = parsePeerId(peer)
    if (id === undefined || peer === this.self) return
    void (async () => {
      try {
        await this.#node.hangUp(id)
        await this.#node.dial(id, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      } catch (err) {
        this.#log.debug({ peer, err: (err as Error).message }, 'redial failed')
      }
    })()
  }

  #dispatch (handlers: Set<TopicHandler>, msg: { topic: string, from: string, data: Uint8Array }): Verdict {
    let verdict: Verdict = 'ignore'
    for (const h of handlers) {
      let v: Verdict
      try {
        v = h(msg)
      } catch (err) {
        // Handlers must not throw; if one does, treat the message as bad, never the peer as broken.
        this.#log.error({ topic: msg.topic, err }, 'topic handler threw')
        v = 'reject'
      }
      if (v === 'reject') return 'reject'
      if (v === 'accept') verdict = 'accept'
    }
    return verdict
  }
}

/** Parsed peer ids: every ad asks whether its sender is connected, and parsing costs a base58 decode. */
const peerIds = new Map<string, PeerId>()

export function parsePeerId (s: string): PeerId | undefined {
  let id = peerIds.get(s)
  if (id !== undefined) return id
  try { id = peerIdFromString(s) } catch { return undefined }
  // Bounded: peers come and go; past this many, start over.
  if (peerIds.size >= 10_000) peerIds.clear()
  peerIds.set(s, id)
  return id
}

export function parseMultiaddr (s: string): Multiaddr | undefined {
  try { return multiaddr(s) } catch { return undefined }
}
