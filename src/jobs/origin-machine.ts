/**
 * The origin as a state machine (docs/ARCHITECTURE.md §6, §7, §14): the peer
 * where a job was submitted runs its auctions and collects its results. Events
 * come in (a call was made, a message arrived, a timer fired, a peer changed,
 * a journal write finished); effects go out (publish, send, journal, set a
 * timer, fetch a blob, emit a job event). It does no IO itself, so a test can
 * feed it one event and assert the effects; `origin.ts` performs them.
 *
 *   blocked ─upstream done─▶ pending ─announced─▶ announced ─won─▶ awarded ─accepted─▶ queued ─started─▶ running ─result─▶ done
 *      (any unfinished) ─job ended─▶ cancelled        │no bid, deferred  │rejected, lost, failed with retries left ─▶ pending
 *                                                     ▼                  │failed, no retries ─▶ failed
 *                                                  pending
 */
import type { AuctionMessage } from '../../protocols/auction.ts'
import { auctionMsg } from '../../protocols/auction.ts'
import { attemptRefOf, taskMsg, type AttemptRef, type AwardedTask, type TaskResult } from '../../protocols/task.ts'
import { ByJob } from '../keys.ts'
import { expandJob } from './expand.ts'
import { JobRecord, liveAttempts, type AttemptRecord, type TaskRecord } from './job-record.ts'
import type { OriginContext, OriginEffect, OriginEvent, OriginInit, OriginTimer } from './origin-context.ts'
import { onReport, onResultFetched, onResultJournaled, type JobActions } from './reports.ts'
import { replayJournal } from './restore.ts'
import { addBid, closeRound, openRound, publishRound, type Round } from './rounds.ts'
import { findStragglers } from './stragglers.ts'
import { cancelTask, endAttempt, requeue, unblock, TransitionError, type Cause } from './task-transitions.ts'
import { JobView } from './job-view.ts'
import { whyNotPerPeer, type LivePeer, type WhyNot } from './why.ts'
import { openTask } from './task-messages.ts'
import { PeerLatency } from './peer-latency.ts'
import { RoundLog } from './round-log.ts'
import { WorkEstimates } from './work-estimates.ts'
import { checkDeadlines } from './deadlines.ts'
import { FAULT_WEIGHTS, Reputation, type FaultKind } from './reputation.ts'
import { MeshMetrics } from '../metrics.ts'

export interface OriginMachineDeps {
  self: string
  init: OriginInit
  now: () => number
  livePeers: () => LivePeer[]
  /** A peer's advertised speed; by default looked up in `livePeers()`. */
  speedOf?: (peer: string) => number | undefined
  /** Where counts for operators go; a private one by default. */
  metrics?: MeshMetrics
  /** What each peer did with this origin's work; a fresh record by default. */
  reputation?: Reputation
  /** Draws in [0, 1) for adaptive replication; `Math.random` by default (the simulator gives a seeded one). */
  random?: () => number
}

/** Losses that count against the peer that had the attempt (a peer giving work back under load shift is within its rights). */
const FAULT_OF_CAUSE: Partial<Record<Cause['kind'], FaultKind>> = {
  'lease-expired': 'lease-expired',
  'transfer-failed': 'transfer',
  deadline: 'deadline',
  stalled: 'stalled'
}

/**
 * How long acknowledgements gather before they go out, one message per
 * (peer, job). An executor keeps a result until its ack and resends only
 * after a second, so a short wait costs nothing and turns a busy peer's
 * stream of results into one ack per batch, not one per result.
 */
const ACK_DELAY_MS = 20

export class OriginMachine implements JobActions {
  readonly #ctx: OriginContext
  readonly #jobs = new Map<string, { record: JobRecord, view: JobView }>()
  readonly #rounds = new Map<string, Round>()
  /** The last rounds closed, with their bids and winners (the dashboard's auction page). */
  readonly rounds = new RoundLog()
  /** Each running job's latest round and when it opened (bids that come after the close still teach latency). */
  readonly #opened = new Map<string, { round: number, at: number }>()
  /** Awards of a closed round, waiting for the journal before they are sent. */
  readonly #unsent = new Map<string, { round: number, awards: Map<string, AwardedTask[]> }>()
  readonly #acks = new ByJob<AttemptRef>()
  #acksArmed = false
  #retryAt: number | undefined
  #running = false
  #out: OriginEffect[] = []

  constructor (deps: OriginMachineDeps) {
    this.#ctx = {
      self: deps.self,
      init: deps.init,
      now: deps.now,
      livePeers: deps.livePeers,
      speedOf: deps.speedOf ?? (peer => deps.livePeers().find(p => p.id === peer)?.speed),
      out: e => { this.#out.push(e) },
      armRetry: at => { this.#armRetry(at) },
      latency: new PeerLatency(deps.self),
      work: new WorkEstimates(),
      metrics: deps.metrics ?? new MeshMetrics(),
      reputation: deps.reputation ?? new Reputation(),
      random: deps.random ?? Math.random
    }
  }

  /** Feed one event; returns the effects it caused, in order. */
  handle (event: OriginEvent): OriginEffect[] {
    this.#out = []
    try {
      this.#dispatch(event)
    } catch (err) {
      // An illegal transition is a bug: say so loudly, but never take the peer down with it.
      if (!(err instanceof TransitionError)) throw err
      this.#out.push({ type: 'log', level: 'error', fields: { event: event.type, err: err.message }, msg: 'origin state machine refused a transition' })
    }
    return this.#out
  }

  record (jobId: string): JobRecord | undefined { return this.#jobs.get(jobId)?.record }
  /** What this origin has seen each peer do with its work (`mesh peers`, metrics). */
  get reputation (): Reputation { return this.#ctx.reputation }
  job (jobId: string): JobView | undefined { return this.#jobs.get(jobId)?.view }
  jobs (): JobView[] { return [...this.#jobs.values()].map(j => j.view) }

  /** Forget the jobs that ended before `before` (history compaction); their records, for their blobs. */
  forgetEnded (before: number): JobRecord[] {
    const gone: JobRecord[] = []
    for (const [id, { record }] of this.#jobs) {
      if (record.state !== 'running' && record.endedAt !== undefined && record.endedAt < before) {
        this.#jobs.delete(id)
        gone.push(record)
      }
    }
    return gone
  }

  #dispatch (e: OriginEvent): void {
    switch (e.type) {
      case 'start':
        this.#running = true
        this.#setTimer({ kind: 'lease' }, this.#ctx.init.heartbeatMs)
        for (const { record } of this.#jobs.values()) this.pump(record)
        return
      case 'stop':
        this.#running = false
        for (const jobId of this.#rounds.keys()) this.#out.push({ type: 'clear-timer', timer: { kind: 'round', jobId } })
        for (const timer of [{ kind: 'acks' }, { kind: 'lease' }, { kind: 'retry' }] as const) this.#out.push({ type: 'clear-timer', timer })
        this.#retryAt = undefined
        return
      case 'submitted': {
        const record = new JobRecord(e.job, expandJob(e.job.spec), this.#ctx.now())
        this.#add(record)
        this.emit(record, { type: 'job-submitted', jobId: record.id, tasks: record.tasks.size, at: this.#ctx.now() })
        this.unblock(record)
        this.pump(record)
        return
      }
      case 'restore':
        for (const record of replayJournal(e.snapshot, this.#ctx.now(), (job, event) => { this.emit(job, event) })) {
          this.#add(record)
          if (record.state !== 'running') continue
          this.unblock(record)
          this.#out.push({ type: 'log', level: 'info', fields: { jobId: record.id, done: record.doneCount(), tasks: record.tasks.size }, msg: 'job restored from the journal' })
        }
        return
      case 'cancel': {
        const job = this.record(e.jobId)
        if (job !== undefined && job.state === 'running') this.endJob(job, 'cancelled', e.reason)
        return
      }
      case 'bid': {
        // Every answer teaches what that peer costs, even one that comes after its round closed.
        const opened = this.#opened.get(e.bid.jobId)
        if (opened?.round === e.bid.round) this.#ctx.latency.observe(e.from, this.#ctx.now() - opened.at)
        const r = this.#rounds.get(e.bid.jobId)
        if (r === undefined || r.round !== e.bid.round) {
          // Late: the round closed without it. Its bidder may release what it holds.
          if (e.bid.bids.length > 0) this.send(e.from, taskMsg.closed(e.bid.jobId, e.bid.round))
          return
        }
        if (addBid(r, e.from, e.bid, this.#ctx)) this.#close(e.bid.jobId)
        else if (!r.published && e.from === this.#ctx.self) this.#publishRound(r)
        return
      }
      case 'report': onReport(this.record(e.msg.jobId), e.from, e.msg, this.#ctx, this); return
      case 'peer-gone': {
        this.#ctx.latency.forget(e.peer)
        let held = false
        for (const { record: job } of this.#jobs.values()) {
          if (job.state !== 'running') continue
          for (const t of job.tasks.values()) {
            if (this.lose(job, t, { kind: 'peer-gone', at: this.#ctx.now(), peer: e.peer, detail: 'peer gone' }, a => a.peer === e.peer)) held = true
          }
          this.pump(job)
        }
        // A crash counts once, however much work it took with it.
        if (held) {
          this.#ctx.reputation.fault(e.peer, 'peer-gone', this.#ctx.now())
          this.#ctx.metrics.inc('meshwork_peer_faults_total', { kind: 'peer-gone' })
        }
        return
      }
      case 'capacity-appeared': this.wakeAll(); return
      case 'timer': this.#onTimer(e.timer); return
      case 'awards-journaled': this.#sendAwards(e.jobId, e.error); return
      case 'result-fetched': onResultFetched(this.record(e.fetched.jobId), e.fetched, this.#ctx, this); return
      case 'result-fetch-failed':
        // The executor resends it (it keeps it in its outbox until acknowledged).
        this.#out.push({ type: 'log', level: 'warn', fields: { jobId: e.jobId, taskId: e.result.taskId, err: e.error }, msg: 'could not fetch a result blob; waiting for a resend' })
        return
      case 'result-journaled': onResultJournaled(this.record(e.fetched.jobId), e.fetched, e.error, this.#ctx, this); return
      case 'checkpoint-fetched': {
        const t = this.record(e.jobId)?.tasks.get(e.taskId)
        if (t !== undefined) t.checkpoint = e.state
      }
    }
  }

  #add (record: JobRecord): void {
    const view = new JobView(record, t => this.#why(record, t))
    this.#jobs.set(record.id, { record, view })
  }

  #onTimer (timer: OriginTimer): void {
    switch (timer.kind) {
      case 'round': {
        const r = this.#rounds.get(timer.jobId)
        // A local-first round whose local bid never came: ask the mesh after all.
        if (r !== undefined && !r.published && r.bidders.size > 1) this.#publishRound(r)
        else this.#close(timer.jobId)
        return
      }
      case 'acks': {
        this.#acksArmed = false
        for (const { peer, jobId, items } of this.#acks) this.send(peer, taskMsg.ack(jobId, items))
        this.#acks.clear()
        return
      }
      case 'retry':
        this.#retryAt = undefined
        for (const { record } of this.#jobs.values()) this.pump(record)
        return
      case 'lease': {
        if (!this.#running) return
        const now = this.#ctx.now()
        for (const { record: job } of this.#jobs.values()) {
          if (job.state !== 'running') continue
          let changed = false
          for (const t of job.tasks.values()) {
            if (t.status !== 'awarded' && t.status !== 'queued' && t.status !== 'running') continue
            for (const at of liveAttempts(t)) {
              if (now - at.lastHeartbeat <= this.#ctx.init.leaseMs) continue
              this.lose(job, t, { kind: 'lease-expired', at: now, peer: at.peer, detail: `no heartbeat for ${now - at.lastHeartbeat} ms` }, a => a === at)
              changed = true
            }
          }
          // A lease proves a peer answers, not that it works: the origin holds attempts to their deadlines itself.
          const deadlines = checkDeadlines(job, now, this.#ctx.init.leaseMs)
          for (const { t, at, detail, kind } of deadlines.expired) this.lose(job, t, { kind: kind === 'timeout' ? 'deadline' : 'stalled', at: now, peer: at.peer, detail }, a => a === at)
          if (deadlines.expired.length > 0 || deadlines.backups) changed = true
          if (findStragglers(job, now)) changed = true
          if (changed) this.pump(job)
        }
        this.#setTimer({ kind: 'lease' }, this.#ctx.init.heartbeatMs)
      }
    }
  }

  // ── JobActions: what rounds and reports ask of the machine ───────────────

  emit (job: JobRecord, event: Parameters<JobActions['emit']>[1]): void {
    this.#out.push({ type: 'emit', jobId: job.id, event })
  }

  send (peer: string, msg: Extract<OriginEffect, { type: 'send' }>['msg']): void {
    this.#out.push({ type: 'send', peer, msg })
  }

  ack (peer: string, jobId: string, results: readonly AttemptRef[]): void {
    for (const r of results) this.#acks.add(peer, jobId, attemptRefOf(r))
    if (!this.#acksArmed) { this.#acksArmed = true; this.#setTimer({ kind: 'acks' }, ACK_DELAY_MS) }
  }

  /** Announce the job's ready tasks in a round, unless one is open, awards are being sent, or it idles. */
  pump (job: JobRecord): void {
    if (!this.#running || job.state !== 'running' || this.#rounds.has(job.id) || job.sendingAwards) return
    if (this.#ctx.now() < job.idleUntil) { this.#armRetry(job.idleUntil); return }
    const r = openRound(job, this.#ctx)
    if (r === undefined) return
    this.#rounds.set(job.id, r)
    this.#opened.set(job.id, { round: r.round, at: r.openedAt })
  }

  /**
   * Capacity appeared (a result, a rejection, an ad with room): announce what
   * found no bidder, now, or half a bid window after the last round closed.
   * On a mesh the job keeps full, every result frees one slot; a round per
   * result cost every peer a call, an LP and a bid per task (363 rounds for
   * 400 tasks of 50 ms on 2 peers; 180 with this wait, at the same
   * throughput). The round that follows fills every slot that freed
   * meanwhile; executors' queues cover the wait (a whole window's wait did
   * not: 50 ms tasks then ran 10 % slower).
   */
  wake (job: JobRecord): void {
    if (job.state !== 'running') return
    job.idleUntil = Math.min(job.idleUntil, job.lastClosedAt + this.#ctx.init.bidWindowMs / 2)
    this.pump(job)
  }

  wakeAll (): void { for (const { record } of this.#jobs.values()) this.wake(record) }

  unblock (job: JobRecord): void {
    const now = this.#ctx.now()
    for (const t of job.tasks.values()) if (t.status === 'blocked' && t.inst.after.every(n => job.nameDone(n))) unblock(job, t, now)
  }

  /**
   * Mark the task's live attempts that `which` selects lost (and stop them);
   * run the task again, preferably elsewhere, unless another attempt still lives.
   * Returns whether any attempt was lost.
   */
  lose (job: JobRecord, t: TaskRecord, cause: Cause, which: (a: AttemptRecord) => boolean): boolean {
    if (t.status !== 'awarded' && t.status !== 'queued' && t.status !== 'running') return false
    const reason = cause.detail ?? cause.kind
    let lost: AttemptRecord | undefined
    for (const at of liveAttempts(t)) {
      if (!which(at)) continue
      endAttempt(job, t, at, 'lost', cause, reason)
      const fault = FAULT_OF_CAUSE[cause.kind]
      if (fault !== undefined) this.fault(job, at.peer, fault)
      this.#ctx.metrics.inc('meshwork_migrations_total', { cause: cause.kind })
      lost = at
      this.emit(job, { type: 'task-migrated', jobId: job.id, taskId: t.id, attempt: at.attempt, peer: at.peer, reason, at: cause.at })
      this.send(at.peer, taskMsg.cancel(job.id, reason, [{ taskId: t.id, attempt: at.attempt }]))
    }
    if (lost !== undefined && liveAttempts(t).length === 0) this.retry(job, t, cause, lost.peer, 0)
    return lost !== undefined
  }

  /** `peer` did not do what it was given: it counts in its reputation, and (if it weighs) in this job. */
  fault (job: JobRecord, peer: string, kind: FaultKind): void {
    this.#ctx.reputation.fault(peer, kind, this.#ctx.now())
    // In this job, only faults a whole attempt's weight shun the peer (not a lost race, a failed transfer).
    if (FAULT_WEIGHTS[kind] >= 1) job.noteFault(peer)
    this.#ctx.metrics.inc('meshwork_peer_faults_total', { kind })
    this.#out.push({ type: 'log', level: 'warn', fields: { jobId: job.id, peer, kind, reliability: this.#ctx.reputation.reliability(peer, this.#ctx.now()) }, msg: 'a peer failed the work it was given' })
  }

  /** Try the task again with a new attempt number after `delayMs`, preferring a peer other than `avoid`. */
  retry (job: JobRecord, t: TaskRecord, cause: Cause, avoid: string | undefined, delayMs: number): void {
    requeue(job, t, cause, { delayMs, avoid, livePeers: this.#ctx.livePeers().map(p => p.id) })
    this.#armRetry(t.nextTryAt)
  }

  endJob (job: JobRecord, state: 'done' | 'failed' | 'cancelled', error?: string): void {
    const now = this.#ctx.now()
    job.state = state
    job.endedAt = now
    job.error = error
    this.#opened.delete(job.id)
    if (this.#rounds.delete(job.id)) this.#out.push({ type: 'clear-timer', timer: { kind: 'round', jobId: job.id } })
    if (state !== 'done') {
      // Stop every attempt still out there: a direct cancel to each peer, and one on gossip for good measure.
      const cause: Cause = { kind: 'job-ended', at: now, detail: error ?? state }
      const peers = new Set<string>()
      for (const t of job.tasks.values()) for (const a of cancelTask(job, t, cause)) peers.add(a.peer)
      for (const p of peers) this.send(p, taskMsg.cancel(job.id, error ?? state))
      this.#publish(auctionMsg.cancelJob(job.id, this.#ctx.self))
    }
    this.#out.push({ type: 'journal-job-state', jobId: job.id, state: { state, at: now, error } })
    this.emit(job, { type: state === 'done' ? 'job-done' : state === 'failed' ? 'job-failed' : 'job-cancelled', jobId: job.id, at: now, error })
  }

  // ── rounds ───────────────────────────────────────────────────────────────

  #countRound (job: JobRecord, r: Round, awards: Map<string, AwardedTask[]>): void {
    const { metrics, now } = this.#ctx
    const at = now()
    metrics.inc('meshwork_auction_rounds_total')
    metrics.observe('meshwork_auction_round_duration_seconds', (at - r.openedAt) / 1000)
    const awarded = new Map<string, { peer: string, etaMs: number }>()
    for (const [peer, tasks] of awards) {
      for (const a of tasks) {
        const t = job.tasks.get(a.taskId)
        if (t !== undefined) metrics.observe('meshwork_award_latency_seconds', Math.max(0, at - t.readyAt) / 1000)
        // The winner is the task's best bid (a backup's too); look further only if not.
        const best = r.best.get(a.taskId)
        const bid = best?.peer === peer ? best : r.bids.find(b => b.peer === peer && b.taskId === a.taskId)
        awarded.set(a.taskId, { peer, etaMs: bid?.etaMs ?? 0 })
      }
    }
    this.rounds.add({ jobId: job.id, jobName: job.spec.name, round: r.round, openedAt: r.openedAt, closedAt: at, windowMs: r.windowMs, tasks: r.tasks.size, backups: r.backups.size, expected: r.bidders.size, answered: r.answered.size, bids: r.bids, awarded })
  }

  #close (jobId: string): void {
    const r = this.#rounds.get(jobId)
    if (r === undefined) return
    this.#rounds.delete(jobId)
    this.#out.push({ type: 'clear-timer', timer: { kind: 'round', jobId } })
    const job = this.record(jobId)
    if (job === undefined || job.state !== 'running') return
    const awards = closeRound(job, r, this.#ctx)
    this.#countRound(job, r, awards)
    // Bidders that won nothing release their holds now, not when their bids expire.
    const bidders = new Set(r.bids.map(b => b.peer))
    for (const peer of bidders) if (!awards.has(peer)) this.send(peer, taskMsg.closed(jobId, r.round))
    // Awards to this peer go out at once, unjournaled: an attempt here dies with this process,
    // so a restarted origin has nothing to re-attach to, and no message of it can outlive it.
    const own = awards.get(this.#ctx.self)
    if (own !== undefined) {
      awards.delete(this.#ctx.self)
      this.send(this.#ctx.self, taskMsg.award(jobId, r.round, own))
    }
    if (awards.size === 0) { this.pump(job); return }
    // Journal every other award before sending it: a restarted origin must know each attempt
    // number it handed out, to re-attach to it and never hand the same number out twice. The
    // next round's call goes out after the awards, so it cannot overtake them and release
    // (round-scoped) the very holds the awards are about to claim.
    job.sendingAwards = true
    this.#unsent.set(jobId, { round: r.round, awards })
    const now = this.#ctx.now()
    this.#out.push({ type: 'journal-attempts', jobId, attempts: [...awards].flatMap(([peer, tasks]) => tasks.map(t => ({ taskId: t.taskId, attempt: t.attempt, peer, at: now }))) })
  }

  #sendAwards (jobId: string, error: string | undefined): void {
    const unsent = this.#unsent.get(jobId)
    const job = this.record(jobId)
    this.#unsent.delete(jobId)
    if (unsent === undefined || job === undefined) return
    job.sendingAwards = false
    if (error !== undefined) {
      // Unsent awards: their leases expire and the tasks are announced again.
      this.#out.push({ type: 'log', level: 'error', fields: { jobId, err: error }, msg: 'journal write failed; awards not sent' })
    } else if (job.state === 'running') {
      for (const [peer, tasks] of unsent.awards) this.send(peer, taskMsg.award(jobId, unsent.round, tasks))
    }
    this.pump(job)
  }

  /** The local bid did not settle a local-first round: the mesh is asked, and its latency counts from now. */
  #publishRound (r: Round): void {
    publishRound(r, this.#ctx)
    this.#opened.set(r.jobId, { round: r.round, at: this.#ctx.now() })
  }

  #publish (msg: AuctionMessage): void { this.#out.push({ type: 'publish', msg }) }

  #setTimer (timer: OriginTimer, inMs: number): void {
    this.#out.push({ type: 'set-timer', timer, at: this.#ctx.now() + inMs })
  }

  #armRetry (at: number): void {
    if (this.#retryAt !== undefined && this.#retryAt <= at) return
    this.#retryAt = at
    this.#out.push({ type: 'set-timer', timer: { kind: 'retry' }, at })
  }

  /** Each live peer's reason for not running `t` (pending or waiting), for `mesh status`. */
  #why (job: JobRecord, t: TaskRecord): WhyNot[] | undefined {
    if (job.state !== 'running' || t.status !== 'pending') return undefined
    const now = this.#ctx.now()
    return whyNotPerPeer(openTask(job, t, now, this.#ctx.work), this.#ctx.livePeers(), this.#ctx.self, t.lastRound, t.nextTryAt, now)
  }
}

export type { OriginEvent, OriginEffect, TaskResult }
