/**
 * MeshPeer: the core of one peer, composed from its parts. It knows nothing of
 * libp2p or the OS: `node/createPeer` hands it a libp2p transport, the system
 * clock and a machine probe; tests hand it a `MemoryNetwork` and a `ManualClock`.
 */
import type { Clock } from './clock.ts'
import type { MeshConfig } from './config.ts'
import { MeshError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Transport } from './transport.ts'
import { Membership, type AdBody } from './membership/membership.ts'
import type { PeerState } from './membership/peer-table.ts'
import { computeCapacity, isSignificantChange, type ResourceProbe } from './resources/capacity.ts'
import type { DropReason } from '../protocols/codec.ts'
import type { ResourceAd, Resources } from '../protocols/resources.ts'

export interface MeshPeerComponents {
  transport: Transport
  clock: Clock
  logger: Logger
  probe: ResourceProbe
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
}

export interface PeerStats {
  dropped: { total: number, byReason: Record<DropReason, number> }
}

export class MeshPeer {
  readonly config: MeshConfig
  readonly membership: Membership
  /** What this peer offers the mesh (machine or config, minus the owner's reserve). */
  readonly capacity: Resources
  readonly #c: MeshPeerComponents
  #free: Resources
  #state: 'new' | 'started' | 'stopped' = 'new'

  constructor (components: MeshPeerComponents, config: MeshConfig) {
    this.#c = components
    this.config = config
    this.capacity = computeCapacity(components.probe.machine, config.resources)
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
  }

  get id (): string { return this.#c.transport.self }
  get started (): boolean { return this.#state === 'started' }

  start (): void {
    if (this.#state === 'started') return
    if (this.#state === 'stopped') throw new MeshError('MESH_ERR_STATE', 'a stopped peer cannot be restarted; create a new one')
    this.#state = 'started'
    this.membership.start()
  }

  /** Stop; `goodbye: false` skips the leaving ad (used to emulate a crash in tests). */
  async stop (opts: { goodbye?: boolean } = {}): Promise<void> {
    if (this.#state !== 'started') { this.#state = 'stopped'; return }
    this.#state = 'stopped'
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
    const self: PeerView = {
      ...this.#advertise(),
      id: this.id,
      self: true,
      state: 'alive',
      reason: 'this peer',
      since: this.membership.epoch,
      lastSeen: now,
      addrs: this.#c.transport.addresses(),
      epoch: selfAd?.epoch ?? this.membership.epoch
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
        epoch: e.ad.epoch
      }))
    return [self, ...others]
  }

  stats (): PeerStats {
    const d = this.membership.drops
    return { dropped: { total: d.total, byReason: { ...d.counts } } }
  }

  #advertise (): AdBody {
    const { probe } = this.#c
    const load = probe.load()
    const { executor } = this.config
    return {
      capacity: this.capacity,
      free: this.#free,
      cpuModel: probe.machine.cpuModel.slice(0, 128),
      gpus: probe.machine.gpus.slice(0, 16),
      load: { avg1: load.avg1, cpuBusy: load.cpuBusy, eventLoopDelayMs: load.eventLoopDelayMs },
      tasks: { running: 0, queued: 0 },
      speed: probe.speed,
      caps: {
        kinds: executor.exec.allow.length > 0 ? ['handler', 'exec'] : ['handler'],
        handlers: Object.keys(executor.handlers).slice(0, 64),
        commands: executor.exec.allow.slice(0, 64),
        tags: this.config.tags
      }
    }
  }
}
