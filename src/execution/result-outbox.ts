/**
 * The result outbox (docs/ARCHITECTURE.md §1.4, §7): a finished attempt's
 * result is made durable (its blobs flushed, the record stored) before it is
 * first sent, resent with backoff until its origin acknowledges it, and
 * dropped only on the ack, on a cancel of its job, or after
 * `failure.resultTtlMs`. Results that finish close together go out in one
 * message per (origin, job), after the start notices of the same flush, so an
 * origin learns a task started before it learns it ended; an attempt whose
 * result is in the flush needs no start notice (its result says it ran).
 */
import { RESULTS_PER_MESSAGE, TASK_LIMITS, taskMsg, type AckMsg, type BlobRef, type FileData, type ExecutorToOrigin, type TaskResult } from '../../protocols/task.ts'
import { encodeMessage } from '../../protocols/codec.ts'
import { later, type Clock, type TimerHandle } from '../clock.ts'
import type { Logger } from '../logger.ts'
import { ByJob, attemptKey, type AttemptKey } from '../keys.ts'
import type { Attempt } from './admission.ts'
import type { BlobStore } from './blob-store.ts'
import type { OutboxStore } from './outbox.ts'
import type { RunOutcome } from './runner.ts'

export interface ResultOutboxDeps {
  /** This peer's id: results for its own origin need no durable copy here. */
  self: string
  clock: Clock
  logger: Logger
  blobs: BlobStore
  store: OutboxStore
  send: (peer: string, msg: ExecutorToOrigin) => Promise<boolean>
  resultTtlMs: number
  /** Tell origins these attempts run (or started): the batched start notices. */
  sendProgress: (attempts: Attempt[], started: boolean) => void
}

interface Pending { origin: string, jobId: string, result: TaskResult, at: number, sentAt: number, backoffMs: number, blobs: BlobRef[] }

/** The least time between two flushes while results keep coming. */
const FLUSH_GAP_MS = 1
/**
 * How long a start notice may wait for a result to ride with. A short task's
 * start and end then cost its origin one message, not two; a long task's
 * start is told this much later, which nobody watching a progress bar sees.
 */
const START_NOTICE_MS = 20
/** Resend period of the outbox loop; each entry backs off from 1 s to 30 s. */
const RESEND_TICK_MS = 500

export class ResultOutbox {
  readonly #d: ResultOutboxDeps
  readonly #entries = new Map<AttemptKey, Pending>()
  /** Results made durable since the last flush, sent in one batch per (origin, job). */
  readonly #ready = new ByJob<TaskResult>()
  /** Attempts started since the last flush, told to their origins in one progress message each. */
  #started: Attempt[] = []
  #flushArmed = false
  #startsArmed = false
  #lastFlushAt = -Infinity
  #resendTimer: TimerHandle | undefined
  #running = false

  constructor (deps: ResultOutboxDeps) { this.#d = deps }

  get size (): number { return this.#entries.size }

  /** Start the resend loop; results left by an earlier run are loaded and sent again. */
  async start (): Promise<void> {
    this.#running = true
    this.#scheduleResend()
    for (const e of await this.#d.store.load()) {
      const key = attemptKey(e.origin, e.jobId, e.result.taskId, e.result.attempt)
      if (this.#entries.has(key)) continue
      // Written by a version whose keys left out the origin: stored again under today's key.
      if (e.key !== key) void this.#d.store.put({ ...e, key }).then(async () => { await this.#d.store.delete(e.key) }).catch(() => {})
      const blobs = blobsOf(e.result)
      for (const b of blobs) this.#d.blobs.retain?.(b)
      this.#entries.set(key, { origin: e.origin, jobId: e.jobId, result: e.result, at: e.at, sentAt: 0, backoffMs: 0, blobs })
    }
  }

  stop (): void {
    this.#running = false
    if (this.#resendTimer !== undefined) this.#d.clock.clearTimeout(this.#resendTimer)
  }

  /** `peer` is reachable again: send its results now rather than after the backoff. */
  originBack (peer: string): void {
    for (const e of this.#entries.values()) if (e.origin === peer) { e.backoffMs = 0; e.sentAt = 0 }
  }

  /** An attempt started: its origin hears of it with the next results, or within START_NOTICE_MS. */
  noteStarted (a: Attempt): void {
    this.#started.push(a)
    if (this.#startsArmed) return
    this.#startsArmed = true
    this.#d.clock.setTimeout(() => {
      this.#startsArmed = false
      if (this.#running && this.#started.length > 0) this.#flush()
    }, START_NOTICE_MS)
  }

  /** Keep a finished attempt's result until its origin acknowledges it; durable before it is sent. */
  deliver (a: Attempt, outcome: RunOutcome, durationMs: number): void {
    const base = { taskId: a.task.taskId, attempt: a.task.attempt, durationMs, ...(outcome.artifactBytes !== undefined ? { artifactBytes: outcome.artifactBytes } : {}) }
    const blobs: BlobRef[] = []
    let result: TaskResult
    if (outcome.ok) {
      const outputs: Record<string, FileData> = {}
      for (const [path, bytes] of Object.entries(outcome.outputs ?? {})) outputs[path] = this.inlineOrBlob(bytes, blobs)
      const encoded = encodeMessage(outcome.value ?? null)
      result = encoded.byteLength <= TASK_LIMITS.inlineBytes
        ? { ...base, ok: true, value: outcome.value, outputs }
        : { ...base, ok: true, valueBlob: this.blob(encoded, blobs), outputs }
    } else {
      result = { ...base, ok: false, error: outcome.error.slice(0, TASK_LIMITS.maxErrorLength), reason: outcome.reason, retryable: outcome.retryable, value: outcome.value }
    }
    const now = this.#d.clock.now()
    this.#entries.set(a.key, { origin: a.origin, jobId: a.jobId, result, at: now, sentAt: now, backoffMs: 1000, blobs })
    // A result for this peer's own origin is not stored: the origin journals it before it is
    // acknowledged, and if this process dies first, so does the attempt the origin waits for.
    const durable = async (): Promise<void> => {
      if (a.origin === this.#d.self) return
      if (blobs.length > 0) await this.#d.blobs.flush?.()
      await this.#d.store.put({ key: a.key, origin: a.origin, jobId: a.jobId, result, at: now })
    }
    durable().then(() => {
      this.#ready.add(a.origin, a.jobId, result)
      this.#scheduleFlush()
    }, (err: Error) => {
      // Not durable: keep it in memory and let the resend loop deliver it; say so.
      this.#d.logger.error({ jobId: a.jobId, taskId: a.task.taskId, err: err.message }, 'outbox write failed')
    })
  }

  /** The origin acknowledged these results: forget them and their blobs. */
  onAck (from: string, msg: AckMsg): void {
    for (const a of msg.acks) {
      const key = attemptKey(from, msg.jobId, a.taskId, a.attempt)
      const e = this.#entries.get(key)
      if (e === undefined) continue
      for (const b of e.blobs) this.#d.blobs.drop(b)
      this.#forget(key)
    }
  }

  /** A cancelled job's results are no longer wanted. */
  dropJob (origin: string, jobId: string): void {
    for (const [k, e] of this.#entries) if (e.jobId === jobId && e.origin === origin) this.#forget(k)
  }

  /** A value or file: inline when small, else a blob (recorded in `blobs` to drop on the ack). */
  inlineOrBlob (bytes: Uint8Array, blobs: BlobRef[]): FileData {
    return bytes.byteLength <= TASK_LIMITS.inlineBytes ? { inline: bytes } : { blob: this.blob(bytes, blobs) }
  }

  blob (bytes: Uint8Array, blobs: BlobRef[]): BlobRef {
    const r = this.#d.blobs.put(bytes)
    blobs.push(r)
    return r
  }

  #forget (key: AttemptKey): void {
    const e = this.#entries.get(key)
    this.#entries.delete(key)
    if (e?.origin !== this.#d.self) void this.#d.store.delete(key)
  }

  /**
   * Flush soon, in batches sized by what is ready (Nagle's rule): on the next
   * turn when the last flush of results was at least a millisecond ago, so a
   * lone result goes out at once (a flush of start notices alone does not
   * count: a short task's result would wait behind its own start); else a
   * millisecond after it, so a busy executor sends one message per (origin,
   * job) for everything that finished meanwhile.
   */
  #scheduleFlush (): void {
    if (this.#flushArmed) return
    this.#flushArmed = true
    const fire = (): void => {
      this.#flushArmed = false
      if (this.#ready.size > 0) this.#lastFlushAt = this.#d.clock.now()
      if (this.#running) this.#flush()
    }
    if (this.#d.clock.now() - this.#lastFlushAt >= FLUSH_GAP_MS) later(this.#d.clock, fire)
    else this.#d.clock.setTimeout(fire, FLUSH_GAP_MS)
  }

  /** Send batched start notices, then results. */
  #flush (): void {
    const ending = new Set<AttemptKey>()
    for (const { peer, jobId, items } of this.#ready) for (const r of items) ending.add(attemptKey(peer, jobId, r.taskId, r.attempt))
    const started = ending.size === 0 ? this.#started : this.#started.filter(a => !ending.has(a.key))
    this.#started = []
    if (started.length > 0) this.#d.sendProgress(started, true)
    this.#sendResults(this.#ready)
    this.#ready.clear()
  }

  #sendResults (batches: ByJob<TaskResult>): void {
    for (const { peer, jobId, items } of batches) {
      for (let i = 0; i < items.length; i += RESULTS_PER_MESSAGE) void this.#d.send(peer, taskMsg.result(jobId, items.slice(i, i + RESULTS_PER_MESSAGE)))
    }
  }

  #scheduleResend (): void {
    this.#resendTimer = this.#d.clock.setTimeout(() => {
      if (!this.#running) return
      const now = this.#d.clock.now()
      const due = new ByJob<TaskResult>()
      for (const [key, e] of this.#entries) {
        if (now - e.at > this.#d.resultTtlMs) {
          this.#d.logger.warn({ jobId: e.jobId, taskId: e.result.taskId, origin: e.origin }, 'result dropped: its origin did not come back within failure.resultTtlMs')
          this.#forget(key)
          continue
        }
        if (now - e.sentAt < e.backoffMs) continue
        e.sentAt = now
        e.backoffMs = Math.min(Math.max(1000, e.backoffMs * 2), 30_000)
        due.add(e.origin, e.jobId, e.result)
      }
      this.#sendResults(due)
      this.#scheduleResend()
    }, RESEND_TICK_MS)
  }
}

/** The blobs a result refers to (its value and output files). */
function blobsOf (r: TaskResult): BlobRef[] {
  if (!r.ok) return []
  const out: BlobRef[] = r.valueBlob !== undefined ? [r.valueBlob] : []
  for (const f of Object.values(r.outputs ?? {})) if ('blob' in f) out.push(f.blob)
  return out
}
