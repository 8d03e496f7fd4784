/**
 * The executor side of a peer, assembled from one module per concern
 * (docs/ARCHITECTURE.md §13). It reads as the pipeline a task goes through:
 *
 *   call for bids ─▶ BidDesk (LP, holds) ─▶ award ─▶ Admission (accept/reject, queue)
 *     ─▶ runAttempt (the runner) ─▶ ResultOutbox (durable, batched, resent until acked)
 *
 * with heartbeats (leases, load sampling) and LoadShift (yield, give back)
 * alongside. Driven by messages and the injected clock only.
 */
import type { Bid, CallForBids, OpenTask } from '../../protocols/auction.ts'
import type { ArtifactStore } from './artifact-store.ts'
import type { MeshMetrics } from '../metrics.ts'
import { attemptRefOf, taskMsg, type ExecutorToOrigin, type OriginToExecutor, type AttemptRef } from '../../protocols/task.ts'
import type { Clock, TimerHandle } from '../clock.ts'
import type { Logger } from '../logger.ts'
import type { PeerAbility } from '../auction/feasibility.ts'
import type { LpSolver } from '../auction/lp.ts'
import { ByJob } from '../keys.ts'
import { Ledger, fromUnits, ledgerQueueDepth } from '../resources/ledger.ts'
import type { LoadSample } from '../resources/capacity.ts'
import { Admission, type Attempt } from './admission.ts'
import { runAttempt } from './attempt-runner.ts'
import { BidDesk } from './bid-desk.ts'
import { GpuDevices, type GpuDeviceState } from './gpu-devices.ts'
import type { BlobStore } from './blob-store.ts'
import { LoadShift, type LoadShiftInit } from './load-shift.ts'
import type { OutboxStore } from './outbox.ts'
import { ResultOutbox } from './result-outbox.ts'
import type { TaskRunner } from './runner.ts'

export type { BlobStore } from './blob-store.ts'

/** The heartbeat period of an executor with nothing running (see #scheduleHeartbeat). */
const IDLE_HEARTBEAT_MS = 1000
/** Durations kept for the queue-wait estimate in bids. */
const RECENT_DURATIONS = 50

export interface ExecutorComponents {
  clock: Clock
  logger: Logger
  runner: TaskRunner
  solver: LpSolver
  blobs: BlobStore
  /** Send a task-protocol message to an origin (or to this peer's own origin side). */
  send: (peer: string, msg: ExecutorToOrigin) => Promise<boolean>
  sendBid: (peer: string, bid: Bid) => Promise<boolean>
  /** Free capacity changed (for early ads). */
  onCapacityChange: () => void
  /** Where finished results wait for their acknowledgement; durable in a daemon. */
  outbox: OutboxStore
  /** The machine's latest load sample (for load shift); absent: never yield. */
  load?: () => LoadSample
  /** What this peer is and can run, current at call time (handlers may be registered later). */
  ability: () => PeerAbility
  /** Where tasks' artifacts come from (a disk cache and fetches from other peers in a daemon). */
  artifacts?: ArtifactStore
  /** What this peer must do before a task could start here (fetch missing artifacts, warm a model), ms. */
  setupMs?: (t: OpenTask) => number
  /** Counts for operators (`/metrics`). */
  metrics?: MeshMetrics
}

export interface ExecutorInit {
  capacity: PeerAbility['capacity']
  /** Each GPU's memory in MB (0 = unknown), device 0 first; absent: `capacity.gpu` devices of unknown memory. */
  gpuMemoryMB?: readonly number[]
  speed: number
  queueDepth: number
  heartbeatMs: number
  bidWindowMs: number
  /** A result whose origin never acknowledges it is dropped after this long. */
  resultTtlMs: number
  /** Load shift: when and how to give work back. Absent: never yield. */
  yield?: LoadShiftInit
}

export class Executor {
  readonly ledger: Ledger
  readonly #c: ExecutorComponents
  readonly #init: ExecutorInit
  readonly #bids: BidDesk
  readonly #admission: Admission
  readonly #gpus: GpuDevices
  readonly #outbox: ResultOutbox
  readonly #loadShift: LoadShift | undefined
  /** Recent attempt durations (ms), for the queue-wait estimate in bids. */
  #recentMs: number[] = []
  #typical: number | undefined
  #heartbeat: TimerHandle | undefined
  /** The armed heartbeat is the idle one (nothing running, load sampling only). */
  #heartbeatIdle = false
  #running = false

  constructor (c: ExecutorComponents, init: ExecutorInit) {
    this.#c = c
    this.#init = init
    this.ledger = new Ledger(init.capacity, ledgerQueueDepth(init.queueDepth))
    const released = (): void => { this.#released() }
    this.#gpus = new GpuDevices(init.gpuMemoryMB ?? init.capacity.gpu)
    this.#admission = new Admission({
      ledger: this.ledger,
      gpus: this.#gpus,
      warn: (fields, msg) => { c.logger.warn(fields, msg) },
      ability: c.ability,
      start: a => { this.#start(a) },
      released
    })
    this.#bids = new BidDesk({
      clock: c.clock,
      ledger: this.ledger,
      solver: c.solver,
      speed: init.speed,
      queueDepth: init.queueDepth,
      ability: c.ability,
      sendBid: async (origin, bid) => {
        if (bid.bids.length > 0) c.metrics?.inc('meshwork_bids_sent_total', {}, bid.bids.length)
        return await c.sendBid(origin, bid)
      },
      released,
      queueWaitMs: () => this.#queueWaitMs(),
      typicalMs: () => this.#typicalMs(),
      queueAheadMs: (ms, rankMs) => this.#admission.queueAheadMs(ms, rankMs),
      yieldReason: () => this.yieldReason,
      counts: () => this.counts(),
      gpus: () => this.#gpus.clone(),
      ...(c.setupMs !== undefined ? { setupMs: c.setupMs } : {})
    })
    this.#outbox = new ResultOutbox({
      self: c.ability().id,
      clock: c.clock,
      logger: c.logger,
      blobs: c.blobs,
      store: c.outbox,
      send: c.send,
      resultTtlMs: init.resultTtlMs,
      sendProgress: (attempts, started) => { this.#sendProgress(attempts, started) }
    })
    const load = c.load
    this.#loadShift = init.yield === undefined || load === undefined
      ? undefined
      : new LoadShift(init.yield, { ledger: this.ledger, logger: c.logger, load, released, giveBack: (list, reason) => { this.#giveBack(list, reason) }, attempts: () => this.#admission.values() })
  }

  /** Why this peer is not taking work now (load shift), for status displays. */
  get yieldReason (): string | undefined { return this.#loadShift?.reason }

  /** Start; results left in the outbox by an earlier run are loaded and sent again. */
  async start (): Promise<void> {
    this.#running = true
    this.#scheduleHeartbeat()
    await this.#outbox.start()
  }

  stop (): void {
    this.#running = false
    if (this.#heartbeat !== undefined) this.#c.clock.clearTimeout(this.#heartbeat)
    this.#bids.stop()
    this.#outbox.stop()
    for (const a of this.#admission.values()) a.abort.abort()
  }

  /** `peer` is reachable again (back from gone, or restarted): send its results now rather than after the backoff. */
  originBack (peer: string): void { this.#outbox.originBack(peer) }

  /** `peer` left the mesh: what this peer held for its calls is free again now. */
  originGone (peer: string): void { if (this.#bids.originGone(peer)) this.#released() }

  /** Counts for ads and `mesh peers`. */
  counts (): { running: number, queued: number } {
    let running = 0
    for (const a of this.#admission.values()) if (a.state === 'running') running++
    return { running, queued: this.#admission.size - running }
  }

  /** Attempts this peer holds, for status displays and tests. */
  attempts (): Array<{ jobId: string, taskId: string, attempt: number, origin: string, state: 'queued' | 'running' }> {
    return [...this.#admission.values()].map(a => ({ jobId: a.jobId, taskId: a.task.taskId, attempt: a.task.attempt, origin: a.origin, state: a.state }))
  }

  outboxSize (): number { return this.#outbox.size }

  /** Free capacity as Resources (for ads). */
  free (): PeerAbility['capacity'] { return fromUnits(this.ledger.freeNow()) }

  /** Each GPU device, with the memory running attempts leave free (for ads and `mesh peers`). */
  gpuState (): GpuDeviceState[] { return this.#gpus.state() }

  /** A call for bids arrived (from gossip, or from this peer's own origin). */
  onCallForBids (cfb: CallForBids): void {
    if (this.#running) this.#bids.onCallForBids(cfb)
  }

  onTaskMessage (from: string, msg: OriginToExecutor): void {
    if (!this.#running) return
    switch (msg.type) {
      case 'award': {
        const { accepted, rejected } = this.#admission.admit(from, msg)
        if (accepted.length > 0) this.#c.metrics?.inc('meshwork_bids_won_total', {}, accepted.length)
        void this.#c.send(from, taskMsg.accept(msg.jobId, accepted, rejected))
        // The award says the round closed: what it did not claim is free again.
        this.#bids.roundClosed(from, msg.jobId, msg.round)
        // Leases start now: heartbeats at their own period from here, not at the idle one.
        if (this.#heartbeatIdle && this.#admission.size > 0 && this.#heartbeat !== undefined) {
          this.#c.clock.clearTimeout(this.#heartbeat)
          this.#scheduleHeartbeat()
        }
        // Rejections and the round's other holds were released.
        this.#released()
        return
      }
      case 'closed':
        if (this.#bids.roundClosed(from, msg.jobId, msg.round)) this.#released()
        return
      case 'ack': this.#outbox.onAck(from, msg); return
      case 'cancel': this.cancel(from, msg.jobId, msg.tasks, msg.reason)
    }
  }

  /** Stop attempts of a job (all, or the listed ones) for `origin`. */
  cancel (origin: string, jobId: string, tasks: AttemptRef[] | undefined, reason: string): void {
    for (const a of this.#admission.select(origin, jobId, tasks)) {
      this.#c.logger.debug({ jobId, taskId: a.task.taskId, reason }, 'attempt cancelled')
      a.abort.abort()
      this.#admission.finish(a)
    }
    if (tasks === undefined) this.#outbox.dropJob(origin, jobId)
  }

  /**
   * Capacity was given back to the ledger (a hold expired or was released, a
   * reservation ended, a yield ended): start what the queue holds, then tell
   * the mesh. Every release goes through here, or queued work could wait on an
   * idle peer forever (found by the simulator, seed 3).
   */
  #released (): void {
    this.#admission.startQueued()
    this.#c.onCapacityChange()
  }

  #start (a: Attempt): void {
    a.state = 'running'
    a.startedAt = this.#c.clock.now()
    // Starts are told in batches, with results, on the next flush: many short tasks start together.
    this.#outbox.noteStarted(a)
    void this.#run(a)
  }

  async #run (a: Attempt): Promise<void> {
    const outcome = await runAttempt(a, {
      runner: this.#c.runner,
      blobs: this.#c.blobs,
      sendCheckpoint: (origin, msg) => { void this.#c.send(origin, msg) },
      holds: x => this.#admission.has(x.key),
      now: () => this.#c.clock.now(),
      ...(this.#c.artifacts !== undefined ? { artifacts: this.#c.artifacts } : {})
    })
    if (a.abort.signal.aborted || !this.#admission.has(a.key)) return // cancelled: nobody wants this result
    // The task's work, without fetching its artifacts: bids price a fetch separately, by what a peer lacks.
    const durationMs = this.#c.clock.now() - (a.startedAt ?? this.#c.clock.now()) - (outcome.artifactMs ?? 0)
    this.#recentMs.push(durationMs)
    if (this.#recentMs.length > RECENT_DURATIONS) this.#recentMs.shift()
    this.#typical = [...this.#recentMs].sort((a, b) => a - b)[Math.floor(this.#recentMs.length / 2)]
    this.#admission.finish(a)
    this.#outbox.deliver(a, outcome, durationMs)
  }

  /**
   * How long until queued work can start here: until the first running attempt
   * is expected to end (its start plus its work at this peer's speed, when the
   * award said its work), else the median recent attempt's length.
   */
  #queueWaitMs (): number | undefined {
    const typical = this.#typicalMs()
    const now = this.#c.clock.now()
    let wait = Infinity
    for (const a of this.#admission.values()) {
      if (a.state !== 'running' || a.startedAt === undefined || a.task.workMs === undefined) continue
      const left = a.startedAt + a.task.workMs / Math.max(this.#init.speed, 0.01) - now
      // Past its expected end, nobody knows: as long as a typical attempt, as when nothing is known.
      wait = Math.min(wait, left > 0 ? left : (typical ?? 0))
    }
    return wait < Infinity ? wait : typical
  }

  /** The median length of this peer's recent attempts, if it has run any (kept as they finish: bids ask for it on every call). */
  #typicalMs (): number | undefined { return this.#typical }

  #giveBack (list: Attempt[], reason: string): void {
    const groups = new ByJob<Attempt>()
    for (const a of list) {
      a.abort.abort()
      this.#admission.finish(a)
      groups.add(a.origin, a.jobId, a)
    }
    for (const { peer, jobId, items } of groups) void this.#c.send(peer, taskMsg.release(jobId, items.map(a => ({ ...attemptRefOf(a.task), reason }))))
  }

  /**
   * Heartbeats keep running attempts' leases, and sample load for load shift.
   * With nothing running only the sampling is left, and a sample a second
   * (IDLE_HEARTBEAT_MS) is plenty against a sustain window of seconds: an idle
   * peer wakes half as often.
   */
  #scheduleHeartbeat (): void {
    this.#heartbeatIdle = this.#admission.size === 0
    this.#heartbeat = this.#c.clock.setTimeout(() => {
      if (!this.#running) return
      this.#loadShift?.check(this.#c.clock.now())
      this.#sendProgress([...this.#admission.values()], false)
      this.#scheduleHeartbeat()
    }, this.#heartbeatIdle ? Math.max(this.#init.heartbeatMs, IDLE_HEARTBEAT_MS) : this.#init.heartbeatMs)
  }

  #sendProgress (attempts: Attempt[], started: boolean): void {
    const groups = new ByJob<Attempt>()
    for (const a of attempts) groups.add(a.origin, a.jobId, a)
    for (const { peer, jobId, items } of groups) {
      void this.#c.send(peer, taskMsg.progress(jobId, items.map(a => ({ ...attemptRefOf(a.task), running: started || a.state === 'running', fraction: a.fraction, message: a.message }))))
    }
  }
}
