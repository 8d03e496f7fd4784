/**
 * An in-memory network for tests and the simulator, driven by a `Clock`.
 *
 * Pub/sub reaches every subscribed peer that is up and not partitioned from the
 * sender (as gossip over a connected mesh would), after `latency`, unless lost
 * (`loss`). Connections are explicit pairs with connect/disconnect events, like
 * libp2p's. Failures are data: `crash` closes a peer's connections and makes
 * pings to it fail at once (a killed process); `freeze` silently drops
 * everything to and from it and, after `monitorMs`, closes its connections as
 * libp2p's connection monitor does (a frozen process or a pulled cable).
 */
import type { Clock } from '../clock.ts'
import type { InboundLimits, PeerEvent, TopicHandler, Transport, Verdict } from '../transport.ts'

export interface MemoryNetworkOptions {
  /** One-way delay in ms, fixed or per message. @default 1 */
  latency?: number | ((from: string, to: string) => number)
  /** Probability that a pub/sub message to one receiver is lost. @default 0 */
  loss?: number
  /** Source of randomness for loss; inject a seeded one for repeatable runs. @default Math.random */
  random?: () => number
  /** Time for a frozen peer's connections to be closed by the (emulated) connection monitor. @default 1500 */
  monitorMs?: number
}

type PeerStatus = 'up' | 'crashed' | 'frozen'

/**
 * Which peers are linked, as one bit per pair. A mesh where everyone dials
 * everyone it hears of holds n²/2 links: at 5,000 peers a set of string keys
 * would take gigabytes, these bits take 3 MB.
 */
class LinkBits {
  #rows: Uint32Array[] = []
  #words = 1

  #row (i: number): Uint32Array {
    let row = this.#rows[i]
    if (row === undefined || row.length < this.#words) {
      const grown = new Uint32Array(this.#words)
      if (row !== undefined) grown.set(row)
      this.#rows[i] = row = grown
    }
    return row
  }

  /** Make room for index `n - 1`. */
  grow (n: number): void {
    const words = Math.ceil(n / 32)
    if (words > this.#words) this.#words = Math.max(words, this.#words * 2)
  }

  has (a: number, b: number): boolean {
    const row = this.#rows[a]
    return row !== undefined && ((row[b >>> 5] ?? 0) & (1 << (b & 31))) !== 0
  }

  /** Sets the pair; false when it was already set. */
  add (a: number, b: number): boolean {
    if (this.has(a, b)) return false
    this.#row(a)[b >>> 5]! |= 1 << (b & 31)
    this.#row(b)[a >>> 5]! |= 1 << (a & 31)
    return true
  }

  delete (a: number, b: number): boolean {
    if (!this.has(a, b)) return false
    this.#row(a)[b >>> 5]! &= ~(1 << (b & 31))
    this.#row(b)[a >>> 5]! &= ~(1 << (a & 31))
    return true
  }

  /** Indices linked to `a`, ascending. */
  of (a: number): number[] {
    const out: number[] = []
    const row = this.#rows[a]
    if (row === undefined) return out
    for (let w = 0; w < row.length; w++) {
      let bits = row[w]!
      while (bits !== 0) {
        const low = bits & -bits
        out.push(w * 32 + 31 - Math.clz32(low))
        bits ^= low
      }
    }
    return out
  }
}

export class MemoryNetwork {
  readonly clock: Clock
  readonly #opts: Required<MemoryNetworkOptions>
  /** Live transports, in the order they (re)started: pub/sub delivers in this order. */
  readonly #peers = new Map<string, MemoryTransport>()
  /** A stable small number per peer id (kept across restarts), for the link bits. */
  readonly #index = new Map<string, number>()
  readonly #ids: string[] = []
  readonly #status = new Map<string, PeerStatus>()
  readonly #links = new LinkBits()
  readonly #cut = new Set<string>()
  /** `from\0to` pairs where `from`'s pub/sub does not know that `to` subscribes (see `muffle`). */
  readonly #muffled = new Set<string>()
  /** Verdicts returned by topic handlers, for tests that check validation. */
  readonly verdicts: Record<Verdict, number> = { accept: 0, ignore: 0, reject: 0 }
  /** Messages and bytes delivered (one per receiver), for the simulator's cost figures; by topic or protocol too. */
  readonly stats = { messages: 0, bytes: 0, lost: 0, byChannel: new Map<string, { messages: number, bytes: number }>() }

  constructor (clock: Clock, opts: MemoryNetworkOptions = {}) {
    this.clock = clock
    this.#opts = { latency: 1, loss: 0, random: Math.random, monitorMs: 1500, ...opts }
  }

  #ix (peer: string): number {
    let i = this.#index.get(peer)
    if (i === undefined) {
      i = this.#ids.length
      this.#index.set(peer, i)
      this.#ids.push(peer)
      this.#links.grow(i + 1)
    }
    return i
  }

  /** A transport for a new (or restarted) peer with this id. */
  transport (peerId: string): MemoryTransport {
    const t = new MemoryTransport(this, peerId)
    this.#ix(peerId)
    this.#peers.set(peerId, t)
    this.#status.set(peerId, 'up')
    return t
  }

  /** Connect two peers directly (as a bootstrap dial would). */
  link (a: string, b: string): void {
    if (a === b || !this.reachable(a, b) || !this.#links.add(this.#ix(a), this.#ix(b))) return
    const pa = this.#peers.get(a)
    const pb = this.#peers.get(b)
    // A new connection: each side announces its subscriptions afresh.
    this.#muffled.delete(`${a}\0${b}`)
    this.#muffled.delete(`${b}\0${a}`)
    pa?.emit({ type: 'connect', peer: b })
    pb?.emit({ type: 'connect', peer: a })
    // As gossipsub does right after connecting, each side learns the other's subscriptions.
    for (const topic of pb?.topics() ?? []) pa?.emit({ type: 'subscribed', peer: b, topic })
    for (const topic of pa?.topics() ?? []) pb?.emit({ type: 'subscribed', peer: a, topic })
  }

  unlink (a: string, b: string): void {
    if (!this.#links.delete(this.#ix(a), this.#ix(b))) return
    if (this.#status.get(a) !== 'crashed') this.#peers.get(a)?.emit({ type: 'disconnect', peer: b })
    if (this.#status.get(b) !== 'crashed') this.#peers.get(b)?.emit({ type: 'disconnect', peer: a })
  }

  /**
   * `from`'s pub/sub stops sending to `to`, as gossipsub does when it dropped
   * `to`'s subscription announcement (a graylisted peer's messages are
   * ignored); `to` still hears everyone else, and `from` still hears `to`.
   * It lasts until the two connect again.
   */
  muffle (from: string, to: string): void {
    this.#muffled.add(`${from}\0${to}`)
  }

  /** Kill a peer's process: its sockets close, pings fail at once. */
  crash (peer: string): void {
    this.#status.set(peer, 'crashed')
    for (const other of this.linkedTo(peer)) this.unlink(peer, other)
    this.#peers.delete(peer)
  }

  /** Freeze a peer (SIGSTOP): it goes silent; its links close after `monitorMs`. */
  freeze (peer: string): void {
    this.#status.set(peer, 'frozen')
    this.clock.setTimeout(() => {
      if (this.#status.get(peer) !== 'frozen') return
      for (const other of this.linkedTo(peer)) this.unlink(peer, other)
    }, this.#opts.monitorMs)
  }

  /** Resume a frozen peer (SIGCONT). */
  thaw (peer: string): void {
    if (this.#status.get(peer) === 'frozen') this.#status.set(peer, 'up')
  }

  /** Cut the network between two peers; their link closes. */
  partition (a: string, b: string): void {
    this.#cut.add(key(a, b))
    this.unlink(a, b)
  }

  heal (a: string, b: string): void {
    this.#cut.delete(key(a, b))
  }

  isLinked (a: string, b: string): boolean {
    const ia = this.#index.get(a)
    const ib = this.#index.get(b)
    return ia !== undefined && ib !== undefined && this.#links.has(ia, ib)
  }

  /** The peers linked to `peer`, in the order their ids were first seen. */
  linkedTo (peer: string): string[] {
    const i = this.#index.get(peer)
    return i === undefined ? [] : this.#links.of(i).map(j => this.#ids[j]!)
  }

  /** Can a message from `a` reach `b` right now? */
  reachable (a: string, b: string): boolean {
    return this.#status.get(a) === 'up' && this.#status.get(b) === 'up' && (this.#cut.size === 0 || !this.#cut.has(key(a, b)))
  }

  status (peer: string): PeerStatus | undefined {
    return this.#status.get(peer)
  }

  /**
   * Is `t` the live transport for its id? A crashed process's transport lingers
   * (its timers still fire) and must stay silent even after a restarted peer
   * reuses the id.
   */
  isCurrent (t: MemoryTransport): boolean {
    return this.#peers.get(t.self) === t
  }

  /**
   * @internal used by MemoryTransport. Receivers due at the same instant share
   * one timer: they would have fired back to back anyway (timers set in one
   * call get consecutive places in the clock's order), so this changes nothing
   * but the number of timers — a publish on a mesh of n peers sets about as
   * many timers as there are distinct delays, not n.
   */
  deliver (from: string, topic: string, data: Uint8Array): void {
    const { latency, loss, random } = this.#opts
    if (this.#status.get(from) !== 'up') return
    const due = new Map<number, MemoryTransport[]>()
    for (const [id, peer] of this.#peers) {
      if (id === from || !peer.subscribed(topic) || !this.reachable(from, id)) continue
      if (this.#muffled.size > 0 && this.#muffled.has(`${from}\0${id}`)) continue
      if (loss > 0 && random() < loss) { this.stats.lost++; continue }
      const delay = typeof latency === 'function' ? latency(from, id) : latency
      const group = due.get(delay)
      if (group === undefined) due.set(delay, [peer])
      else group.push(peer)
    }
    for (const [delay, group] of due) {
      this.clock.setTimeout(() => {
        let n = 0
        for (const peer of group) {
          const id = peer.self
          // Re-check at arrival: the receiver may have crashed or frozen meanwhile.
          if (!this.reachable(from, id) || this.#peers.get(id) !== peer) continue
          n++
          const verdict = peer.receive(topic, from, data)
          if (verdict !== undefined) this.verdicts[verdict]++
        }
        this.#count(topic, n, data.byteLength)
      }, delay)
    }
  }

  /** @internal a direct (stream) message: in order per pair, never lost while both are reachable */
  deliverDirect (from: string, to: string, protocol: string, data: Uint8Array): void {
    const peer = this.#peers.get(to)
    this.clock.setTimeout(() => {
      if (!this.reachable(from, to) || this.#peers.get(to) !== peer || peer === undefined) return
      this.#count(protocol, 1, data.byteLength)
      peer.receiveDirect(protocol, from, data)
    }, this.delay(from, to))
  }

  #count (channel: string, messages: number, bytes: number): void {
    if (messages === 0) return
    const { stats } = this
    stats.messages += messages
    stats.bytes += messages * bytes
    const c = stats.byChannel.get(channel)
    if (c === undefined) stats.byChannel.set(channel, { messages, bytes: messages * bytes })
    else { c.messages += messages; c.bytes += messages * bytes }
  }

  /**
   * @internal Run `fn` at time `at`, sharing one clock timer with everything
   * else this network has due then. When every peer dials every peer it hears
   * of, a mesh of n peers has n² dials in flight; one timer per instant keeps
   * the clock's queue short. Calls due at one instant run in the order given.
   */
  at (at: number, fn: () => void): void {
    const batch = this.#due.get(at)
    if (batch !== undefined) { batch.push(fn); return }
    const list = [fn]
    this.#due.set(at, list)
    this.clock.setTimeout(() => {
      this.#due.delete(at)
      for (const f of list) f()
    }, at - this.clock.now())
  }

  readonly #due = new Map<number, Array<() => void>>()

  /** @internal one-way delay between two peers */
  delay (a: string, b: string): number {
    const { latency } = this.#opts
    return typeof latency === 'function' ? latency(a, b) : latency
  }
}

export class MemoryTransport implements Transport {
  readonly self: string
  readonly #net: MemoryNetwork
  readonly #topics = new Map<string, Set<TopicHandler>>()
  readonly #peerHandlers = new Set<(e: PeerEvent) => void>()
  readonly #direct = new Map<string, { handler: (from: string, data: Uint8Array) => void, limits: InboundLimits }>()
  /** Published messages, for tests that inspect what a peer sent. */
  readonly sent: Array<{ topic: string, data: Uint8Array }> = []

  constructor (net: MemoryNetwork, self: string) {
    this.#net = net
    this.self = self
  }

  addresses = (): string[] => [`/memory/${this.self}`]

  publish = async (topic: string, data: Uint8Array): Promise<void> => {
    if (this.#net.status(this.self) !== 'up' || !this.#net.isCurrent(this)) return
    this.sent.push({ topic, data })
    this.#net.deliver(this.self, topic, data)
  }

  subscribe = (topic: string, handler: TopicHandler): (() => void) => {
    let set = this.#topics.get(topic)
    if (set === undefined) this.#topics.set(topic, set = new Set())
    set.add(handler)
    return () => { set.delete(handler) }
  }

  onPeerEvent = (handler: (e: PeerEvent) => void): (() => void) => {
    this.#peerHandlers.add(handler)
    return () => { this.#peerHandlers.delete(handler) }
  }

  isConnected = (peer: string): boolean => this.#net.isCurrent(this) && this.#net.isLinked(this.self, peer)

  ping = async (peer: string, timeoutMs: number): Promise<boolean> => {
    const net = this.#net
    if (!net.isCurrent(this)) return false
    const status = net.status(peer)
    // A crashed or unknown peer refuses at once; a frozen or cut-off one never answers.
    const answers = net.reachable(this.self, peer)
    const wait = answers ? net.delay(this.self, peer) + net.delay(peer, this.self) : status === 'frozen' || status === 'up' ? timeoutMs : 1
    await new Promise<void>(resolve => net.clock.setTimeout(resolve, Math.min(wait, timeoutMs)))
    if (answers && wait <= timeoutMs && net.reachable(this.self, peer)) {
      net.link(this.self, peer)
      return true
    }
    return false
  }

  send = async (peer: string, protocol: string, data: Uint8Array): Promise<boolean> => {
    const net = this.#net
    if (!net.isCurrent(this) || !net.reachable(this.self, peer)) return false
    // A direct stream implies a connection, as a libp2p dial would make one.
    net.link(this.self, peer)
    net.deliverDirect(this.self, peer, protocol, data)
    return true
  }

  handle = (protocol: string, handler: (from: string, data: Uint8Array) => void, limits: InboundLimits): (() => void) => {
    this.#direct.set(protocol, { handler, limits })
    return () => { this.#direct.delete(protocol) }
  }

  /** @internal */
  receiveDirect (protocol: string, from: string, data: Uint8Array): void {
    const d = this.#direct.get(protocol)
    if (d === undefined) return
    // As over libp2p: a frame over the protocol's limit never reaches the handler.
    if (data.byteLength > d.limits.maxBytes) { d.limits.onBad?.(from, 'oversize', `a ${data.byteLength}-byte frame is over this protocol's ${d.limits.maxBytes}`); return }
    d.handler(from, data)
  }

  redial = (peer: string): void => {
    if (!this.#net.isCurrent(this)) return
    this.#net.unlink(this.self, peer)
    this.connect(peer)
  }

  connect = (peer: string): void => {
    const net = this.#net
    if (!net.isCurrent(this)) return
    net.at(net.clock.now() + net.delay(this.self, peer) * 2, () => { if (net.isCurrent(this)) net.link(this.self, peer) })
  }

  /** @internal topics with at least one handler */
  topics (): string[] {
    return [...this.#topics].filter(([, h]) => h.size > 0).map(([t]) => t)
  }

  /** @internal */
  subscribed (topic: string): boolean {
    return (this.#topics.get(topic)?.size ?? 0) > 0
  }

  /** @internal */
  receive (topic: string, from: string, data: Uint8Array): Verdict | undefined {
    let verdict: Verdict | undefined
    for (const h of this.#topics.get(topic) ?? []) verdict = h({ topic, from, data })
    return verdict
  }

  /** @internal */
  emit (event: PeerEvent): void {
    for (const h of this.#peerHandlers) h(event)
  }
}

function key (a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`
}
