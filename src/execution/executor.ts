/**
 * The executor side of a peer: answers calls for bids (holding what it bids),
 * takes awards, runs attempts (at once or from its bounded queue), heartbeats
 * them to their origins, and keeps each result in an outbox until the origin
 * acknowledges it. Driven by messages and the injected clock only.
 */
import type { CallForBids, Bid } from '../../protocols/auction.ts'
import { AUCTION_VERSION } from '../../protocols/auction.ts'
import { encodeMessage } from '../../protocols/codec.ts'
import type { AwardMsg, AwardedTask, BlobRef, FileData, TaskMessage, TaskResult } from '../../protocols/task.ts'
import { TASK_LIMITS, TASK_VERSION } from '../../protocols/task.ts'
import { Alarm, type Clock, type TimerHandle } from '../clock.ts'
import type { Logger } from '../logger.ts'
import type { PeerAbility } from '../auction/feasibility.ts'
import { whyNot } from '../auction/feasibility.ts'
import { decideBids, medianWorkMs } from '../auction/bidder.ts'
import type { LpSolver } from '../auction/lp.ts'
import { Ledger, fromUnits, ledgerQueueDepth, queueDepthFor, toUnits } from '../resources/ledger.ts'
import type { RunOutcome, RunRequest, TaskRunner } from './runner.ts'
import type { OutboxStore } from './outbox.ts'
import { YieldWatcher, type YieldPolicy } from './yield.ts'
import type { LoadSample } from '../resources/capacity.ts'

/** The heartbeat period of an executor with nothing running (see #scheduleHeartbeat). */
const IDLE_HEARTBEAT_MS = 1000

export interface BlobStore {
  put: (bytes: Uint8Array) => BlobRef
  /** Forget a blob once nobody needs it (its result was acknowledged). */
  drop: (ref: BlobRef) => void
  /** Fetch a blob from `peer` (or locally), verified against its sha-256. */
  fetch: (peer: string, ref: BlobRef) => Promise<Uint8Array>
  /** Resolves once every blob put so far is durable; called before writing a record that names one. */
  flush?: () => Promise<void>
  /** Count a reference to a blob a reloaded record names (so acknowledging it frees the blob). */
  retain?: (ref: BlobRef) => void
}

export interface ExecutorComponents {
  clock: Clock
  logger: Logger
  runner: TaskRunner
  solver: LpSolver
  blobs: BlobStore
  /** Send a task-protocol message to a peer (or to this peer's own origin side). */
  send: (peer: string, msg: TaskMessage) => Promise<boolean>
  sendBid: (peer: string, bid: Bid) => Promise<boolean>
  /** Free capacity changed (for early ads). */
  onCapacityChange: () => void
  /** Where finished results wait for their acknowledgement; durable in a daemon. */
  outbox: OutboxStore
  /** The machine's latest load sample (for load shift); absent: never yield. */
  load?: () => LoadSample
  /** What this peer is and can run, current at call time (handlers may be registered later). */
  ability: () => PeerAbility
}

export interface ExecutorInit {
  capacity: PeerAbility['capacity']
  speed: number
  queueDepth: number
  heartbeatMs: number
  bidWindowMs: number
  /** Whose jobs this peer runs. */
  trust: 'mesh' | 'self' | string[]
  /** A result whose origin never acknowledges it is dropped after this long. */
  resultTtlMs: number
  /** Load shift: when and how to give work back. Absent: never yield. */
  yield?: { policy: YieldPolicy, cpuBusyPercent: number, sustainMs: number, memoryReserveMB: number }
}

interface Attempt {
  key: string
  origin: string
  jobId: string
  task: AwardedTask
  state: 'queued' | 'running'
  abort: AbortController
  startedAt?: number
  fraction?: number
  message?: string
  /** The task has saved a checkpoint in this attempt, so it can be given back without losing its work. */
  checkpointed?: boolean
  /** Blobs holding the latest checkpoint (large ones), for the origin to fetch. */
  checkpointBlobs?: BlobRef[]
}

interface OutboxEntry { origin: string, jobId: string, result: TaskResult, at: number, sentAt: number, backoffMs: number, blobs: BlobRef[] }

export const attemptKey = (jobId: string, taskId: string, attempt: number): string => `${jobId}\n${taskId}\n${attempt}`

export class Executor {
  readonly ledger: Ledger
  readonly #c: ExecutorComponents
  readonly #init: ExecutorInit
  readonly #attempts = new Map<string, Attempt>()
  readonly #queue: string[] = []
  readonly #outbox = new Map<string, OutboxEntry>()
  /** Results waiting to be flushed in one batch per (origin, job). */
  readonly #pendingResults = new Map<string, TaskResult[]>()
  #flushTimer: TimerHandle | undefined
  #heartbeat: TimerHandle | undefined
  /** The armed heartbeat is the idle one (nothing running, load sampling only). */
  #heartbeatIdle = false
  #resend: TimerHandle | undefined
  #running = false
  /**
   * Holds placed for each job's latest round. An origin runs one round per job
   * at a time, so a call for round r means round r−1 is closed: holds from it
   * that no award claimed are released at once instead of idling until they
   * expire. (An award that arrives after this still finds room or is rejected;
   * the ledger never over-commits.)
   */
  readonly #roundHolds = new Map<string, { round: number, keys: string[] }>()
  /** Recent attempt durations (ms), for the queue-wait estimate in bids. */
  #recentMs: number[] = []
  /** Attempts started since the last flush, told to their origins in one progress message each. */
  #started: Attempt[] = []

  readonly #yield: YieldWatcher | undefined
  /** Why this peer is not taking work now (load shift), for status displays. */
  yieldReason: string | undefined

  constructor (components: ExecutorComponents, init: ExecutorInit) {
    this.#c = components
    this.#init = init
    this.ledger = new Ledger(init.capacity, ledgerQueueDepth(init.queueDepth))
    this.#yield = init.yield === undefined ? undefined : new YieldWatcher(init.yield, init.yield.memoryReserveMB)
  }

  /** Start; results left in the outbox by an earlier run are loaded and sent again. */
  start (): Promise<void> {
    this.#running = true
    this.#scheduleHeartbeat()
    this.#scheduleResend()
    return this.#c.outbox.load().then(entries => {
      for (const e of entries) {
        if (this.#outbox.has(e.key)) continue
        for (const b of blobsOf(e.result)) this.#c.blobs.retain?.(b)
        this.#outbox.set(e.key, { origin: e.origin, jobId: e.jobId, result: e.result, at: e.at, sentAt: 0, backoffMs: 0, blobs: blobsOf(e.result) })
      }
    })
  }

  /** `peer` is reachable again (back from gone, or restarted): send its results now rather than after the backoff. */
  originBack (peer: string): void {
    for (const e of this.#outbox.values()) if (e.origin === peer) { e.backoffMs = 0; e.sentAt = 0 }
  }

  stop (): void {
    this.#running = false
    for (const h of [this.#heartbeat, this.#resend, this.#flushTimer]) if (h !== undefined) this.#c.clock.clearTimeout(h)
    this.#holdAlarm?.cancel()
    for (const a of this.#attempts.values()) a.abort.abort()
  }

  /** Counts for ads and `mesh peers`. */
  counts (): { running: number, queued: number } {
    let running = 0
    for (const a of this.#attempts.values()) if (a.state === 'running') running++
    return { running, queued: this.#attempts.size - running }
  }

  /** Attempts this peer holds, for status displays and tests. */
  attempts (): Array<{ jobId: string, taskId: string, attempt: number, origin: string, state: 'queued' | 'running' }> {
    return [...this.#attempts.values()].map(a => ({ jobId: a.jobId, taskId: a.task.taskId, attempt: a.task.attempt, origin: a.origin, state: a.state }))
  }

  outboxSize (): number { return this.#outbox.size }

  #trusts (origin: string): boolean {
    const t = this.#init.trust
    if (t === 'mesh') return true
    if (t === 'self') return origin === this.#c.ability().id
    return t.includes(origin) || origin === this.#c.ability().id
  }

  // ── bidding ──────────────────────────────────────────────────────────────

  /** A call for bids arrived (from gossip, or from this peer's own origin). */
  onCallForBids (cfb: CallForBids): void {
    if (!this.#running || !this.#trusts(cfb.origin)) return
    const now = this.#c.clock.now()
    let freed = this.ledger.expireHolds(now) > 0
    const jobKey = `${cfb.origin}\n${cfb.jobId}`
    const previous = this.#roundHolds.get(jobKey)
    if (previous !== undefined && previous.round < cfb.round) {
      for (const key of previous.keys) {
        if (this.ledger.kindOf(key) === 'hold') { this.ledger.release(key); freed = true }
      }
      this.#roundHolds.delete(jobKey)
    }
    // Queued work goes first into whatever the released holds freed.
    if (freed) this.#released()
    const ability = this.#c.ability()
    const queueWaitMs = this.#queueWaitMs()
    // Queue as deep as these tasks' length calls for: about two bid windows of work per slot.
    const depth = queueDepthFor(medianWorkMs(cfb.tasks), this.#init.queueDepth, 2 * cfb.windowMs)
    const decision = decideBids(cfb.tasks, {
      self: ability,
      speed: this.#init.speed,
      freeNow: this.ledger.freeNow(),
      queueRoom: this.ledger.queueRoom(depth),
      queueWaitMs,
      queueAheadMs: this.#queueAheadMs(queueWaitMs ?? 0)
    }, this.#c.solver)
    // A capable peer always answers, even with no bids, so the origin can close the round early.
    if (decision.skipped.length === cfb.tasks.length) return
    const validMs = Math.max(500, cfb.windowMs * 4)
    const bids: Bid['bids'] = []
    for (const b of decision.bids) {
      const key = attemptKey(cfb.jobId, b.task.id, b.task.attempt)
      if (this.ledger.hold(key, b.demand, b.slot, now + validMs)) {
        bids.push({ taskId: b.task.id, attempt: b.task.attempt, etaMs: Math.round(b.etaMs * 10) / 10, ...(b.slot === 'queue' ? { queued: true } : {}) })
        const held = this.#roundHolds.get(jobKey) ?? { round: cfb.round, keys: [] }
        held.keys.push(key)
        this.#roundHolds.set(jobKey, held)
      }
    }
    const cpu = this.ledger.capacity.get('cpu') ?? 0
    const load = cpu > 0 ? 1 - (this.ledger.freeNow().get('cpu') ?? 0) / cpu : 1
    void this.#c.sendBid(cfb.origin, { v: AUCTION_VERSION, jobId: cfb.jobId, round: cfb.round, load: Math.max(0, load), validMs, bids })
    this.#armHoldExpiry()
  }

  /** Time for the work already queued here to drain: each queued attempt's typical length, spread over the cores. */
  #queueAheadMs (typicalMs: number): number {
    const cores = (this.ledger.capacity.get('cpu') ?? 0) / 1000
    if (cores <= 0 || this.#queue.length === 0) return 0
    let coreMs = 0
    for (const key of this.#queue) coreMs += typicalMs * (this.#attempts.get(key)?.task.demand.cpu ?? 1)
    return coreMs / cores
  }

  #queueWaitMs (): number | undefined {
    if (this.#recentMs.length === 0) return undefined
    const sorted = [...this.#recentMs].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]!
  }

  /**
   * Capacity was given back to the ledger (a hold expired or was released, a
   * reservation ended, a yield ended): start what the queue holds, then tell
   * the mesh. Every release goes through here, or queued work could wait on an
   * idle peer forever (found by the simulator, seed 3).
   */
  #released (): void {
    this.#startQueued()
    this.#c.onCapacityChange()
  }

  /** Fires at the earliest hold expiry (bids from origins with different windows expire out of order). */
  #holdAlarm: Alarm | undefined
  #armHoldExpiry (): void {
    const next = this.ledger.nextExpiry()
    if (next === undefined) return
    this.#holdAlarm ??= new Alarm(this.#c.clock, () => {
      if (!this.#running) return
      if (this.ledger.expireHolds(this.#c.clock.now()) > 0) this.#released()
      this.#armHoldExpiry()
    })
    this.#holdAlarm.armAt(next)
  }

  // ── task protocol ────────────────────────────────────────────────────────

  onTaskMessage (from: string, msg: TaskMessage): void {
    if (!this.#running) return
    switch (msg.type) {
      case 'award': this.#onAward(from, msg); break
      case 'ack':
        for (const a of msg.acks) {
          const key = attemptKey(msg.jobId, a.taskId, a.attempt)
          const e = this.#outbox.get(key)
          if (e !== undefined && e.origin === from) {
            for (const b of e.blobs) this.#c.blobs.drop(b)
            this.#outbox.delete(key)
            void this.#c.outbox.delete(key)
          }
        }
        break
      case 'cancel': this.cancel(from, msg.jobId, msg.tasks, msg.reason); break
      default: break // accept/progress/result are for origins
    }
  }

  #onAward (origin: string, msg: AwardMsg): void {
    const accepted: Array<{ taskId: string, attempt: number }> = []
    const rejected: Array<{ taskId: string, attempt: number, reason: string }> = []
    const ability = this.#c.ability()
    for (const task of msg.tasks) {
      const key = attemptKey(msg.jobId, task.taskId, task.attempt)
      if (this.#attempts.has(key)) { accepted.push(ref(task)); continue } // a duplicate award: already ours
      const reason = !this.#trusts(origin)
        ? 'this peer does not run jobs from that origin (trust.submitters)'
        : task.kind === 'handler' && task.handler !== undefined && !ability.caps.handlers.includes(task.handler)
          ? `no handler "${task.handler}" here`
          : whyNot(ability, { id: task.taskId, attempt: task.attempt, demand: task.demand, workMs: 0, inputBytes: 0, kind: task.kind, handler: task.handler, command: task.exec?.command[0], tags: [], priority: 0, ageMs: 0, exclude: [] })
      if (reason !== undefined) { this.ledger.release(key); rejected.push({ ...ref(task), reason }); continue }
      const slot = this.ledger.reserve(key, toUnits(task.demand))
      if (slot === undefined) { rejected.push({ ...ref(task), reason: 'capacity no longer free' }); continue }
      const attempt: Attempt = { key, origin, jobId: msg.jobId, task, state: 'queued', abort: new AbortController() }
      this.#attempts.set(key, attempt)
      accepted.push(ref(task))
      if (slot === 'now') this.#startAttempt(attempt)
      else this.#queue.push(key)
    }
    void this.#c.send(origin, { v: TASK_VERSION, type: 'accept', jobId: msg.jobId, accepted, rejected })
    // Leases start now: heartbeats at their own period from here, not at the idle one.
    if (this.#heartbeatIdle && this.#attempts.size > 0 && this.#heartbeat !== undefined) {
      this.#c.clock.clearTimeout(this.#heartbeat)
      this.#scheduleHeartbeat()
    }
    // Rejections released their holds.
    this.#released()
  }

  /** Stop attempts of a job (all, or the listed ones) for `origin`. */
  cancel (origin: string, jobId: string, tasks: Array<{ taskId: string, attempt: number }> | undefined, reason: string): void {
    const keys = tasks === undefined
      ? [...this.#attempts.values()].filter(a => a.jobId === jobId && a.origin === origin).map(a => a.key)
      : tasks.map(t => attemptKey(jobId, t.taskId, t.attempt))
    for (const key of keys) {
      const a = this.#attempts.get(key)
      if (a === undefined || a.origin !== origin) continue
      this.#c.logger.debug({ jobId, taskId: a.task.taskId, reason }, 'attempt cancelled')
      a.abort.abort()
      this.#finishAttempt(a)
    }
    // A cancelled job's results are no longer wanted.
    if (tasks === undefined) {
      for (const [k, e] of this.#outbox) {
        if (e.jobId === jobId && e.origin === origin) { this.#outbox.delete(k); void this.#c.outbox.delete(k) }
      }
    }
  }

  // ── running ──────────────────────────────────────────────────────────────

  #startAttempt (a: Attempt): void {
    a.state = 'running'
    a.startedAt = this.#c.clock.now()
    // Starts are told in batches, with results, on the next flush: many short tasks start together.
    this.#started.push(a)
    this.#scheduleFlush()
    void this.#run(a)
  }

  async #run (a: Attempt): Promise<void> {
    const t = a.task
    let outcome: RunOutcome
    try {
      const inputs: Record<string, Uint8Array> = {}
      if (t.exec !== undefined) {
        for (const [path, data] of Object.entries(t.exec.inputs)) inputs[path] = await this.#resolve(a.origin, data)
      }
      const req: RunRequest = {
        jobId: a.jobId, taskId: t.taskId, attempt: t.attempt, index: t.index, count: t.count,
        kind: t.kind, handler: t.handler, input: t.input, timeoutMs: t.timeoutMs,
        memoryMB: t.demand.memoryMB, upstream: t.upstream, restored: t.restored,
        exec: t.exec === undefined ? undefined : { command: t.exec.command, env: t.exec.env, stdin: t.exec.stdin, inputs, outputs: t.exec.outputs, shell: t.exec.shell }
      }
      outcome = await this.#c.runner.run(req, {
        signal: a.abort.signal,
        progress: (f, m) => { a.fraction = f; a.message = m?.slice(0, 256) },
        checkpoint: state => { this.#checkpoint(a, state) }
      })
    } catch (err) {
      outcome = { ok: false, error: `executor error: ${(err as Error).message}`, reason: 'error', retryable: true }
    }
    if (a.abort.signal.aborted || !this.#attempts.has(a.key)) return // cancelled: nobody wants this result
    const durationMs = this.#c.clock.now() - (a.startedAt ?? this.#c.clock.now())
    this.#recentMs.push(durationMs)
    if (this.#recentMs.length > 50) this.#recentMs.shift()
    this.#finishAttempt(a)
    this.#deliver(a, outcome, durationMs)
  }

  /** Send a checkpoint to the origin at once: it must be there before the attempt can be given back. */
  #checkpoint (a: Attempt, state: unknown): void {
    if (!this.#attempts.has(a.key)) return
    a.checkpointed = true
    const encoded = encodeMessage(state ?? null)
    const blobs: BlobRef[] = []
    const body = encoded.byteLength <= TASK_LIMITS.inlineBytes ? { state } : { stateBlob: this.#blob(encoded, blobs) }
    // A checkpoint blob is kept until the attempt's result is acknowledged (then it is replaced anyway).
    a.checkpointBlobs?.forEach(b => { this.#c.blobs.drop(b) })
    a.checkpointBlobs = blobs
    void this.#c.send(a.origin, { v: TASK_VERSION, type: 'checkpoint', jobId: a.jobId, ...ref(a.task), ...body })
  }

  async #resolve (origin: string, data: FileData): Promise<Uint8Array> {
    return 'inline' in data ? data.inline : await this.#c.blobs.fetch(origin, data.blob)
  }

  #finishAttempt (a: Attempt): void {
    this.#attempts.delete(a.key)
    this.ledger.release(a.key)
    const qi = this.#queue.indexOf(a.key)
    if (qi >= 0) this.#queue.splice(qi, 1)
    this.#released()
  }

  /** Start queued attempts, in arrival order, while they fit. */
  #startQueued (): void {
    for (let i = 0; i < this.#queue.length;) {
      const a = this.#attempts.get(this.#queue[i]!)
      if (a === undefined) { this.#queue.splice(i, 1); continue }
      if (this.ledger.promote(a.key)) {
        this.#queue.splice(i, 1)
        this.#startAttempt(a)
      } else {
        i++
      }
    }
  }

  #deliver (a: Attempt, outcome: RunOutcome, durationMs: number): void {
    const base = { taskId: a.task.taskId, attempt: a.task.attempt, durationMs }
    const blobs: BlobRef[] = []
    let result: TaskResult
    if (outcome.ok) {
      const outputs: Record<string, FileData> = {}
      for (const [path, bytes] of Object.entries(outcome.outputs ?? {})) outputs[path] = this.#inlineOrBlob(bytes, blobs)
      const encoded = encodeMessage(outcome.value ?? null)
      result = encoded.byteLength <= TASK_LIMITS.inlineBytes
        ? { ...base, ok: true, value: outcome.value, outputs }
        : { ...base, ok: true, valueBlob: this.#blob(encoded, blobs), outputs }
    } else {
      result = { ...base, ok: false, error: outcome.error.slice(0, 4096), reason: outcome.reason, retryable: outcome.retryable, value: outcome.value }
    }
    const now = this.#c.clock.now()
    this.#outbox.set(a.key, { origin: a.origin, jobId: a.jobId, result, at: now, sentAt: now, backoffMs: 1000, blobs })
    // Durable before sent (DESIGN.md §1.4): the outbox keeps it (and its blobs) until the origin acknowledges.
    const durable = async (): Promise<void> => {
      if (blobs.length > 0) await this.#c.blobs.flush?.()
      await this.#c.outbox.put({ key: a.key, origin: a.origin, jobId: a.jobId, result, at: now })
    }
    durable().then(() => {
      const batchKey = `${a.origin}\n${a.jobId}`
      const batch = this.#pendingResults.get(batchKey)
      if (batch === undefined) this.#pendingResults.set(batchKey, [result])
      else batch.push(result)
      // Batch results that finish close together into one message per origin and job.
      this.#scheduleFlush()
    }, (err: Error) => {
      // Not durable: keep it in memory and let the resend loop deliver it; say so.
      this.#c.logger.error({ jobId: a.jobId, taskId: a.task.taskId, err: err.message }, 'outbox write failed')
    })
  }

  #inlineOrBlob (bytes: Uint8Array, blobs: BlobRef[]): FileData {
    return bytes.byteLength <= TASK_LIMITS.inlineBytes ? { inline: bytes } : { blob: this.#blob(bytes, blobs) }
  }

  #blob (bytes: Uint8Array, blobs: BlobRef[]): BlobRef {
    const r = this.#c.blobs.put(bytes)
    blobs.push(r)
    return r
  }

  #scheduleFlush (): void {
    this.#flushTimer ??= this.#c.clock.setTimeout(() => { this.#flushTimer = undefined; this.#flushResults() }, 1)
  }

  /** Send batched start notices, then results (an origin learns a task started before it ends). */
  #flushResults (): void {
    const started = this.#started
    this.#started = []
    // They all started, even those that have already ended: their results follow in this flush.
    if (started.length > 0) this.#sendProgress(started, true)
    for (const [batchKey, results] of this.#pendingResults) {
      const [origin, jobId] = batchKey.split('\n') as [string, string]
      for (let i = 0; i < results.length; i += 512) {
        void this.#c.send(origin, { v: TASK_VERSION, type: 'result', jobId, results: results.slice(i, i + 512) })
      }
    }
    this.#pendingResults.clear()
  }

  // ── load shift ───────────────────────────────────────────────────────────

  #checkLoad (): void {
    const load = this.#c.load?.()
    if (this.#yield === undefined || load === undefined) return
    const d = this.#yield.sample(load, this.#c.clock.now())
    if (d.busy !== this.ledger.blocked) {
      this.ledger.blocked = d.busy
      this.yieldReason = d.busy ? d.reason : undefined
      this.#c.logger.info({ busy: d.busy, reason: d.reason }, d.busy ? 'yielding: the machine is busy with other work' : 'taking work again')
      this.#released()
    }
    if (d.started) this.#giveBack(this.#init.yield!.policy, d.reason ?? 'machine busy')
  }

  /** Give work back to its origins by policy: queued always, then checkpointed or all running attempts. */
  #giveBack (policy: YieldPolicy, reason: string): void {
    const back = [...this.#attempts.values()].filter(a =>
      a.state === 'queued' || policy === 'all' || (policy === 'checkpointed' && a.checkpointed === true))
    const groups = new Map<string, Attempt[]>()
    for (const a of back) {
      a.abort.abort()
      this.#finishAttempt(a)
      const k = `${a.origin}\n${a.jobId}`
      groups.set(k, [...(groups.get(k) ?? []), a])
    }
    for (const [k, list] of groups) {
      const [origin, jobId] = k.split('\n') as [string, string]
      void this.#c.send(origin, { v: TASK_VERSION, type: 'release', jobId, tasks: list.map(a => ({ ...ref(a.task), reason: `given back: ${reason}` })) })
    }
  }

  // ── heartbeats and the outbox ────────────────────────────────────────────

  /**
   * Heartbeats keep running attempts' leases, and sample load for load shift.
   * With nothing running only the sampling is left, and a sample a second
   * (IDLE_HEARTBEAT_MS) is plenty against a sustain window of seconds: an idle
   * peer wakes half as often.
   */
  #scheduleHeartbeat (): void {
    this.#heartbeatIdle = this.#attempts.size === 0
    this.#heartbeat = this.#c.clock.setTimeout(() => {
      if (!this.#running) return
      this.#checkLoad()
      this.#sendProgress([...this.#attempts.values()])
      this.#scheduleHeartbeat()
    }, this.#heartbeatIdle ? Math.max(this.#init.heartbeatMs, IDLE_HEARTBEAT_MS) : this.#init.heartbeatMs)
  }

  #sendProgress (attempts: Attempt[], started = false): void {
    const groups = new Map<string, Attempt[]>()
    for (const a of attempts) {
      const k = `${a.origin}\n${a.jobId}`
      const g = groups.get(k)
      if (g === undefined) groups.set(k, [a])
      else g.push(a)
    }
    for (const [k, list] of groups) {
      const [origin, jobId] = k.split('\n') as [string, string]
      void this.#c.send(origin, {
        v: TASK_VERSION,
        type: 'progress',
        jobId,
        items: list.map(a => ({ ...ref(a.task), running: started || a.state === 'running', fraction: a.fraction, message: a.message }))
      })
    }
  }

  #scheduleResend (): void {
    this.#resend = this.#c.clock.setTimeout(() => {
      if (!this.#running) return
      const now = this.#c.clock.now()
      const due = new Map<string, TaskResult[]>()
      for (const [key, e] of this.#outbox) {
        if (now - e.at > this.#init.resultTtlMs) {
          this.#c.logger.warn({ jobId: e.jobId, taskId: e.result.taskId, origin: e.origin }, 'result dropped: its origin did not come back within failure.resultTtlMs')
          this.#outbox.delete(key)
          void this.#c.outbox.delete(key)
          continue
        }
        if (now - e.sentAt < e.backoffMs) continue
        e.sentAt = now
        e.backoffMs = Math.min(Math.max(1000, e.backoffMs * 2), 30_000)
        const k = `${e.origin}\n${e.jobId}`
        const list = due.get(k)
        if (list === undefined) due.set(k, [e.result])
        else list.push(e.result)
      }
      for (const [k, results] of due) {
        const [origin, jobId] = k.split('\n') as [string, string]
        for (let i = 0; i < results.length; i += 512) void this.#c.send(origin, { v: TASK_VERSION, type: 'result', jobId, results: results.slice(i, i + 512) })
      }
      this.#scheduleResend()
    }, 500)
  }

  /** Free capacity as Resources (for ads). */
  free (): PeerAbility['capacity'] {
    return fromUnits(this.ledger.freeNow())
  }
}

/** The blobs a result refers to (its value and output files). */
function blobsOf (r: TaskResult): BlobRef[] {
  if (!r.ok) return []
  const out: BlobRef[] = r.valueBlob !== undefined ? [r.valueBlob] : []
  for (const f of Object.values(r.outputs ?? {})) if ('blob' in f) out.push(f.blob)
  return out
}

function ref (t: { taskId: string, attempt: number }): { taskId: string, attempt: number } {
  return { taskId: t.taskId, attempt: t.attempt }
}
