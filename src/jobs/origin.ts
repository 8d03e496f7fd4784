/**
 * The origin's driver: it feeds `OriginMachine` its events (calls, messages,
 * timers, peer changes, finished journal writes and blob fetches) and performs
 * the effects the machine returns — publish, send, journal, timers, blob
 * fetches, job events (docs/ARCHITECTURE.md §13). All decisions are the
 * machine's; this file only does the IO, through the injected components.
 */
import type { AuctionMessage, Bid, CallForBids } from '../../protocols/auction.ts'
import type { BlobRef, ExecutorToOrigin, FileData, OriginToExecutor } from '../../protocols/task.ts'
import { decodeValue } from '../../protocols/codec.ts'
import { later, type Clock, type TimerHandle } from '../clock.ts'
import type { Logger } from '../logger.ts'
import type { BlobStore } from '../execution/blob-store.ts'
import type { Journal, JournalJob, JournalSnapshot } from './journal.ts'
import type { JobEvent, JobView } from './job-view.ts'
import type { MeshMetrics } from '../metrics.ts'
import type { RoundRecord } from './round-log.ts'
import { OriginMachine } from './origin-machine.ts'
import type { Reputation } from './reputation.ts'
import { timerKey, type FetchedResult, type OriginEffect, type OriginEvent, type OriginInit } from './origin-context.ts'
import type { LivePeer } from './why.ts'

export type { OriginInit } from './origin-context.ts'
export type { JobEvent } from './job-record.ts'

export interface OriginComponents {
  clock: Clock
  logger: Logger
  journal: Journal
  blobs: BlobStore
  self: string
  publish: (msg: AuctionMessage) => void
  /** Hand a call for bids to this peer's own bidder (gossip does not echo our own messages). */
  bidLocally: (msg: CallForBids) => void
  send: (peer: string, msg: OriginToExecutor) => Promise<boolean>
  /** Live peers, this one included: what they can run, have free, their advertised speed, whether they yield. */
  livePeers: () => LivePeer[]
  /** A peer's advertised speed, if known (cheaper than `livePeers` for one peer). */
  speedOf?: (peer: string) => number | undefined
  /** Counts for operators (`/metrics`). */
  metrics?: MeshMetrics
}

export class Origin {
  readonly #c: OriginComponents
  readonly #machine: OriginMachine
  /** Armed timers by key; an entry without a handle fires on the next turn (`later`). */
  readonly #timers = new Map<string, { handle?: TimerHandle }>()
  #replaying = false
  readonly #init: OriginInit
  #compaction: TimerHandle | undefined

  constructor (components: OriginComponents, init: OriginInit) {
    this.#c = components
    this.#init = init
    this.#machine = new OriginMachine({ self: components.self, init, now: () => components.clock.now(), livePeers: components.livePeers, speedOf: components.speedOf, metrics: components.metrics })
  }

  start (): void {
    this.#feed({ type: 'start' })
    this.#scheduleCompaction()
  }

  stop (): void {
    this.#feed({ type: 'stop' })
    for (const key of [...this.#timers.keys()]) this.#clearTimer(key)
    if (this.#compaction !== undefined) this.#c.clock.clearTimeout(this.#compaction)
    this.#compaction = undefined
  }

  /**
   * Forget the jobs that ended more than `keepEndedMs` ago: out of memory
   * first, then out of the journal, so the store of an origin that runs for
   * weeks stays bounded. Returns how many were dropped.
   */
  async compact (): Promise<number> {
    const keep = this.#init.keepEndedMs
    if (keep === undefined) return 0
    const gone = this.#machine.forgetEnded(this.#c.clock.now() - keep)
    for (const job of gone) {
      try {
        await this.#c.journal.deleteJob(job.id)
      } catch (err) {
        // Still in the journal: it comes back after a restart and goes at the next compaction.
        this.#c.logger.warn({ jobId: job.id, err: (err as Error).message }, 'could not drop an old job from the journal')
        continue
      }
      // Its input files and the output files brought home: nothing names them any more.
      const files = [...Object.values(job.files), ...[...job.tasks.values()].flatMap(t => Object.values(t.outputs ?? {}))]
      for (const f of files) if ('blob' in f) this.#c.blobs.drop(f.blob)
    }
    if (gone.length > 0) this.#c.logger.info({ jobs: gone.length }, 'old jobs dropped from the history')
    return gone.length
  }

  /** Compaction runs at start and then a few times per retention period (at most hourly, at least every second). */
  #scheduleCompaction (): void {
    const keep = this.#init.keepEndedMs
    if (keep === undefined) return
    const every = Math.min(3600_000, Math.max(1000, keep / 4))
    const run = (): void => {
      this.#compaction = this.#c.clock.setTimeout(run, every)
      void this.compact()
    }
    run()
  }

  job (id: string): JobView | undefined { return this.#machine.job(id) }
  jobs (): JobView[] { return this.#machine.jobs() }
  /** The last auction rounds this origin closed, oldest first, with their bids and winners. */
  recentRounds (): readonly RoundRecord[] { return this.#machine.rounds.recent() }
  /** What this origin has seen each peer do with its work. */
  get reputation (): Reputation { return this.#machine.reputation }

  /** Accept a validated job: journal it (durable before this resolves), then start auctioning its ready tasks. */
  async submit (job: JournalJob): Promise<JobView> {
    await this.#c.journal.putJob(job)
    this.#feed({ type: 'submitted', job })
    return this.#machine.job(job.id)!
  }

  /**
   * Rebuild jobs from the journal after a restart (before `start`). Finished
   * tasks keep their results; a task whose attempt was handed out is
   * re-attached to it for one lease; everything else is announced again.
   */
  restore (snapshot: JournalSnapshot): JobView[] {
    this.#feed({ type: 'restore', snapshot })
    return snapshot.jobs.map(j => this.#machine.job(j.job.id)!)
  }

  cancel (jobId: string, reason = 'cancelled by the user'): boolean {
    const job = this.#machine.job(jobId)
    if (job === undefined || job.state !== 'running') return false
    this.#feed({ type: 'cancel', jobId, reason })
    return true
  }

  /** Capacity appeared somewhere (an ad with room, a finished task): announce what found no bidder, now. */
  capacityAppeared (): void { this.#feed({ type: 'capacity-appeared' }) }
  /** A bid arrived over the bid protocol (or from our own bidder). */
  onBid (from: string, bid: Bid): void { this.#feed({ type: 'bid', from, bid }) }
  onTaskMessage (from: string, msg: ExecutorToOrigin): void { this.#feed({ type: 'report', from, msg }) }
  /** A peer is gone: every attempt it held is lost and runs again elsewhere. */
  peerGone (peer: string): void { this.#feed({ type: 'peer-gone', peer }) }

  #clearTimer (key: string): void {
    const entry = this.#timers.get(key)
    if (entry === undefined) return
    if (entry.handle !== undefined) this.#c.clock.clearTimeout(entry.handle)
    this.#timers.delete(key)
  }

  #feed (event: OriginEvent): void {
    // A restore replays the journal's history: counted when it happened, not again.
    this.#replaying = event.type === 'restore'
    try {
      for (const effect of this.#machine.handle(event)) this.#perform(effect)
    } finally {
      this.#replaying = false
    }
  }

  /** Attempts and jobs that ended, for `/metrics`. */
  #count (event: JobEvent): void {
    const m = this.#c.metrics
    if (m === undefined || this.#replaying) return
    if (event.type === 'task-done') m.inc('meshwork_attempts_total', { outcome: 'done' })
    else if (event.type === 'task-failed') m.inc('meshwork_attempts_total', { outcome: 'failed' })
    else if (event.type === 'task-migrated') m.inc('meshwork_attempts_total', { outcome: 'migrated' })
    else if (event.type === 'job-done' || event.type === 'job-failed' || event.type === 'job-cancelled') m.inc('meshwork_jobs_ended_total', { state: event.type.slice(4) })
  }

  #perform (e: OriginEffect): void {
    const c = this.#c
    switch (e.type) {
      case 'publish': c.publish(e.msg); return
      case 'bid-locally': c.bidLocally(e.cfb); return
      case 'send': void c.send(e.peer, e.msg); return
      case 'emit':
        this.#count(e.event)
        this.#machine.record(e.jobId)?.log.push(e.event)
        return
      case 'log': c.logger[e.level](e.fields, e.msg); return
      case 'set-timer': {
        const key = timerKey(e.timer)
        this.#clearTimer(key)
        const entry: { handle?: TimerHandle } = {}
        this.#timers.set(key, entry)
        const fire = (): void => {
          if (this.#timers.get(key) !== entry) return // cleared or replaced meanwhile
          this.#timers.delete(key)
          this.#feed({ type: 'timer', timer: e.timer })
        }
        const inMs = e.at - c.clock.now()
        // Due now (batched acks): on the next turn, not after a timer's millisecond.
        if (inMs <= 0) later(c.clock, fire)
        else entry.handle = c.clock.setTimeout(fire, inMs)
        return
      }
      case 'clear-timer': this.#clearTimer(timerKey(e.timer)); return
      case 'journal-attempts':
        void Promise.all(e.attempts.map(async a => { await c.journal.putAttempt(e.jobId, a) })).then(
          () => { this.#feed({ type: 'awards-journaled', jobId: e.jobId }) },
          (err: Error) => { this.#feed({ type: 'awards-journaled', jobId: e.jobId, error: err.message }) })
        return
      case 'journal-result': {
        const hasBlobs = Object.values(e.fetched.outputs).some(d => 'blob' in d)
        void (async () => {
          if (hasBlobs) await c.blobs.flush?.()
          await c.journal.putResult(e.fetched.jobId, e.record)
        })().then(
          () => { this.#feed({ type: 'result-journaled', fetched: e.fetched }) },
          (err: Error) => { this.#feed({ type: 'result-journaled', fetched: e.fetched, error: err.message }) })
        return
      }
      case 'journal-job-state': void c.journal.putJobState(e.jobId, e.state); return
      case 'fetch-result':
        this.#fetchResult(e.from, e.jobId, e.result).then(
          fetched => { this.#feed({ type: 'result-fetched', fetched }) },
          (err: Error) => { this.#feed({ type: 'result-fetch-failed', from: e.from, jobId: e.jobId, result: e.result, error: err.message }) })
        return
      case 'fetch-checkpoint':
        void this.#fetchValue(e.from, e.ref).then(
          state => { this.#feed({ type: 'checkpoint-fetched', jobId: e.jobId, taskId: e.taskId, state }) },
          (err: Error) => { c.logger.warn({ jobId: e.jobId, taskId: e.taskId, err: err.message }, 'cannot fetch a checkpoint') })
    }
  }

  /** Bring a result's blobs home: its value, and its output files into the local blob store. */
  async #fetchResult (from: string, jobId: string, result: FetchedResult['result']): Promise<FetchedResult> {
    let value = result.value
    const outputs: Record<string, FileData> = {}
    if (result.ok) {
      if (result.valueBlob !== undefined) value = await this.#fetchValue(from, result.valueBlob)
      for (const [path, data] of Object.entries(result.outputs ?? {})) {
        outputs[path] = 'blob' in data ? { blob: this.#c.blobs.put(await this.#c.blobs.fetch(from, data.blob)) } : data
      }
    }
    return { from, jobId, result, value, outputs }
  }

  async #fetchValue (peer: string, ref: BlobRef): Promise<unknown> {
    const d = decodeValue(await this.#c.blobs.fetch(peer, ref))
    if (!d.ok) throw new Error(`value blob: ${d.detail}`)
    return d.value
  }
}
