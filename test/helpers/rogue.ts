/**
 * A rogue peer for adversarial tests: Meshwork's own libp2p stack (the same
 * transport, pnet protector, gossipsub settings and message encoders as a
 * daemon) holding the swarm key, driven by a script instead of the core. It
 * can do anything a keyed peer on the network can do: advertise capacity it
 * does not have, answer calls for bids with any ETA, take awards and never
 * deliver, heartbeat forever, lie in results, forge awards, flood gossip, and
 * open streams that never finish their frames.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { AUCTION_TOPIC, BID_PROTOCOL, decodeAuctionMessage, decodeBid, encodeAuctionMessage, encodeBid, type AuctionMessage, type Bid, type CallForBids } from '../../protocols/auction.ts'
import { RESOURCE_AD_VERSION, RESOURCES_TOPIC, encodeResourceAd, type ResourceAd } from '../../protocols/resources.ts'
import { TASK_PROTOCOL, decodeTaskMessage, encodeTaskMessage, taskMsg, type AwardMsg, type TaskMessage, type TaskResult } from '../../protocols/task.ts'
import { Channels } from '../../node/libp2p/channels.ts'
import { createMeshLibp2p, type MeshLibp2p } from '../../node/libp2p/create.ts'
import { FrameBudget } from '../../node/libp2p/frames.ts'
import { coreLogger } from '../../node/logger.ts'

export interface RogueClaim {
  cpu?: number
  memoryMB?: number
  speed?: number
  handlers?: string[]
  commands?: string[]
}

export class Rogue {
  readonly node: MeshLibp2p
  readonly id: string
  readonly channels: Channels
  /** Calls for bids heard on gossip, in order. */
  readonly calls: CallForBids[] = []
  readonly #callHandlers = new Set<(c: CallForBids) => void>()
  readonly #taskHandlers = new Set<(from: string, msg: TaskMessage) => void>()
  readonly #bidHandlers = new Set<(from: string, bid: Bid) => void>()
  #adTimer: NodeJS.Timeout | undefined
  #seq = 0
  readonly #epoch = Date.now()

  private constructor (node: MeshLibp2p) {
    this.node = node
    this.id = node.peerId.toString()
    const log = coreLogger(pino({ level: 'silent' }))
    this.channels = new Channels(node, log, new FrameBudget(64 << 20, 256 << 20))
  }

  static async start (opts: { swarmKey: Uint8Array | null, dial: string[] }): Promise<Rogue> {
    const node = await createMeshLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, swarmKey: opts.swarmKey, pingIntervalMs: 500, pingTimeoutMs: 750 })
    await node.start()
    const rogue = new Rogue(node)
    const pubsub = node.services.pubsub
    // Accept everything on both topics: this peer forwards and hears all of it.
    pubsub.topicValidators.set(AUCTION_TOPIC, (_from, msg) => {
      if (msg.type === 'signed') {
        const d = decodeAuctionMessage(msg.data, msg.from.toString())
        if (d.ok && d.value.type === 'cfb') rogue.#heard(d.value)
      }
      return 'accept' as never
    })
    pubsub.topicValidators.set(RESOURCES_TOPIC, () => 'accept' as never)
    pubsub.subscribe(AUCTION_TOPIC)
    pubsub.subscribe(RESOURCES_TOPIC)
    await rogue.channels.handle(TASK_PROTOCOL, (from, data) => {
      const d = decodeTaskMessage(data)
      if (d.ok) for (const h of rogue.#taskHandlers) h(from, d.value)
    }, { maxBytes: 16 << 20 })
    await rogue.channels.handle(BID_PROTOCOL, (from, data) => {
      const d = decodeBid(data)
      if (d.ok) for (const h of rogue.#bidHandlers) h(from, d.value)
    }, { maxBytes: 64 << 10 })
    await Promise.all(opts.dial.map(async a => { await node.dial(multiaddr(a)).catch(() => {}) }))
    return rogue
  }

  #heard (c: CallForBids): void {
    this.calls.push(c)
    for (const h of this.#callHandlers) h(c)
  }

  onCall (h: (c: CallForBids) => void): void { this.#callHandlers.add(h) }
  onTask (h: (from: string, msg: TaskMessage) => void): void { this.#taskHandlers.add(h) }
  onBid (h: (from: string, bid: Bid) => void): void { this.#bidHandlers.add(h) }

  /** Advertise, every second from now, an ad claiming this capacity and these abilities. */
  advertise (claim: RogueClaim = {}): void {
    const publish = (): void => { void this.publish(RESOURCES_TOPIC, encodeResourceAd(this.ad(claim))) }
    publish()
    this.#adTimer = setInterval(publish, 1000)
  }

  ad (claim: RogueClaim): ResourceAd {
    const res = { cpu: claim.cpu ?? 8, memoryMB: claim.memoryMB ?? 16_384, gpu: 0, custom: {} }
    return {
      v: RESOURCE_AD_VERSION,
      peerId: this.id,
      epoch: this.#epoch,
      seq: ++this.#seq,
      time: Date.now(),
      addrs: this.node.getMultiaddrs().map(String),
      capacity: res,
      free: res,
      cpuModel: 'rogue',
      gpus: [],
      load: { avg1: 0, cpuBusy: 0, eventLoopDelayMs: 0 },
      tasks: { running: 0, queued: 0 },
      speed: claim.speed ?? 1,
      caps: { kinds: ['handler', 'exec'], handlers: claim.handlers ?? [], commands: claim.commands ?? [], tags: [] }
    }
  }

  async publish (topic: string, data: Uint8Array): Promise<number> {
    try {
      const { recipients } = await this.node.services.pubsub.publish(topic, data)
      return recipients.length
    } catch {
      return 0
    }
  }

  async publishAuction (msg: AuctionMessage): Promise<number> { return await this.publish(AUCTION_TOPIC, encodeAuctionMessage(msg)) }
  async sendTask (peer: string, msg: TaskMessage): Promise<boolean> { return await this.channels.send(peer, TASK_PROTOCOL, encodeTaskMessage(msg)) }
  async sendBid (peer: string, bid: Bid): Promise<boolean> { return await this.channels.send(peer, BID_PROTOCOL, encodeBid(bid)) }

  /** A new raw stream to `peer` on `protocol`, for frames no honest peer would send. */
  async rawStream (peer: string, protocol: string): Promise<Stream> {
    const id = this.node.getConnections().find(c => c.remotePeer.toString() === peer)?.remotePeer
    if (id === undefined) throw new Error(`rogue is not connected to ${peer}`)
    return await this.node.dialProtocol(id, protocol)
  }

  /** Does `peer` hear what this rogue publishes on the auction topic (its subscription is known here)? */
  hears (peer: string): boolean {
    return this.node.services.pubsub.getSubscribers(AUCTION_TOPIC).some(p => p.toString() === peer)
  }

  isConnectedTo (peer: string): boolean {
    return this.node.getConnections().some(c => c.remotePeer.toString() === peer && c.status === 'open')
  }

  async stop (): Promise<void> {
    if (this.#adTimer !== undefined) clearInterval(this.#adTimer)
    await this.channels.closeAll()
    await this.node.stop()
  }
}

/** Bid for every task of every call from `origins` (or any origin) at `etaMs`, start-now. */
export function bidForEverything (rogue: Rogue, etaMs = 0, origins?: string[]): void {
  rogue.onCall(c => {
    if (origins !== undefined && !origins.includes(c.origin)) return
    void rogue.sendBid(c.origin, { v: 1, jobId: c.jobId, round: c.round, load: 0, validMs: 500, bids: c.tasks.map(t => ({ taskId: t.id, attempt: t.attempt, etaMs })) })
  })
}

/** Accept every award; then `after(award)` decides what else to do. */
export function acceptAwards (rogue: Rogue, after: (origin: string, award: AwardMsg) => void = () => {}): void {
  rogue.onTask((from, msg) => {
    if (msg.type !== 'award') return
    void rogue.sendTask(from, taskMsg.accept(msg.jobId, msg.tasks.map(t => ({ taskId: t.taskId, attempt: t.attempt })), []))
    after(from, msg)
  })
}

/** Report every awarded attempt running, every 500 ms, forever: a lease that never lapses on work that never ends. */
export function heartbeatForever (rogue: Rogue): () => void {
  const live = new Map<string, { origin: string, jobId: string, taskId: string, attempt: number }>()
  acceptAwards(rogue, (origin, award) => {
    for (const t of award.tasks) live.set(`${award.jobId}/${t.taskId}/${t.attempt}`, { origin, jobId: award.jobId, taskId: t.taskId, attempt: t.attempt })
  })
  rogue.onTask((_from, msg) => {
    if (msg.type === 'cancel') for (const [k, a] of live) if (a.jobId === msg.jobId && (msg.tasks === undefined || msg.tasks.some(t => t.taskId === a.taskId && t.attempt === a.attempt))) live.delete(k)
  })
  const timer = setInterval(() => {
    for (const a of live.values()) void rogue.sendTask(a.origin, taskMsg.progress(a.jobId, [{ taskId: a.taskId, attempt: a.attempt, running: true, fraction: 0.5 }]))
  }, 500)
  return () => { clearInterval(timer) }
}

/** Answer every award with a result at once, its value chosen by `value` (a liar's). */
export function answerWith (rogue: Rogue, value: (task: AwardMsg['tasks'][number]) => unknown): void {
  acceptAwards(rogue, (origin, award) => {
    const results: TaskResult[] = award.tasks.map(t => ({ taskId: t.taskId, attempt: t.attempt, ok: true, value: value(t), durationMs: 1 }))
    void rogue.sendTask(origin, taskMsg.result(award.jobId, results))
  })
}
