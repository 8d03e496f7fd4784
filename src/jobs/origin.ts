/**
 * The origin: the peer where a job was submitted runs its auctions and collects
 * its results (DESIGN.md §1.1, §6, §7). For each job it keeps every task's
 * state, announces ready tasks in rounds of about as many as the mesh has room
 * for, awards each to the lowest-ETA bid, and accepts exactly one result per
 * task, fenced by the attempt number.
 *
 *   blocked ─upstream done─▶ pending ─announced─▶ (round) ─won─▶ awarded ─accept─▶ queued ─progress─▶ running ─result─▶ done
 *      ▲                       ▲  ▲                  │no bid                │reject                          │failure, retries left
 *      │                       │  └──backoff / capacity appears──┘         │                               │lost (peer gone, lease)
 *      │                       └───────────────────────────────────────────┴───────────────────────────────┘
 */
import type { AuctionMessage, Bid, OpenTask } from '../../protocols/auction.ts'
import { AUCTION_LIMITS, AUCTION_VERSION } from '../../protocols/auction.ts'
import type { AwardedTask, BlobRef, FileData, TaskMessage, TaskResult } from '../../protocols/task.ts'
import { TASK_VERSION } from '../../protocols/task.ts'
import { decodeValue } from '../../protocols/codec.ts'
import { Alarm, type Clock, type TimerHandle } from '../clock.ts'
import type { Logger } from '../logger.ts'
import { better, chooseWinners, type ReceivedBid } from '../auction/award.ts'
import { etaMs } from '../auction/bidder.ts'
import { whyNobody, whyNot, type PeerAbility } from '../auction/feasibility.ts'
import { queueDepthFor, toUnits } from '../resources/ledger.ts'
import type { BlobStore } from '../execution/executor.ts'
import { expandJob } from './expand.ts'
import { restoreJobs } from './restore.ts'
import { findStragglers } from './stragglers.ts'
import { awardedTask, openTask } from './task-messages.ts'
import type { Journal, JournalJob, JournalSnapshot } from './journal.ts'
import { JobView, liveAttempts, type AttemptRecord, type JobEvent, type TaskRecord } from './job-view.ts'

export interface OriginComponents {
  clock: Clock
  logger: Logger
  journal: Journal
  blobs: BlobStore
  self: string
  publish: (msg: AuctionMessage) => void
  /** Hand a call for bids to this peer's own bidder (gossip does not echo our own messages). */
  bidLocally: (msg: Extract<AuctionMessage, { type: 'cfb' }>) => void
  send: (peer: string, msg: TaskMessage) => Promise<boolean>
  /** Live peers (this one included) with their free capacity, for feasibility and round sizing. */
  /** Live peers, this one included; `speed` as advertised (it lets a round close once its outcome is known). */
  livePeers: () => Array<PeerAbility & { free: PeerAbility['capacity'], speed?: number }>
}

export interface OriginInit {
  bidWindowMs: number
  queueDepth: number
  heartbeatMs: number
  leaseMs: number
}

interface Round {
  jobId: string
  round: number
  tasks: Map<string, OpenTask>
  /** Tasks in this round that already run and are auctioned for a backup attempt (stragglers). */
  backups: Set<string>
  openedAt: number
  expected: Set<string>
  answered: Set<string>
  bids: ReceivedBid[]
  /** The best bid so far for each task (the award rule's order). */
  best: Map<string, ReceivedBid>
  /** The expected bidders as the origin knows them: what each can run, and its advertised speed. */
  bidders: Map<string, Bidder>
  timer: TimerHandle
}

type Bidder = PeerAbility & { speed?: number }

/** Above this many (task, unanswered peer) pairs a round does not look for an early outcome: it waits. */
const EARLY_CLOSE_MAX_PAIRS = 4096

/** The widest a job's bid window grows when capable peers keep answering late. */
const MAX_BID_WINDOW_MS = 2000
/** Task states that never change again: a round's scan starts after the leading run of them. */
const FINISHED = new Set(['done', 'failed', 'cancelled'])

/** Backoff for tasks that found no bidder: doubles from 100 ms to 5 s, reset when capacity appears. */
const NO_BID_BACKOFF = { minMs: 100, maxMs: 5000 }

export class Origin {
  readonly #c: OriginComponents
  readonly #init: OriginInit
  readonly #jobs = new Map<string, JobView>()
  readonly #rounds = new Map<string, Round>()
  readonly #pendingAcks = new Map<string, Array<{ taskId: string, attempt: number }>>()
  #ackTimer: TimerHandle | undefined
  #leaseTimer: TimerHandle | undefined
  readonly #retryAlarm: Alarm
  #running = false

  constructor (components: OriginComponents, init: OriginInit) {
    this.#c = components
    this.#init = init
    this.#retryAlarm = new Alarm(components.clock, () => { for (const job of this.#jobs.values()) this.#pump(job) })
  }

  start (): void {
    this.#running = true
    this.#scheduleLeaseCheck()
    for (const job of this.#jobs.values()) this.#pump(job)
  }

  stop (): void {
    this.#running = false
    for (const r of this.#rounds.values()) this.#c.clock.clearTimeout(r.timer)
    for (const t of [this.#ackTimer, this.#leaseTimer]) if (t !== undefined) this.#c.clock.clearTimeout(t)
    this.#retryAlarm.cancel()
  }

  job (id: string): JobView | undefined { return this.#jobs.get(id) }
  jobs (): JobView[] { return [...this.#jobs.values()] }

  /** Accept a validated job: journal it, expand it, and start auctioning its ready tasks. */
  async submit (job: JournalJob): Promise<JobView> {
    await this.#c.journal.putJob(job)
    const view = new JobView(job, expandJob(job.spec), this.#c.clock.now())
    this.#jobs.set(job.id, view)
    view.emit({ type: 'job-submitted', jobId: job.id, tasks: view.tasks.size, at: this.#c.clock.now() })
    this.#unblock(view)
    this.#pump(view)
    return view
  }

  /**
   * Rebuild jobs from the journal after a restart (before `start`). Finished
   * tasks keep their results; a task whose attempt was handed out is
   * re-attached to it for one lease (the executor may still be running it, or
   * hold its result in its outbox); everything else is announced again.
   */
  restore (snapshot: JournalSnapshot): JobView[] {
    const views = restoreJobs(snapshot, this.#c.clock.now())
    for (const view of views) {
      this.#jobs.set(view.id, view)
      if (view.state !== 'running') continue
      this.#unblock(view)
      this.#c.logger.info({ jobId: view.id, done: view.counts().done, tasks: view.tasks.size }, 'job restored from the journal')
    }
    return views
  }

  cancel (jobId: string, reason = 'cancelled by the user'): boolean {
    const job = this.#jobs.get(jobId)
    if (job === undefined || job.state !== 'running') return false
    this.#endJob(job, 'cancelled', reason)
    return true
  }

  // ── auction rounds ──────────────────────────────────────────────────────

  /** Capacity appeared somewhere (an ad with room, a finished task): announce what found no bidder, now. */
  capacityAppeared (): void {
    for (const job of this.#jobs.values()) this.#wake(job)
  }

  #wake (job: JobView): void {
    if (job.state !== 'running') return
    job.idleUntil = 0
    this.#pump(job)
  }

  #pump (job: JobView): void {
    if (!this.#running || job.state !== 'running' || this.#rounds.has(job.id) || job.sendingAwards) return
    const now = this.#c.clock.now()
    if (now < job.idleUntil) { this.#scheduleRetry(job.idleUntil); return }
    const peers = this.#c.livePeers()
    const ready: TaskRecord[] = []
    let size = Infinity
    let nextTry = Infinity
    // Scan from the first unfinished task, and only until a round's worth is ready: a round
    // of a 100,000-task job must not cost a pass over all of it.
    while (job.scanFrom < job.order.length && FINISHED.has(job.order[job.scanFrom]!.status)) job.scanFrom++
    for (let i = job.scanFrom; i < job.order.length && ready.length < size; i++) {
      const t = job.order[i]!
      if (t.status === 'running' && t.backup === 'wanted') { ready.push(t); continue }
      if (t.status !== 'pending') continue
      if (t.nextTryAt > now) { nextTry = Math.min(nextTry, t.nextTryAt); continue }
      const open = openTask(job, t, now)
      // Exclusions are a preference ("preferably on another peer", DESIGN.md §7): when only
      // excluded peers could run the task, allow them again rather than wait forever.
      if (t.exclude.length > 0 && whyNobody(peers, open) !== undefined && whyNobody(peers, { ...open, exclude: [] }) === undefined) {
        t.exclude = []
        open.exclude = []
      }
      // A task no live peer can run waits with the reason, and is not announced until that changes.
      const nobody = whyNobody(peers, open)
      if (nobody !== undefined) {
        if (t.waiting !== nobody) {
          t.waiting = nobody
          job.emit({ type: 'task-waiting', jobId: job.id, taskId: t.id, reason: nobody, at: now })
        }
        continue
      }
      t.waiting = undefined
      if (ready.length === 0) size = this.#roundSize(job, peers, t, open.workMs)
      ready.push(t)
    }
    // Stopped early with a full round: the tasks not looked at get their turn in the next one.
    if (ready.length < size && nextTry < Infinity) this.#scheduleRetry(nextTry)
    if (ready.length === 0) return

    const batch = ready
    const tasks = new Map(batch.map(t => [t.id, openTask(job, t, now)]))
    const backups = new Set(batch.filter(t => t.status === 'running').map(t => t.id))
    const bidders = new Map(peers.filter(p => [...tasks.values()].some(o => whyNot(p, o) === undefined)).map(p => [p.id, p]))
    const expected = new Set(bidders.keys())
    const round = job.nextRound++
    if (job.windowMs === 0) job.windowMs = this.#init.bidWindowMs
    const r: Round = {
      jobId: job.id, round, tasks, backups, expected, answered: new Set(), bids: [], best: new Map(), bidders, openedAt: now,
      timer: this.#c.clock.setTimeout(() => { this.#closeRound(job.id) }, job.windowMs)
    }
    this.#rounds.set(job.id, r)
    for (const t of batch) {
      if (backups.has(t.id)) t.backup = 'announced'
      else t.status = 'announced'
    }
    const cfb = { v: AUCTION_VERSION, type: 'cfb' as const, jobId: job.id, round, origin: this.#c.self, windowMs: job.windowMs, tasks: [...tasks.values()] }
    if (expected.size > (expected.has(this.#c.self) ? 1 : 0)) this.#c.publish(cfb)
    if (expected.has(this.#c.self)) this.#c.bidLocally(cfb)
  }

  /**
   * About as many tasks as the mesh has room for now (free + queue), so huge
   * jobs do not flood it. Queues are as deep as bidders make them for tasks of
   * this length (`queueDepthFor`, the same rule they use).
   */
  #roundSize (job: JobView, peers: Array<PeerAbility & { free: PeerAbility['capacity'] }>, sample: TaskRecord, workMs: number): number {
    const demand = toUnits(sample.inst.spec.resources)
    const depth = queueDepthFor(workMs, this.#init.queueDepth, 2 * (job.windowMs || this.#init.bidWindowMs))
    let slots = 0
    for (const p of peers) {
      const free = toUnits(p.free)
      const cap = toUnits(p.capacity)
      slots += fitCount(demand, free) + depth * fitCount(demand, cap)
    }
    return Math.max(1, Math.min(AUCTION_LIMITS.maxTasksPerCall, slots))
  }

  /** A bid arrived over `/meshwork/bid/1.0.0` (or from our own bidder). */
  onBid (from: string, bid: Bid): void {
    const r = this.#rounds.get(bid.jobId)
    if (r === undefined || r.round !== bid.round) return // late: the round closed
    for (const b of bid.bids) {
      const open = r.tasks.get(b.taskId)
      if (open === undefined || open.attempt !== b.attempt || open.exclude.includes(from)) continue
      const received = { peer: from, taskId: b.taskId, attempt: b.attempt, etaMs: b.etaMs, load: bid.load, queued: b.queued === true }
      r.bids.push(received)
      const best = r.best.get(b.taskId)
      if (best === undefined || better(received, best)) r.best.set(b.taskId, received)
    }
    r.answered.add(from)
    // Close as soon as every live capable peer has answered, or no answer still
    // missing could change the outcome.
    if ([...r.expected].every(p => r.answered.has(p)) || outcomeKnown(r)) this.#closeRound(bid.jobId)
  }

  #closeRound (jobId: string): void {
    const r = this.#rounds.get(jobId)
    if (r === undefined) return
    this.#rounds.delete(jobId)
    this.#c.clock.clearTimeout(r.timer)
    const job = this.#jobs.get(jobId)
    if (job === undefined || job.state !== 'running') return
    const now = this.#c.clock.now()
    const winners = chooseWinners(r.bids)
    const awards = new Map<string, AwardedTask[]>()
    let unbid = 0
    // A bidder whose start-now bid lost has room right now. While one does, a task whose best
    // bid is a queue slot waits for the next round (announced at once) rather than queue behind
    // work on a busy peer.
    // Defer at most as many queued winners as there are such lost start-now bids (the latest ETAs
    // first): the rest of a deep queue of short tasks still goes out this round.
    const spareNow = r.bids.filter(b => b.queued !== true && winners.get(b.taskId)?.peer !== b.peer).length
    const toDefer = new Set([...winners.values()].filter(w => w.queued === true).sort((a, b) => b.etaMs - a.etaMs).slice(0, spareNow).map(w => w.taskId))
    let deferred = 0
    // Some capable peer did not answer in time: widen the window for this job's next rounds.
    job.windowMs = r.answered.size < r.expected.size
      ? Math.min(MAX_BID_WINDOW_MS, job.windowMs * 2)
      : Math.max(this.#init.bidWindowMs, Math.floor(job.windowMs / 2))
    this.#c.logger.debug({ jobId, round: r.round, tasks: r.tasks.size, bids: r.bids.length, winners: winners.size, answered: r.answered.size, expected: r.expected.size, ms: now - r.openedAt }, 'round closed')
    for (const [taskId, open] of r.tasks) {
      const t = job.tasks.get(taskId)
      if (t !== undefined && r.backups.has(taskId)) {
        const w = winners.get(taskId)
        // The straggler may have finished (or been lost) while its backup was auctioned.
        if (t.status !== 'running' || t.backup !== 'announced' || w === undefined) {
          if (t.backup === 'announced') t.backup = t.status === 'running' ? 'wanted' : undefined
          continue
        }
        t.backup = undefined
        t.backups = (t.backups ?? 0) + 1
        t.attempt = open.attempt
        t.attempts.push({ attempt: t.attempt, peer: w.peer, state: 'awarded', awardedAt: now, lastHeartbeat: now })
        job.emit({ type: 'backup-started', jobId, taskId, attempt: t.attempt, peer: w.peer, reason: 'straggler: running far past the typical duration', at: now })
        const list = awards.get(w.peer) ?? []
        list.push(awardedTask(job, t))
        awards.set(w.peer, list)
        continue
      }
      if (t === undefined || t.status !== 'announced') continue
      const w = winners.get(taskId)
      if (w === undefined) {
        t.status = 'pending'
        unbid++
        continue
      }
      if (toDefer.has(taskId)) {
        t.status = 'pending'
        deferred++
        continue
      }
      t.status = 'awarded'
      t.attempts.push({ attempt: t.attempt, peer: w.peer, state: 'awarded', awardedAt: now, lastHeartbeat: now })
      const list = awards.get(w.peer) ?? []
      list.push(awardedTask(job, t))
      awards.set(w.peer, list)
    }
    // Journal every award before sending it: a restarted origin must know each attempt
    // number it handed out, to re-attach to it and never hand the same number out twice.
    const journaled = [...awards].flatMap(([peer, tasks]) => tasks.map(async t =>
      await this.#c.journal.putAttempt(jobId, { taskId: t.taskId, attempt: t.attempt, peer, at: now })))
    const announceNext = (): void => { this.#pump(job) }
    if (awards.size > 0) {
      // The next round's call goes out after the awards, so it cannot overtake them and
      // release (round-scoped) the very holds the awards are about to claim.
      job.sendingAwards = true
      void Promise.all(journaled).then(() => {
        for (const [peer, tasks] of awards) void this.#c.send(peer, { v: TASK_VERSION, type: 'award', jobId, round: r.round, tasks })
        job.sendingAwards = false
        announceNext()
      }, (err: Error) => {
        // Unsent awards: their leases expire and the tasks are announced again.
        this.#c.logger.error({ jobId, err: err.message }, 'journal write failed; awards not sent')
        job.sendingAwards = false
        announceNext()
      })
    }
    // Nobody had room for some tasks: wait until capacity appears (a result, an ad), or a backoff passes.
    if (unbid > 0 && deferred === 0) {
      job.idleBackoffMs = Math.min(Math.max(NO_BID_BACKOFF.minMs, job.idleBackoffMs * 2), NO_BID_BACKOFF.maxMs)
      job.idleUntil = now + job.idleBackoffMs
    } else {
      job.idleBackoffMs = 0
    }
    if (awards.size === 0) announceNext()
  }

  // ── executor messages ───────────────────────────────────────────────────

  onTaskMessage (from: string, msg: TaskMessage): void {
    const job = this.#jobs.get(msg.jobId)
    if (job === undefined) {
      // Results for a job we do not know (cancelled and forgotten): acknowledge so the executor stops resending.
      if (msg.type === 'result') this.#ack(from, msg.jobId, msg.results)
      this.#stopStale(from, msg)
      return
    }
    const now = this.#c.clock.now()
    // An ended job takes no more news, but executors still need their results acknowledged.
    if (job.state !== 'running') {
      if (msg.type === 'result') this.#ack(from, msg.jobId, msg.results)
      this.#stopStale(from, msg)
      return
    }
    switch (msg.type) {
      case 'accept':
        for (const a of msg.accepted) {
          const at = job.currentAttempt(a.taskId, a.attempt, from)
          if (at !== undefined && at.state === 'awarded') { at.state = 'queued'; at.lastHeartbeat = now; job.tasks.get(a.taskId)!.status = 'queued' }
        }
        for (const a of msg.rejected) {
          const t = job.tasks.get(a.taskId)
          const at = job.currentAttempt(a.taskId, a.attempt, from)
          if (t === undefined || at === undefined) continue
          at.state = 'rejected'
          at.reason = a.reason
          at.endedAt = now
          // A rejected backup leaves its straggler running; anything else goes back to be announced.
          if (liveAttempts(t).length > 0) continue
          t.attempt++
          t.status = 'pending'
          t.nextTryAt = now
        }
        if (msg.rejected.length > 0) this.#wake(job)
        break
      case 'progress': {
        const stale: Array<{ taskId: string, attempt: number }> = []
        for (const p of msg.items) {
          const t = job.tasks.get(p.taskId)
          const at = job.currentAttempt(p.taskId, p.attempt, from)
          // An attempt this origin no longer counts on (lost while its peer was frozen or cut
          // off, or superseded) is still running there: stop it, or it holds that peer's
          // capacity until it ends on its own.
          if (t !== undefined && at === undefined && p.running && t.attempts.some(a => a.attempt === p.attempt && a.peer === from && (a.state === 'lost' || a.state === 'cancelled'))) stale.push({ taskId: p.taskId, attempt: p.attempt })
          if (t === undefined || at === undefined || t.status === 'done') continue
          at.lastHeartbeat = now
          if (p.fraction !== undefined) t.fraction = p.fraction
          if (p.running && at.state !== 'running') {
            at.state = 'running'
            at.startedAt = now
            t.status = 'running'
            job.emit({ type: 'task-started', jobId: job.id, taskId: t.id, attempt: at.attempt, peer: from, at: now })
          }
        }
        if (stale.length > 0) void this.#c.send(from, { v: TASK_VERSION, type: 'cancel', jobId: job.id, tasks: stale, reason: 'this attempt was given up (its peer was unreachable); another runs or ran the task' })
        break
      }
      case 'checkpoint': {
        const t = job.tasks.get(msg.taskId)
        if (t === undefined || job.currentAttempt(msg.taskId, msg.attempt, from) === undefined) break
        if (msg.stateBlob === undefined) { t.checkpoint = msg.state; break }
        // Fetch a large checkpoint now, while its peer is here: it is needed exactly when the peer is not.
        void this.#c.blobs.fetch(from, msg.stateBlob).then(bytes => {
          const d = decodeValue(bytes)
          if (d.ok) t.checkpoint = d.value
        }, (err: Error) => { this.#c.logger.warn({ jobId: job.id, taskId: t.id, err: err.message }, 'cannot fetch a checkpoint') })
        break
      }
      case 'release':
        // The executor's machine got busy: run these elsewhere, now.
        for (const r of msg.tasks) {
          const t = job.tasks.get(r.taskId)
          if (t !== undefined && job.currentAttempt(r.taskId, r.attempt, from) !== undefined) this.#loseIfOn(job, t, from, r.reason)
        }
        this.#wake(job)
        break
      case 'result':
        for (const res of msg.results) void this.#onResult(job, from, res)
        // The executor has room again: every job of ours may use it.
        this.capacityAppeared()
        break
      default: break
    }
  }

  /**
   * An executor still runs attempts of a job that has ended here (cancelled
   * while that peer was frozen or cut off, so the cancel never reached it):
   * stop them, or they hold its capacity until they end on their own.
   */
  #stopStale (from: string, msg: TaskMessage): void {
    if (msg.type !== 'progress') return
    const running = msg.items.filter(p => p.running).map(p => ({ taskId: p.taskId, attempt: p.attempt }))
    if (running.length > 0) void this.#c.send(from, { v: TASK_VERSION, type: 'cancel', jobId: msg.jobId, tasks: running, reason: 'the job has ended' })
  }

  async #onResult (job: JobView, from: string, res: TaskResult): Promise<void> {
    const t = job.tasks.get(res.taskId)
    const at = job.currentAttempt(res.taskId, res.attempt, from)
    // Fencing: one result per task, from its current attempt. Stale or duplicate results are acknowledged and dropped.
    if (t === undefined || at === undefined || t.status === 'done' || t.status === 'failed' || job.state !== 'running') {
      this.#ack(from, job.id, [res])
      return
    }
    const now = this.#c.clock.now()
    if (res.ok) {
      let value = res.value
      const outputs: Record<string, FileData> = {}
      try {
        // Bring blobs home before acknowledging: the executor may leave once it is acked.
        if (res.valueBlob !== undefined) value = await this.#fetchValue(from, res.valueBlob)
        for (const [path, data] of Object.entries(res.outputs ?? {})) {
          outputs[path] = 'blob' in data ? { blob: this.#c.blobs.put(await this.#c.blobs.fetch(from, data.blob)) } : data
        }
      } catch (err) {
        this.#c.logger.warn({ jobId: job.id, taskId: t.id, err: (err as Error).message }, 'could not fetch a result blob; waiting for a resend')
        return
      }
      // The status may have changed while blobs were fetched (a duplicate result finished first).
      if ((t.status as string) === 'done' || job.currentAttempt(res.taskId, res.attempt, from) === undefined) { this.#ack(from, job.id, [res]); return }
      if (Object.values(outputs).some(d => 'blob' in d)) await this.#c.blobs.flush?.()
      await this.#c.journal.putResult(job.id, { taskId: t.id, attempt: res.attempt, peer: from, value, outputs, durationMs: res.durationMs, at: now })
      at.state = 'done'
      at.endedAt = now
      at.startedAt ??= now - res.durationMs
      t.status = 'done'
      t.backup = undefined
      t.result = value
      t.outputs = outputs
      // First result wins: stop the other attempt (a straggler or its backup).
      for (const other of liveAttempts(t)) {
        other.state = 'cancelled'
        other.endedAt = now
        other.reason = `attempt ${res.attempt} finished first`
        void this.#c.send(other.peer, { v: TASK_VERSION, type: 'cancel', jobId: job.id, tasks: [{ taskId: t.id, attempt: other.attempt }], reason: 'another attempt finished first' })
      }
      job.recordDuration(t.inst.name, res.durationMs)
      this.#ack(from, job.id, [res])
      job.emit({ type: 'task-done', jobId: job.id, taskId: t.id, attempt: res.attempt, peer: from, durationMs: res.durationMs, at: now })
      // Dependents wait for every instance of a name: only the last one can unblock anything.
      if (job.nameDone(t.inst.name)) this.#unblock(job)
      if (job.allDone()) this.#endJob(job, 'done')
      else this.#pump(job)
      return
    }
    this.#ack(from, job.id, [res])
    at.state = 'failed'
    at.endedAt = now
    at.reason = res.error
    // Another attempt of the task still runs (a backup): let it finish.
    const stillRunning = liveAttempts(t).length > 0
    const willRetry = stillRunning || (res.retryable && t.retriesLeft > 0)
    job.emit({ type: 'task-failed', jobId: job.id, taskId: t.id, attempt: res.attempt, peer: from, error: res.error, willRetry, at: now })
    if (stillRunning) return
    if (willRetry) {
      t.retriesLeft--
      this.#retry(job, t, from, Math.min(1000 * 2 ** (t.attempt - 1), 30_000))
    } else {
      t.status = 'failed'
      t.error = res.error
      this.#endJob(job, 'failed', `task ${t.id} failed: ${res.error}`)
    }
  }

  async #fetchValue (peer: string, ref: BlobRef): Promise<unknown> {
    const d = decodeValue(await this.#c.blobs.fetch(peer, ref))
    if (!d.ok) throw new Error(`result value blob: ${d.detail}`)
    return d.value
  }

  /** Try the task again with a new attempt number, preferring another peer. */
  #retry (job: JobView, t: TaskRecord, avoid: string, delayMs: number): void {
    t.attempt++
    if (!t.exclude.includes(avoid)) t.exclude.push(avoid)
    // If every live peer is excluded, allow them again rather than wait forever.
    if (this.#c.livePeers().every(p => t.exclude.includes(p.id))) t.exclude = []
    t.status = 'pending'
    t.nextTryAt = this.#c.clock.now() + delayMs
    this.#scheduleRetry(t.nextTryAt)
  }

  #ack (peer: string, jobId: string, results: Array<{ taskId: string, attempt: number }>): void {
    const k = `${peer}\n${jobId}`
    const list = this.#pendingAcks.get(k) ?? []
    for (const r of results) list.push({ taskId: r.taskId, attempt: r.attempt })
    this.#pendingAcks.set(k, list)
    this.#ackTimer ??= this.#c.clock.setTimeout(() => {
      this.#ackTimer = undefined
      for (const [key, acks] of this.#pendingAcks) {
        const [p, j] = key.split('\n') as [string, string]
        void this.#c.send(p, { v: TASK_VERSION, type: 'ack', jobId: j, acks })
      }
      this.#pendingAcks.clear()
    }, 1)
  }

  #unblock (job: JobView): void {
    const now = this.#c.clock.now()
    for (const t of job.tasks.values()) {
      if (t.status === 'blocked' && t.inst.after.every(n => job.nameDone(n))) {
        t.status = 'pending'
        t.readyAt = now
        t.nextTryAt = 0
      }
    }
  }

  #endJob (job: JobView, state: 'done' | 'failed' | 'cancelled', error?: string): void {
    const now = this.#c.clock.now()
    job.state = state
    job.endedAt = now
    job.error = error
    const r = this.#rounds.get(job.id)
    if (r !== undefined) { this.#c.clock.clearTimeout(r.timer); this.#rounds.delete(job.id) }
    if (state !== 'done') {
      // Stop every attempt still out there: a direct cancel to each peer, and one on gossip for good measure.
      const peers = new Set<string>()
      for (const t of job.tasks.values()) {
        if (t.status !== 'done' && t.status !== 'failed') t.status = 'cancelled'
        for (const a of t.attempts) if (a.state === 'awarded' || a.state === 'queued' || a.state === 'running') { a.state = 'cancelled'; a.endedAt = now; peers.add(a.peer) }
      }
      for (const p of peers) void this.#c.send(p, { v: TASK_VERSION, type: 'cancel', jobId: job.id, reason: error ?? state })
      this.#c.publish({ v: AUCTION_VERSION, type: 'cancel', jobId: job.id, origin: this.#c.self })
    }
    void this.#c.journal.putJobState(job.id, { state, at: now, error })
    job.emit({ type: state === 'done' ? 'job-done' : state === 'failed' ? 'job-failed' : 'job-cancelled', jobId: job.id, at: now, error })
  }

  // ── leases (a first cut; migration builds on it) ────────────────────────

  /** A peer is gone: every attempt it held is lost; run it again elsewhere. */
  peerGone (peer: string): void {
    for (const job of this.#jobs.values()) {
      if (job.state !== 'running') continue
      for (const t of job.tasks.values()) this.#loseIfOn(job, t, peer, 'peer gone')
      this.#pump(job)
    }
  }

  /** Mark `t`'s live attempt(s) on `peer` (or `which` exactly) lost; run the task again unless another attempt still lives. */
  #loseIfOn (job: JobView, t: TaskRecord, peer: string | undefined, reason: string, which?: AttemptRecord): void {
    if (t.status !== 'awarded' && t.status !== 'queued' && t.status !== 'running') return
    const now = this.#c.clock.now()
    let lost: AttemptRecord | undefined
    for (const at of liveAttempts(t)) {
      if ((which !== undefined && at !== which) || (peer !== undefined && at.peer !== peer)) continue
      at.state = 'lost'
      at.endedAt = now
      at.reason = reason
      lost = at
      job.emit({ type: 'task-migrated', jobId: job.id, taskId: t.id, attempt: at.attempt, peer: at.peer, reason, at: now })
      void this.#c.send(at.peer, { v: TASK_VERSION, type: 'cancel', jobId: job.id, tasks: [{ taskId: t.id, attempt: at.attempt }], reason })
    }
    if (lost !== undefined && liveAttempts(t).length === 0) this.#retry(job, t, lost.peer, 0)
  }

  #scheduleLeaseCheck (): void {
    this.#leaseTimer = this.#c.clock.setTimeout(() => {
      if (!this.#running) return
      const now = this.#c.clock.now()
      for (const job of this.#jobs.values()) {
        if (job.state !== 'running') continue
        let changed = false
        for (const t of job.tasks.values()) {
          if (t.status !== 'awarded' && t.status !== 'queued' && t.status !== 'running') continue
          for (const at of liveAttempts(t)) {
            if (now - at.lastHeartbeat > this.#init.leaseMs) {
              this.#loseIfOn(job, t, undefined, `no heartbeat for ${now - at.lastHeartbeat} ms`, at)
              changed = true
            }
          }
        }
        if (findStragglers(job, now)) changed = true
        if (changed) this.#pump(job)
      }
      this.#scheduleLeaseCheck()
    }, this.#init.heartbeatMs)
  }

  /** Pump again at `at` (the earliest requested time wins). */
  #scheduleRetry (at: number): void {
    this.#retryAlarm.armAt(at)
  }
}

/**
 * Can no missing answer change who wins? A bidder's ETA for a task is at least
 * its work at the bidder's advertised speed (no wait; DESIGN.md §5), so once
 * every task's best bid is strictly below that bound for every capable peer
 * still silent, the award rule would pick the same winners after waiting.
 * Strictly: on equal ETAs the tie-break (load, then id) needs the missing bid.
 * A round is decided early when the fastest capable peer answers first —
 * often the origin itself — instead of waiting for the slowest.
 */
function outcomeKnown (r: Round): boolean {
  const silent = [...r.expected].filter(p => !r.answered.has(p)).map(p => r.bidders.get(p))
  if (silent.length * r.tasks.size > EARLY_CLOSE_MAX_PAIRS) return false
  for (const [taskId, open] of r.tasks) {
    const best = r.best.get(taskId)
    if (best === undefined) return false
    for (const p of silent) {
      if (p?.speed === undefined) return false
      if (whyNot(p, open) !== undefined) continue
      // Bids carry ETAs rounded to 0.1 ms: so does the bound.
      if (best.etaMs >= Math.round(etaMs(open, p.speed, 0) * 10) / 10) return false
    }
  }
  return true
}

function fitCount (demand: Map<string, number>, room: Map<string, number>): number {
  let n = Infinity
  for (const [k, v] of demand) if (v > 0) n = Math.min(n, Math.floor((room.get(k) ?? 0) / v))
  return Number.isFinite(n) ? Math.max(0, n) : 64
}

export type { JobEvent }
