/**
 * Membership: publishes this peer's ResourceAd, receives everyone else's, and
 * keeps the peer table's liveness rules running. Driven only by its injected
 * transport and clock, so it runs unchanged over libp2p, in tests on a
 * `MemoryNetwork`, and in the simulator.
 */
import { Alarm, type Clock, type TimerHandle } from '../clock.ts'
import type { Logger } from '../logger.ts'
import type { PeerEvent, TopicMessage, Transport, Verdict } from '../transport.ts'
import { DropCounter } from '../../protocols/codec.ts'
import { LIMITS as AD_LIMITS, RESOURCES_TOPIC, RESOURCE_AD_VERSION, encodeResourceAd, type ResourceAd } from '../../protocols/resources.ts'
import { decodeAdOnce } from './ad-cache.ts'
import { PeerTable, type StateChange } from './peer-table.ts'
import { SilentPeers } from './silent-peers.ts'

/** The parts of an ad that the rest of the peer decides; membership fills in identity and ordering. */
export type AdBody = Omit<ResourceAd, 'v' | 'peerId' | 'epoch' | 'seq' | 'time' | 'addrs' | 'leaving'>

export interface MembershipInit {
  /** Period of ads. @default 1000 */
  intervalMs: number
  suspectMs: number
  goneMs: number
  forgetMs: number
  /** How long a lost connection's liveness ping may take. */
  probeTimeoutMs: number
  /** Minimum gap between ads sent ahead of the period (resources changed, a peer joined). @default intervalMs / 20 */
  minGapMs?: number
  /** How long a connected, subscribed peer's ads may fail to arrive before we redial it (doubling up to a minute). @default 3 × intervalMs */
  silentMs?: number
}

export interface MembershipComponents {
  transport: Transport
  clock: Clock
  logger: Logger
  /** Builds the current ad body; called for every ad sent. Must be cheap. */
  advertise: () => AdBody
}

export type MembershipListener = (change: StateChange) => void

export class Membership {
  readonly table: PeerTable
  readonly drops = new DropCounter()
  readonly #c: MembershipComponents
  readonly #init: MembershipInit
  readonly #epoch: number
  readonly #tickAlarm: Alarm
  readonly #listeners = new Set<MembershipListener>()
  readonly #adListeners = new Set<(ad: ResourceAd) => void>()
  /** When we last tried to dial each peer we heard of but are not connected to. */
  readonly #dialedAt = new Map<string, number>()
  readonly #silent: SilentPeers
  /** Redials of connected peers whose ads did not reach us (see SilentPeers). */
  redials = 0
  #seq = 0
  #lastAd: ResourceAd | undefined
  #periodic: TimerHandle | undefined
  #early: TimerHandle | undefined
  #unsubscribe: Array<() => void> = []
  #running = false

  constructor (components: MembershipComponents, init: MembershipInit) {
    this.#c = components
    this.#init = init
    this.#epoch = components.clock.now()
    this.table = new PeerTable({
      self: components.transport.self,
      suspectMs: init.suspectMs,
      goneMs: init.goneMs,
      forgetMs: init.forgetMs,
      quarantineMs: init.intervalMs
    })
    this.#tickAlarm = new Alarm(components.clock, () => { this.#tick() })
    this.#silent = new SilentPeers(init.silentMs ?? 3 * init.intervalMs, 60_000)
  }

  get epoch (): number { return this.#epoch }
  /** The last ad this peer sent (undefined before start). */
  get lastAd (): ResourceAd | undefined { return this.#lastAd }

  /** Subscribe to state changes (new peer, suspect, gone, back, forgotten). */
  onChange (listener: MembershipListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Every accepted (new, valid) ad from another peer. Must not throw or block. */
  onAd (listener: (ad: ResourceAd) => void): () => void {
    this.#adListeners.add(listener)
    return () => this.#adListeners.delete(listener)
  }

  start (): void {
    if (this.#running) return
    this.#running = true
    const { transport } = this.#c
    this.#unsubscribe.push(
      transport.subscribe(RESOURCES_TOPIC, msg => this.#receive(msg)),
      transport.onPeerEvent(event => { this.#peerEvent(event) })
    )
    void this.#publish()
    this.#schedulePeriodic()
  }

  /** Stop; with `goodbye`, first tell the mesh we are leaving so peers mark us gone at once. */
  async stop ({ goodbye = true }: { goodbye?: boolean } = {}): Promise<void> {
    if (!this.#running) return
    this.#running = false
    for (const u of this.#unsubscribe) u()
    this.#unsubscribe = []
    if (this.#periodic !== undefined) this.#c.clock.clearTimeout(this.#periodic)
    if (this.#early !== undefined) this.#c.clock.clearTimeout(this.#early)
    this.#periodic = this.#early = undefined
    this.#tickAlarm.cancel()
    if (goodbye) await this.#publish(true)
  }

  /**
   * Resources changed (a task started or ended, capacity was reconfigured).
   * Publishes at once if free capacity moved markedly, else waits for the period.
   * `significant` is decided by the caller, which knows the capacity model.
   */
  resourcesChanged (significant: boolean): void {
    if (significant) this.#publishSoon()
  }

  /** Publish ahead of the period, at most once per `minGapMs`; several requests coalesce into one ad. */
  #publishSoon (): void {
    if (!this.#running || this.#early !== undefined) return
    const gap = this.#init.minGapMs ?? Math.max(1, Math.floor(this.#init.intervalMs / 20))
    const since = this.#c.clock.now() - (this.#lastAd?.time ?? 0)
    this.#early = this.#c.clock.setTimeout(() => {
      this.#early = undefined
      if (this.#running) void this.#publish()
    }, Math.max(0, gap - since))
  }

  #schedulePeriodic (): void {
    this.#periodic = this.#c.clock.setTimeout(() => {
      if (!this.#running) return
      void this.#publish()
      this.#redialSilent()
      this.#schedulePeriodic()
    }, this.#init.intervalMs)
  }

  async #publish (leaving = false): Promise<void> {
    const { transport, clock } = this.#c
    const body = this.#c.advertise()
    const ad: ResourceAd = {
      ...body,
      v: RESOURCE_AD_VERSION,
      peerId: transport.self,
      epoch: this.#epoch,
      seq: ++this.#seq,
      time: clock.now(),
      addrs: transport.addresses().slice(0, AD_LIMITS.maxAddrs),
      ...(leaving ? { leaving: true, free: { cpu: 0, memoryMB: 0, gpu: 0, custom: {} } } : {})
    }
    this.#lastAd = ad
    await transport.publish(RESOURCES_TOPIC, encodeResourceAd(ad))
  }

  #receive (msg: TopicMessage): Verdict {
    const decoded = decodeAdOnce(msg.data, msg.from)
    if (!decoded.ok) {
      this.drops.add(decoded.reason)
      this.#c.logger.debug({ from: msg.from, reason: decoded.reason, detail: decoded.detail }, 'dropped resource ad')
      return 'reject'
    }
    this.#silent.heard(decoded.value.peerId)
    const now = this.#c.clock.now()
    const { verdict, change } = this.table.receiveAd(decoded.value, now)
    if (change !== undefined) this.#emit(change)
    if (verdict === 'accept') {
      this.#ensureConnected(decoded.value)
      for (const l of this.#adListeners) l(decoded.value)
    }
    // Only this sender's deadline moved. The alarm is never later than any
    // deadline (every change re-arms it, and it keeps the sooner of two), so
    // arming for this entry alone gives the same alarm as a scan of the whole
    // table, without costing O(peers) per ad.
    const at = this.table.deadlineOf(decoded.value.peerId)
    if (at !== undefined && this.#running) this.#tickAlarm.armAt(at)
    return verdict
  }

  /** Gossip may introduce peers we share no connection with; dial them, since work needs direct streams. */
  #ensureConnected (ad: ResourceAd): void {
    if (ad.leaving === true || ad.addrs.length === 0) return
    const { transport, clock } = this.#c
    if (transport.isConnected(ad.peerId)) return
    const now = clock.now()
    const last = this.#dialedAt.get(ad.peerId)
    if (last !== undefined && now - last < 2 * this.#init.intervalMs) return
    this.#dialedAt.set(ad.peerId, now)
    transport.connect(ad.peerId, ad.addrs)
  }

  #peerEvent (event: PeerEvent): void {
    if (event.type === 'connect') {
      this.#dialedAt.delete(event.peer)
      return
    }
    if (event.type === 'subscribed') {
      if (event.topic !== RESOURCES_TOPIC) return
      // A newcomer can hear us now: tell it what we have instead of making it wait a period.
      this.#publishSoon()
      // And its ads should reach us from now on.
      this.#silent.subscribed(event.peer, this.#c.clock.now())
      return
    }
    this.#silent.disconnected(event.peer)
    if (!this.table.connectionLost(event.peer)) return
    // The connection closed: a killed process (its socket closed) fails the ping
    // at once; a pruned connection or a flaky link answers and changes nothing.
    void this.#c.transport.ping(event.peer, this.#init.probeTimeoutMs).then(ok => {
      if (!this.#running) return
      const change = this.table.probeResult(event.peer, ok, this.#c.clock.now())
      if (change !== undefined) this.#emit(change)
      this.#rearm()
    })
  }

  /** Hang up on, and dial again, each connected peer whose ads have not reached us for too long. */
  #redialSilent (): void {
    const { transport, logger, clock } = this.#c
    for (const peer of this.#silent.due(clock.now())) {
      if (!transport.isConnected(peer)) { this.#silent.disconnected(peer); continue }
      this.redials++
      logger.warn({ peer }, 'connected peer sends us no ads: it missed our subscription; reconnecting')
      transport.redial(peer)
    }
  }

  #tick (): void {
    if (!this.#running) return
    for (const change of this.table.tick(this.#c.clock.now())) {
      if (change.to === 'forgotten') this.#dialedAt.delete(change.peer)
      this.#emit(change)
    }
    this.#rearm()
  }

  #rearm (): void {
    const next = this.table.nextDeadline()
    if (next !== undefined && this.#running) this.#tickAlarm.armAt(next)
  }

  #emit (change: StateChange): void {
    this.#c.logger.info({ peer: change.peer, from: change.from, to: change.to, reason: change.reason }, 'peer state')
    for (const l of this.#listeners) {
      try { l(change) } catch (err) { this.#c.logger.error({ err }, 'membership listener threw') }
    }
  }
}
