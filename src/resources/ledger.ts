/**
 * The capacity ledger: what this peer has promised. Amounts are kept as integer
 * milli-units (1 core = 1000), as Ray's FixedPoint does, so adding and releasing
 * many fractional demands never drifts.
 *
 *   free now   = capacity − reserved(running + starting) − holds for immediate bids
 *   queue room = queueDepth × capacity − reserved(queued) − holds for queued bids
 *
 * Invariant (checked by tests and the simulator): reserved-now + held-now ≤ capacity
 * in every resource, at every moment.
 */
import type { Resources } from '../../protocols/resources.ts'

export type Units = Map<string, number>

const SCALE = 1000

export function toUnits (r: Resources): Units {
  const u: Units = new Map([['cpu', Math.round(r.cpu * SCALE)], ['memoryMB', Math.round(r.memoryMB * SCALE)], ['gpu', Math.round(r.gpu * SCALE)]])
  // GPU memory as one total: capacity is the sum over devices, a demand counts its
  // per-device need once. Which device has room is GpuDevices' to say, when the attempt starts.
  if (r.gpuMemoryMB !== undefined && r.gpuMemoryMB > 0) u.set('gpuMemoryMB', Math.round(r.gpuMemoryMB * SCALE))
  for (const [k, v] of Object.entries(r.custom)) u.set(`custom:${k}`, Math.round(v * SCALE))
  return u
}

export function fromUnits (u: Units): Resources {
  const custom: Record<string, number> = {}
  for (const [k, v] of u) if (k.startsWith('custom:')) custom[k.slice(7)] = v / SCALE
  const gpuMemory = u.get('gpuMemoryMB')
  return {
    cpu: (u.get('cpu') ?? 0) / SCALE,
    memoryMB: Math.floor((u.get('memoryMB') ?? 0) / SCALE),
    gpu: (u.get('gpu') ?? 0) / SCALE,
    ...(gpuMemory !== undefined ? { gpuMemoryMB: Math.max(0, Math.floor(gpuMemory / SCALE)) } : {}),
    custom
  }
}

/** Does `demand` fit in `room` in every resource? (A resource absent from `room` has none.) */
export function fitsIn (demand: Units, room: Units): boolean {
  for (const [k, v] of demand) if (v > 0 && v > (room.get(k) ?? 0)) return false
  return true
}

/**
 * How many times `demand` fits in `room` (Infinity when it demands nothing:
 * callers cap it). The one copy used by round sizing and the bidder.
 */
export function fitCount (demand: Units, room: Units): number {
  let n = Infinity
  for (const [k, v] of demand) if (v > 0) n = Math.min(n, Math.floor(Math.max(0, room.get(k) ?? 0) / v))
  return n
}

function add (a: Units, b: Units, sign: 1 | -1): void {
  for (const [k, v] of b) a.set(k, (a.get(k) ?? 0) + sign * v)
}

/** The deepest a queue gets for very short tasks, in multiples of capacity (unless `auction.queueDepth` is larger). */
export const MAX_QUEUE_DEPTH = 256

/**
 * How deep a peer queues tasks of about `workMs` each, in multiples of its
 * capacity: at least `queueDepth` (config), and for short tasks enough to stay
 * busy for `horizonMs` — about the time until the next round's awards can
 * arrive — so trivial tasks are not throttled to one round trip per slot.
 * `queueDepth` 0 turns queueing off.
 */
export function queueDepthFor (workMs: number, queueDepth: number, horizonMs: number): number {
  if (queueDepth === 0) return 0
  const byTime = Math.floor(horizonMs / Math.max(workMs, 0.01))
  return Math.max(queueDepth, Math.min(MAX_QUEUE_DEPTH, byTime))
}

/** The ledger's queue capacity for a configured `queueDepth`: room for the deepest queue any task gets. */
export function ledgerQueueDepth (queueDepth: number): number {
  return queueDepth === 0 ? 0 : Math.max(queueDepth, MAX_QUEUE_DEPTH)
}

type Slot = 'now' | 'queue'

interface Entry { demand: Units, slot: Slot, kind: 'hold' | 'reserved', until: number }

export class Ledger {
  readonly capacity: Units
  readonly queueCapacity: Units
  /** Everything promised, by key (`origin\njob\ntask\nattempt`). A key is held or reserved, never both. */
  readonly #entries = new Map<string, Entry>()
  readonly #used: Record<Slot, Units> = { now: new Map(), queue: new Map() }

  constructor (capacity: Resources, queueDepth: number) {
    this.capacity = toUnits(capacity)
    this.queueCapacity = new Map([...this.capacity].map(([k, v]) => [k, v * queueDepth]))
  }

  /**
   * While true (the machine's owner needs it: load shift), there is no room
   * for new work at all; what is already reserved keeps its reservation.
   */
  blocked = false

  /** Room for work that would start now. */
  freeNow (): Units {
    if (this.blocked) return new Map([...this.capacity.keys()].map(k => [k, 0]))
    const out = new Map(this.capacity)
    add(out, this.#used.now, -1)
    return out
  }

  /**
   * Room in the bounded queue beyond free capacity: up to the ledger's queue
   * capacity, or up to `depth` × capacity when given (the depth for the tasks
   * at hand, see `queueDepthFor`; never below zero then).
   */
  queueRoom (depth?: number): Units {
    if (this.blocked) return new Map([...this.capacity.keys()].map(k => [k, 0]))
    const out = depth === undefined ? new Map(this.queueCapacity) : new Map([...this.capacity].map(([k, v]) => [k, v * depth]))
    add(out, this.#used.queue, -1)
    if (depth !== undefined) for (const [k, v] of out) if (v < 0) out.set(k, 0)
    return out
  }

  has (key: string): boolean { return this.#entries.has(key) }
  slotOf (key: string): Slot | undefined { return this.#entries.get(key)?.slot }
  kindOf (key: string): 'hold' | 'reserved' | undefined { return this.#entries.get(key)?.kind }
  demandOf (key: string): Units | undefined { return this.#entries.get(key)?.demand }

  /** Hold capacity for a bid until `until` (clock ms). Fails (false) when it does not fit. */
  hold (key: string, demand: Units, slot: Slot, until: number): boolean {
    if (this.#entries.has(key)) return false
    if (!fitsIn(demand, slot === 'now' ? this.freeNow() : this.queueRoom())) return false
    this.#put(key, { demand, slot, kind: 'hold', until })
    return true
  }

  /**
   * Reserve capacity for an accepted attempt: the bid's hold if there is one,
   * else fresh room now, else room in the queue. Returns where it landed, or
   * undefined when there is no room at all.
   */
  reserve (key: string, demand: Units): Slot | undefined {
    const existing = this.#entries.get(key)
    if (existing !== undefined) {
      this.release(key)
    }
    const slot: Slot | undefined = fitsIn(demand, this.freeNow()) ? 'now' : fitsIn(demand, this.queueRoom()) ? 'queue' : undefined
    if (slot === undefined) {
      // Put the hold back: the caller rejects the award, the bid may still be honoured later.
      if (existing !== undefined) this.#put(key, existing)
      return undefined
    }
    this.#put(key, { demand, slot, kind: 'reserved', until: Infinity })
    return slot
  }

  /** Move a queued reservation to running, if it fits now. */
  promote (key: string): boolean {
    const e = this.#entries.get(key)
    if (e === undefined || e.kind !== 'reserved' || e.slot !== 'queue') return false
    add(this.#used.queue, e.demand, -1)
    if (!fitsIn(e.demand, this.freeNow())) {
      add(this.#used.queue, e.demand, 1)
      return false
    }
    e.slot = 'now'
    add(this.#used.now, e.demand, 1)
    return true
  }

  /**
   * Move a running reservation back to the queue: the attempt fitted the
   * totals but no GPU device has room for it yet (GpuDevices). It was
   * admitted already, so it goes back even past the queue's room.
   */
  demote (key: string): boolean {
    const e = this.#entries.get(key)
    if (e === undefined || e.kind !== 'reserved' || e.slot !== 'now') return false
    add(this.#used.now, e.demand, -1)
    e.slot = 'queue'
    add(this.#used.queue, e.demand, 1)
    return true
  }

  release (key: string): void {
    const e = this.#entries.get(key)
    if (e === undefined) return
    this.#entries.delete(key)
    add(this.#used[e.slot], e.demand, -1)
  }

  /** Drop holds whose bids expired. Returns how many were dropped. */
  expireHolds (now: number): number {
    let n = 0
    for (const [key, e] of this.#entries) {
      if (e.kind === 'hold' && e.until <= now) { this.release(key); n++ }
    }
    return n
  }

  /** The earliest hold expiry, for the caller's timer. */
  nextExpiry (): number | undefined {
    let next: number | undefined
    for (const e of this.#entries.values()) if (e.kind === 'hold' && (next === undefined || e.until < next)) next = e.until
    return next
  }

  /** Amounts reserved or held for work starting now (for invariant checks and ads). */
  usedNow (): Units { return new Map(this.#used.now) }

  #put (key: string, e: Entry): void {
    this.#entries.set(key, e)
    add(this.#used[e.slot], e.demand, 1)
  }
}
