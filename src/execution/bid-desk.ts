/**
 * The bid desk (docs/ARCHITECTURE.md §5, §17): answers each call for bids with
 * the bids the local LP chooses, holding in the ledger what it bids until the
 * bid expires or an award claims it. Holds are scoped to the job's latest
 * round: a call for round r means round r−1 has closed, so its unclaimed holds
 * are released at once instead of idling until they expire.
 *
 * What one caller can hold is bounded. A hold lasts the call's window (at most
 * the widest window an origin uses) plus a grace for the award to travel, not
 * four times whatever window the call claims: one call with a 60 s window held
 * every bidder's capacity for 240 s. A caller that let a round's holds expire
 * without an award or a `closed` (honest origins always send one) is quiet:
 * its calls are answered with bids but hold nothing, until it closes a round
 * again. An origin that leaves (gone) has its holds released at once. And a
 * call never finds the peer held full by others: each origin holding capacity
 * to start work now keeps at most an equal share of it while another calls,
 * the rest released for the new call (an award that then finds no room is
 * rejected and auctioned again).
 */
import { AUCTION_LIMITS, auctionMsg, type Bid, type CallForBids, type OpenTask } from '../../protocols/auction.ts'
import { Alarm, type Clock } from '../clock.ts'
import type { PeerAbility } from '../auction/feasibility.ts'
import { decideBids, medianWorkMs } from '../auction/bidder.ts'
import type { LpSolver } from '../auction/lp.ts'
import { acceptsOrigin } from '../auction/requirements.ts'
import { attemptKey, type AttemptKey } from '../keys.ts'
import { fitsIn, queueDepthFor, toUnits, type Ledger, type Units } from '../resources/ledger.ts'
import type { GpuDevices } from './gpu-devices.ts'

export interface BidDeskDeps {
  clock: Clock
  ledger: Ledger
  solver: LpSolver
  speed: number
  /** `auction.queueDepth` from the config. */
  queueDepth: number
  ability: () => PeerAbility
  sendBid: (origin: string, bid: Bid) => Promise<boolean>
  /** Capacity went back to the ledger (expired or released holds). */
  released: () => void
  /** Expected wait before queued work starts here (until a running attempt should end), if known. */
  queueWaitMs: () => number | undefined
  /** The median length of this peer's recent attempts, if it has run any. */
  typicalMs: () => number | undefined
  /** Time for the work queued here to drain, given a typical task length. */
  queueAheadMs: (typicalMs: number, rankMs?: number) => number
  /** Why this peer takes no work now (load shift), if it does not. */
  yieldReason: () => string | undefined
  counts: () => { running: number, queued: number }
  /** A copy of this peer's GPU devices as they are now, for the bidder to place shares on. */
  gpus?: () => GpuDevices
  /** Time to fetch what a task needs and this peer lacks (see BidderView.setupMs). */
  setupMs?: (t: OpenTask) => number
}

/** How long after a call's window an award may take to arrive (its origin journals it first) while the hold stands. */
export const HOLD_GRACE_MS = 1000

/** Quiet origins remembered at most. */
const MAX_QUIET = 4096

/** How long a bid holds its capacity for a call with this window. */
export function holdMs (windowMs: number): number {
  return Math.min(windowMs, AUCTION_LIMITS.maxBidWindowMs) + HOLD_GRACE_MS
}

export class BidDesk {
  readonly #d: BidDeskDeps
  /** Holds placed for each (origin, job)'s latest round. */
  readonly #roundHolds = new Map<string, Map<string, { round: number, keys: AttemptKey[] }>>()
  /** Origins that let a round's holds expire unclaimed: their calls get bids without holds. */
  readonly #quiet = new Set<string>()
  readonly #holdAlarm: Alarm
  #running = true

  constructor (deps: BidDeskDeps) {
    this.#d = deps
    // Fires at the earliest hold expiry (bids from origins with different windows expire out of order).
    this.#holdAlarm = new Alarm(deps.clock, () => {
      if (!this.#running) return
      if (deps.ledger.expireHolds(deps.clock.now()) > 0) {
        this.#noteUnclaimed()
        deps.released()
      }
      this.#armHoldExpiry()
    })
  }

  /** `origin` left the mesh: what it held here is free now, not when its bids expire. */
  originGone (origin: string): boolean {
    const jobs = this.#roundHolds.get(origin)
    if (jobs === undefined) return false
    let freed = false
    for (const { keys } of jobs.values()) {
      for (const key of keys) if (this.#d.ledger.kindOf(key) === 'hold') { this.#d.ledger.release(key); freed = true }
    }
    this.#roundHolds.delete(origin)
    return freed
  }

  /**
   * A call from `origin` arrived: every other origin holding capacity to start
   * now keeps at most an equal share of it (of each resource), its newest
   * holds released beyond that. Returns whether any was.
   */
  #shareWith (origin: string): boolean {
    const { ledger } = this.#d
    const others = [...this.#roundHolds.keys()].filter(o => o !== origin)
    if (others.length === 0) return false
    const share = 1 / (others.length + 1)
    let freed = false
    for (const o of others) {
      const keys = [...this.#roundHolds.get(o)!.values()].flatMap(e => e.keys).filter(k => ledger.kindOf(k) === 'hold' && ledger.slotOf(k) === 'now')
      const held: Units = new Map()
      for (const k of keys) for (const [r, v] of ledger.demandOf(k)!) held.set(r, (held.get(r) ?? 0) + v)
      const over = (): boolean => [...held].some(([r, v]) => v > share * (ledger.capacity.get(r) ?? 0))
      while (keys.length > 0 && over()) {
        const k = keys.pop()!
        for (const [r, v] of ledger.demandOf(k)!) held.set(r, (held.get(r) ?? 0) - v)
        ledger.release(k)
        freed = true
      }
    }
    return freed
  }

  /**
   * Rounds whose holds all expired with no award and no `closed`: their origins
   * go quiet. (An award removes its round's entry, so one still here whose
   * keys are no longer held was never claimed.)
   */
  #noteUnclaimed (): void {
    const { ledger } = this.#d
    for (const [origin, jobs] of this.#roundHolds) {
      for (const [jobId, { keys }] of jobs) {
        if (keys.some(k => ledger.kindOf(k) === 'hold')) continue
        jobs.delete(jobId)
        this.#quiet.add(origin)
        // Bounded, whatever number of identities calls: the oldest quiet origin is forgotten first.
        if (this.#quiet.size > MAX_QUIET) this.#quiet.delete(this.#quiet.values().next().value!)
      }
      if (jobs.size === 0) this.#roundHolds.delete(origin)
    }
  }

  stop (): void {
    this.#running = false
    this.#holdAlarm.cancel()
  }

  /** A call for bids arrived (from gossip, or from this peer's own origin). */
  onCallForBids (cfb: CallForBids): void {
    const { ledger, clock } = this.#d
    const ability = this.#d.ability()
    if (!acceptsOrigin(ability.caps.origins, cfb.origin)) return
    const now = clock.now()
    let freed = ledger.expireHolds(now) > 0
    if (this.#shareWith(cfb.origin)) freed = true
    const jobs = this.#roundHolds.get(cfb.origin)
    const previous = jobs?.get(cfb.jobId)
    if (previous !== undefined && previous.round < cfb.round) {
      for (const key of previous.keys) {
        if (ledger.kindOf(key) === 'hold') { ledger.release(key); freed = true }
      }
      jobs!.delete(cfb.jobId)
      if (jobs!.size === 0) this.#roundHolds.delete(cfb.origin)
    }
    // Queued work goes first into whatever the released holds freed.
    if (freed) this.#d.released()
    const queueWaitMs = this.#d.queueWaitMs()
    const typicalMs = this.#d.typicalMs()
    const aheadByRank = new Map<number, number>()
    // Queue as deep as these tasks' length calls for: about two bid windows of work per slot.
    const depth = queueDepthFor(medianWorkMs(cfb.tasks), this.#d.queueDepth, 2 * cfb.windowMs)
    const decision = decideBids(cfb.tasks, {
      self: ability,
      speed: this.#d.speed,
      freeNow: ledger.freeNow(),
      queueRoom: ledger.queueRoom(depth),
      ...(this.#d.gpus !== undefined ? { gpus: this.#d.gpus() } : {}),
      queueWaitMs,
      ...(this.#d.setupMs !== undefined ? { setupMs: this.#d.setupMs } : {}),
      queueAheadFor: rankMs => {
        // Once per rank per call: a fan-out's tasks share one, and each lookup walks the queue.
        let ms = aheadByRank.get(rankMs)
        if (ms === undefined) aheadByRank.set(rankMs, ms = this.#d.queueAheadMs(typicalMs ?? 0, rankMs))
        return ms
      }
    }, this.#d.solver)
    // A capable peer always answers, even with no bids, so the origin can close the round early.
    if (decision.skipped.length === cfb.tasks.length) return
    // A quiet origin gets the same bids, but nothing is held for them (an award still finds
    // room if it is free then); any other holds for the call's window and a grace.
    const holds = !this.#quiet.has(cfb.origin)
    const validMs = holds ? holdMs(cfb.windowMs) : 1
    const bids: Bid['bids'] = []
    const held: AttemptKey[] = []
    for (const b of decision.bids) {
      const key = attemptKey(cfb.origin, cfb.jobId, b.task.id, b.task.attempt)
      if (holds && !ledger.hold(key, b.demand, b.slot, now + validMs)) continue
      bids.push({ taskId: b.task.id, attempt: b.task.attempt, etaMs: Math.round(b.etaMs * 10) / 10, ...(b.slot === 'queue' ? { queued: true } : {}) })
      if (holds) held.push(key)
    }
    if (held.length > 0) {
      let byJob = this.#roundHolds.get(cfb.origin)
      if (byJob === undefined) this.#roundHolds.set(cfb.origin, byJob = new Map())
      const entry = byJob.get(cfb.jobId) ?? { round: cfb.round, keys: [] }
      entry.keys.push(...held)
      byJob.set(cfb.jobId, entry)
    }
    const skipped = new Set(decision.skipped.map(s => s.taskId))
    const bidFor = new Set(bids.map(b => b.taskId))
    const unbid = cfb.tasks.find(t => !skipped.has(t.id) && !bidFor.has(t.id))
    const declined = unbid !== undefined ? this.#declined(unbid, queueWaitMs) : undefined
    const cpu = ledger.capacity.get('cpu') ?? 0
    const load = cpu > 0 ? 1 - (ledger.freeNow().get('cpu') ?? 0) / cpu : 1
    void this.#d.sendBid(cfb.origin, auctionMsg.bid({ jobId: cfb.jobId, round: cfb.round, load: Math.max(0, load), validMs, bids, ...(declined !== undefined ? { declined } : {}) }))
    this.#armHoldExpiry()
  }

  /**
   * `origin`'s round `round` of job `jobId` closed (an award or a `closed`
   * message says so): holds placed for it that no award claimed are released
   * now instead of when they expire. Returns whether any was.
   */
  roundClosed (origin: string, jobId: string, round: number): boolean {
    // It closes its rounds: its calls may hold capacity again.
    this.#quiet.delete(origin)
    const byJob = this.#roundHolds.get(origin)
    const held = byJob?.get(jobId)
    if (held === undefined || held.round > round) return false
    let freed = false
    for (const key of held.keys) {
      if (this.#d.ledger.kindOf(key) === 'hold') { this.#d.ledger.release(key); freed = true }
    }
    byJob!.delete(jobId)
    if (byJob!.size === 0) this.#roundHolds.delete(origin)
    return freed
  }

  /** Why this peer did not bid for a task it can run (`task`, the first such): yielding, no room, or too slow. */
  #declined (task: OpenTask, queueWaitMs: number | undefined): string {
    const yieldReason = this.#d.yieldReason()
    if (yieldReason !== undefined) return `yielding: ${yieldReason}`.slice(0, AUCTION_LIMITS.maxReasonLength)
    const { ledger } = this.#d
    if (fitsIn(toUnits(task.demand), ledger.freeNow())) return 'has room, but its ETA for the task outweighed the task\'s value (a slow peer bids only for work worth its time)'
    const { running, queued } = this.#d.counts()
    const until = queueWaitMs !== undefined ? `; busy for about ${Math.max(1, Math.round(queueWaitMs / 100) / 10)} s more` : ''
    return `no room now or in its queue (${running} running, ${queued} queued${until})`
  }

  #armHoldExpiry (): void {
    const next = this.#d.ledger.nextExpiry()
    if (next !== undefined) this.#holdAlarm.armAt(next)
  }
}
