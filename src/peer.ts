/**
 * MeshPeer: the core of one peer, composed from its parts. It knows nothing of
 * libp2p or the OS: `node/createPeer` hands it a libp2p transport, the system
 * clock and a machine probe; tests hand it a `MemoryNetwork` and a `ManualClock`.
 */
import { later, type Clock } from './clock.ts'
import type { MeshConfig } from './config.ts'
import { MeshError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Transport } from './transport.ts'
import { Membership, type AdBody } from './membership/membership.ts'
import type { PeerState } from './membership/peer-table.ts'
import { computeCapacity, gpuDevices, isSignificantChange, type ResourceProbe } from './resources/capacity.ts'
import { DropCounter, type DropReason } from '../protocols/codec.ts'
import { LIMITS as AD_LIMITS, type ResourceAd, type Resources } from '../protocols/resources.ts'
import { AUCTION_LIMITS, AUCTION_TOPIC, BID_PROTOCOL, decodeAuctionMessage, decodeBid, encodeAuctionMessage, encodeBid, type AuctionMessage, type Bid, type OpenTask } from '../protocols/auction.ts'
import { TASK_LIMITS, TASK_PROTOCOL, decodeTaskMessage, encodeTaskMessage, isForExecutor, type FileData, type TaskMessage } from '../protocols/task.ts'
import type { PeerAbility } from './auction/feasibility.ts'
import type { LpSolver } from './auction/lp.ts'
import type { ArtifactStore } from './execution/artifact-store.ts'
import { MeshMetrics } from './metrics.ts'
import type { BlobStore } from './execution/blob-store.ts'
import { Executor } from './execution/executor.ts'
import { MemoryOutboxStore, type OutboxStore } from './execution/outbox.ts'
import type { TaskRunner } from './execution/runner.ts'
import type { Journal } from './jobs/journal.ts'
import type { JobView } from './jobs/job-view.ts'
import { Origin } from './jobs/origin.ts'
import type { JobSpec } from './jobs/spec.ts'
import type { LivePeer } from './jobs/why.ts'
import type { FaultKind } from './jobs/reputation.ts'

export interface MeshPeerComponents {
  transport: Transport
  clock: Clock
  logger: Logger
  probe: ResourceProbe
  /** Runs attempts (worker threads and child processes in `node/`). */
  runner: TaskRunner
  solver: LpSolver
  blobs: BlobStore
  journal: Journal
  /** Names of the handlers this peer can run now (apps register more at any time). */
  handlerNames: () => string[]
  /** Where finished results wait for acknowledgement (in memory unless given). */
  outbox?: OutboxStore
  /** Where tasks' artifacts come from; absent, tasks that name artifacts fail here. */
  artifacts?: ArtifactStore
  /** What this peer must do before a task could start here (fetch artifacts it lacks, load a model), ms. */
  setupMs?: (t: OpenTask) => number
  /** What this peer's ad says about its artifact cache and warm models. */
  adExtras?: () => Pick<ResourceAd, 'artifacts' | 'cache' | 'warm'>
  /** How exec tasks are confined here (limits, sandbox, network), for the ad's caps; absent: nothing said. */
  confinement?: Pick<ResourceAd['caps'], 'limits' | 'sandbox' | 'network'>
}

/** One row of `mesh peers`: a peer as this peer sees it. */
export interface PeerView {
  id: string
  self: boolean
  state: PeerState
  /** Why the peer is in this state ("first ad", "no ad for 2600 ms", …). */
  reason: string
  /** When the state last changed (ms since 1970, this peer's clock). */
  since: number
  /** When the last ad from it arrived (ms since 1970, this peer's clock). */
  lastSeen: number
  addrs: string[]
  capacity: Resources
  free: Resources
  cpuModel: string
  gpus: ResourceAd['gpus']
  load: ResourceAd['load']
  tasks: ResourceAd['tasks']
  speed: number
  caps: ResourceAd['caps']
  epoch: number
  /** Why the peer takes no work now (load shift), if it does not. */
  busy?: string
  /** Its artifact cache: MB used and the cap, and how many artifacts it advertises. */
  cache?: { usedMB: number, maxMB: number, artifacts: number }
  /** Models warm in its handler threads. */
  warm?: ResourceAd['warm']
  /** What this peer, as an origin, has seen it do with its work (docs/ARCHITECTURE.md §17), when it gave it any. */
  record?: { delivered: number, faults: number, reliability: number, byKind: Partial<Record<FaultKind, number>> }
  /** Cut off for misbehaving on gossip or failing its work, until this time (ms since 1970). */
  quarantinedUntil?: number
}

export interface PeerStats {
  dropped: { total: number, byReason: Record<DropReason, number> }
  /** Attempts this peer runs for the mesh, and results waiting for an acknowledgement. */
  executor: { running: number, queued: number, outbox: number }
}

export class MeshPeer {
  readonly config: MeshConfig
  readonly membership: Membership
  /** Counts for operators, read by `/metrics` (node/metrics.ts). */
  readonly metrics = new MeshMetrics()
  /** What this peer offers the mesh (machine or config, minus the owner's reserve). */
  readonly capacity: Resources
  /** Its GPUs one by one, with their memory (0 = unknown). */
  readonly gpus: ResourceAd['gpus']
  readonly executor: Executor
  readonly origin: Origin
  readonly #c: MeshPeerComponents
  readonly #drops = new DropCounter()
  #free: Resources
  #state: 'new' | 'started' | 'stopped' = 'new'
  #jobCounter = 0
  #unsubscribe: Array<() => void> = []

  constructor (components: MeshPeerComponents, config: MeshConfig) {
    this.#c = components
    this.config = config
    this.capacity = computeCapacity(components.probe.machine, config.resources)
    this.gpus = gpuDevices(components.probe.machine, config.resources)
    this.#free = structuredClone(this.capacity)
    this.membership = new Membership({
      transport: components.transport,
      clock: components.clock,
      logger: components.logger,
      advertise: () => this.#advertise()
    }, {
      intervalMs: config.gossip.intervalMs,
      suspectMs: config.failure.suspectMs,
      goneMs: config.failure.goneMs,
      forgetMs: config.failure.forgetMs,
      probeTimeoutMs: config.failure.pingTimeoutMs
    })
    this.executor = new Executor({
      clock: components.clock,
      logger: components.logger,
      runner: components.runner,
      solver: components.solver,
      blobs: components.blobs,
      send: async (peer, msg) => await this.#sendTask(peer, msg),
      sendBid: async (peer, bid) => await this.#sendBid(peer, bid),
      onCapacityChange: () => { this.setFree(this.executor.free()) },
      ability: () => this.#ability(),
      outbox: components.outbox ?? new MemoryOutboxStore(),
      load: () => components.probe.load(),
      ...(components.artifacts !== undefined ? { artifacts: components.artifacts } : {}),
      ...(components.setupMs !== undefined ? { setupMs: components.setupMs } : {}),
      metrics: this.metrics
    }, {
      capacity: this.capacity,
      gpuMemoryMB: this.gpus.map(g => g.memoryMB),
      speed: components.probe.speed,
      queueDepth: config.auction.queueDepth,
      heartbeatMs: config.failure.heartbeatMs,
      bidWindowMs: config.auction.bidWindowMs,
      resultTtlMs: config.failure.resultTtlMs,
      yield: config.yield.policy === 'off' ? undefined : { cpuBusyPercent: config.yield.cpuBusyPercent, sustainMs: config.yield.sustainMs, policy: config.yield.policy, memoryReserveMB: config.resources.reserve.memoryMB }
    })
    this.origin = new Origin({
      clock: components.clock,
      logger: components.logger,
      journal: components.journal,
      blobs: components.blobs,
      self: components.transport.self,
      publish: msg => { void components.transport.publish(AUCTION_TOPIC, encodeAuctionMessage(msg)) },
      // Our own call for bids: answered by our own bidder, on a later tick, as a remote peer would.
      bidLocally: cfb => { later(components.clock, () => { this.executor.onCallForBids(cfb) }) },
      send: async (peer, msg) => await this.#sendTask(peer, msg),
      livePeers: () => this.#livePeers(),
      speedOf: peer => peer === this.id ? components.probe.speed : this.membership.table.get(peer)?.ad.speed,
      metrics: this.metrics
    }, {
      bidWindowMs: config.auction.bidWindowMs,
      queueDepth: config.auction.queueDepth,
      heartbeatMs: config.failure.heartbeatMs,
      leaseMs: config.failure.leaseMs,
      keepEndedMs: config.history.keepDays * 24 * 3600_000
    })
  }

  get id (): string { return this.#c.transport.self }
  get started (): boolean { return this.#state === 'started' }

  start (): void {
    if (this.#state === 'started') return
    if (this.#state === 'stopped') throw new MeshError('MESH_ERR_STATE', 'a stopped peer cannot be restarted; create a new one')
    this.#state = 'started'
    const { transport } = this.#c
    this.#unsubscribe.push(
      transport.subscribe(AUCTION_TOPIC, msg => {
        const d = decodeAuctionMessage(msg.data, msg.from)
        if (!d.ok) { this.#drops.add(d.reason); return 'reject' }
        this.#onAuction(d.value)
        return 'accept'
      }),
      transport.handle(BID_PROTOCOL, (from, data) => {
        const d = decodeBid(data)
        if (!d.ok) { this.#drops.add(d.reason); return }
        this.origin.onBid(from, d.value)
      }, { maxBytes: AUCTION_LIMITS.maxBidBytes, onBad: this.#badFrame }),
      transport.handle(TASK_PROTOCOL, (from, data) => {
        const d = decodeTaskMessage(data)
        if (!d.ok) { this.#drops.add(d.reason); return }
        this.#routeTask(from, d.value)
      }, { maxBytes: TASK_LIMITS.maxFrameBytes, onBad: this.#badFrame }),
      this.membership.onChange(change => {
        if (change.to === 'gone') {
          this.origin.peerGone(change.peer)
          this.executor.originGone(change.peer)
        }
        // An origin that is back (restarted, or reachable again) gets its results now.
        if (change.to === 'alive') this.executor.originBack(change.peer)
      }),
      this.membership.onAd(ad => { if (ad.free.cpu > 0) this.origin.capacityAppeared() })
    )
    this.membership.start()
    this.executor.start().catch((err: Error) => { this.#c.logger.error({ err: err.message }, 'cannot load the outbox; earlier results are not resent') })
    this.origin.start()
  }

  /** Accept a validated job for this peer to be the origin of. Resolves once it is journaled. */
  async submit (spec: JobSpec, files: Record<string, FileData> = {}): Promise<JobView> {
    if (this.#state !== 'started') throw new MeshError('MESH_ERR_STATE', 'start the peer before submitting jobs')
    for (const [name, t] of Object.entries(spec.tasks)) {
      for (const [a, src] of Object.entries(t.artifacts)) {
        // The core reads no files: the node peer turns paths into sha-256 references first.
        if ('path' in src) throw new MeshError('MESH_ERR_JOB_SPEC', `tasks.${name}.artifacts.${a}: a path artifact must be read into the artifact cache before submit (the node peer does this)`)
      }
    }
    const now = this.#c.clock.now()
    const id = `${now.toString(36)}-${(this.#jobCounter++).toString(36)}${this.id.slice(-4).toLowerCase()}`
    return await this.origin.submit({ id, spec, origin: this.id, submittedAt: now, files })
  }

  /** A frame the transport refused before decoding (too large, too slow, over the sender's memory share). */
  readonly #badFrame = (_peer: string, problem: string): void => {
    this.#drops.add(problem === 'oversize' ? 'oversize' : problem === 'malformed' ? 'malformed' : 'slow')
  }

  #onAuction (msg: AuctionMessage): void {
    if (msg.type === 'cfb') this.executor.onCallForBids(msg)
    else this.executor.cancel(msg.origin, msg.jobId, undefined, 'job cancelled by its origin')
  }

  #routeTask (from: string, msg: TaskMessage): void {
    if (isForExecutor(msg)) this.executor.onTaskMessage(from, msg)
    else this.origin.onTaskMessage(from, msg)
  }

  async #sendTask (peer: string, msg: TaskMessage): Promise<boolean> {
    if (peer === this.id) {
      // To ourselves: no wire, but still on a later tick so neither side re-enters the other.
      later(this.#c.clock, () => { this.#routeTask(peer, msg) })
      return true
    }
    return await this.#c.transport.send(peer, TASK_PROTOCOL, encodeTaskMessage(msg))
  }

  async #sendBid (peer: string, bid: Bid): Promise<boolean> {
    if (peer === this.id) {
      later(this.#c.clock, () => { this.origin.onBid(peer, bid) })
      return true
    }
    return await this.#c.transport.send(peer, BID_PROTOCOL, encodeBid(bid))
  }

  #ability (): PeerAbility {
    return { id: this.id, capacity: this.capacity, caps: this.#caps(), gpus: this.gpus }
  }

  #caps (): ResourceAd['caps'] {
    const { executor } = this.config
    return {
      kinds: executor.exec.allow.length > 0 ? ['handler', 'exec'] : ['handler'],
      handlers: this.#c.handlerNames().slice(0, AD_LIMITS.maxHandlers),
      commands: executor.exec.allow.slice(0, AD_LIMITS.maxCommands),
      tags: this.config.tags,
      ...(executor.exec.allow.length > 0 ? this.#c.confinement : {}),
      ...(this.config.trust.submitters === 'mesh' ? {} : { origins: this.config.trust.submitters === 'self' ? [this.id] : [this.id, ...this.config.trust.submitters].slice(0, AD_LIMITS.maxHandlers) })
    }
  }

  /**
   * This peer and every alive peer, with what they can run, have free, and
   * whether they yield. Peers that do not run our jobs (`caps.origins`) are
   * included: the feasibility rule rules them out, and `mesh status` says why.
   */
  #livePeers (): LivePeer[] {
    const yieldReason = this.executor.yieldReason
    const out: LivePeer[] = [{ ...this.#ability(), free: this.#free, speed: this.#c.probe.speed, ...(yieldReason !== undefined ? { busy: yieldReason } : {}) }]
    for (const e of this.membership.table.alive()) {
      out.push({ id: e.id, capacity: e.ad.capacity, caps: e.ad.caps, gpus: e.ad.gpus, free: e.ad.free, speed: e.ad.speed, ...(e.ad.busy !== undefined ? { busy: e.ad.busy } : {}) })
    }
    return out
  }


  /** Stop; `goodbye: false` skips the leaving ad (used to emulate a crash in tests). */
  async stop (opts: { goodbye?: boolean } = {}): Promise<void> {
    if (this.#state !== 'started') { this.#state = 'stopped'; return }
    this.#state = 'stopped'
    for (const u of this.#unsubscribe) u()
    this.#unsubscribe = []
    this.origin.stop()
    this.executor.stop()
    await this.membership.stop(opts)
  }

  /** Update free capacity (called as work is reserved and released). */
  setFree (free: Resources): void {
    const significant = isSignificantChange(this.#free, free, this.capacity)
    this.#free = free
    this.membership.resourcesChanged(significant)
  }

  /** The mesh as this peer sees it, itself first. */
  peers (): PeerView[] {
    const now = this.#c.clock.now()
    const selfAd = this.membership.lastAd
    const ad = this.#advertise()
    const { artifacts: _ids, cache: _cache, warm: _warm, ...body } = ad
    const self: PeerView = {
      ...body,
      ...cacheView(ad),
      id: this.id,
      self: true,
      state: 'alive',
      reason: 'this peer',
      since: this.membership.epoch,
      lastSeen: now,
      addrs: this.#c.transport.addresses(),
      epoch: selfAd?.epoch ?? this.membership.epoch
    }
    const records = new Map(this.origin.reputation.view(now).map(v => [v.peer, v]))
    const recordOf = (id: string): Pick<PeerView, 'record'> => {
      const r = records.get(id)
      return r === undefined ? {} : { record: { delivered: r.delivered, faults: r.faults, reliability: r.reliability, byKind: r.byKind } }
    }
    const others = this.membership.table.entries()
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((e): PeerView => ({
        id: e.id,
        self: false,
        state: e.state,
        reason: e.reason,
        since: e.since,
        lastSeen: e.lastSeen,
        addrs: e.ad.addrs,
        capacity: e.ad.capacity,
        free: e.ad.free,
        cpuModel: e.ad.cpuModel,
        gpus: e.ad.gpus,
        load: e.ad.load,
        tasks: e.ad.tasks,
        speed: e.ad.speed,
        caps: e.ad.caps,
        epoch: e.ad.epoch,
        ...(e.ad.busy !== undefined ? { busy: e.ad.busy } : {}),
        ...cacheView(e.ad),
        ...recordOf(e.id)
      }))
    return [self, ...others]
  }

  stats (): PeerStats {
    const m = this.membership.drops
    const byReason = { ...m.counts }
    for (const [k, v] of Object.entries(this.#drops.counts)) byReason[k as DropReason] += v
    return {
      dropped: { total: m.total + this.#drops.total, byReason },
      executor: { ...this.executor.counts(), outbox: this.executor.outboxSize() }
    }
  }

  /** Each GPU with the memory running attempts leave free, and whether one holds it whole. */
  #gpuAd (): ResourceAd['gpus'] {
    const state = this.executor.gpuState()
    return this.gpus.slice(0, AD_LIMITS.maxGpus).map((g, i) => {
      const d = state[i]
      if (d === undefined) return g
      return { ...g, ...(g.memoryMB > 0 ? { freeMemoryMB: Math.min(g.memoryMB, d.freeMemoryMB) } : {}), ...(d.whole ? { whole: true } : {}) }
    })
  }

  #advertise (): AdBody {
    const { probe } = this.#c
    const load = probe.load()
    return {
      capacity: this.capacity,
      free: this.#free,
      cpuModel: probe.machine.cpuModel.slice(0, AD_LIMITS.maxNameLength),
      gpus: this.#gpuAd(),
      load: { avg1: load.avg1, cpuBusy: load.cpuBusy, eventLoopDelayMs: load.eventLoopDelayMs, ...(load.meshCpuBusy !== undefined ? { meshCpuBusy: load.meshCpuBusy } : {}) },
      tasks: this.executor.counts(),
      speed: probe.speed,
      caps: this.#caps(),
      ...this.#c.adExtras?.(),
      ...(this.executor.yieldReason !== undefined ? { busy: this.executor.yieldReason.slice(0, AD_LIMITS.maxReasonLength) } : {})
    }
  }
}

/** The cache and warm-model part of a peer's row, from its ad. */
function cacheView (ad: Pick<ResourceAd, 'artifacts' | 'cache' | 'warm'>): Pick<PeerView, 'cache' | 'warm'> {
  return {
    ...(ad.cache !== undefined ? { cache: { ...ad.cache, artifacts: ad.artifacts?.length ?? 0 } } : {}),
    ...(ad.warm !== undefined && ad.warm.length > 0 ? { warm: ad.warm } : {})
  }
}
