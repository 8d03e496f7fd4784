/**
 * One job as its origin sees it: every task's state and attempts, the event
 * history (for `job.events()` and `mesh submit --wait`), and snapshots for
 * `mesh status` and `mesh results`. Mutated only by `Origin`.
 */
import type { FileData } from '../../protocols/task.ts'
import { MeshError } from '../errors.ts'
import type { TaskInstance } from './expand.ts'
import type { JournalJob } from './journal.ts'
import type { JobSpec } from './spec.ts'

export type TaskStatus = 'blocked' | 'pending' | 'announced' | 'awarded' | 'queued' | 'running' | 'done' | 'failed' | 'cancelled'

export interface AttemptRecord {
  attempt: number
  peer: string
  state: 'awarded' | 'queued' | 'running' | 'done' | 'failed' | 'rejected' | 'lost' | 'cancelled'
  awardedAt: number
  startedAt?: number
  endedAt?: number
  /** Why it failed, was rejected or was lost. */
  reason?: string
  /** Last sign of life (accept, progress): the lease counts from here. */
  lastHeartbeat: number
}

export interface TaskRecord {
  id: string
  inst: TaskInstance
  status: TaskStatus
  /** The current attempt number; only its result is accepted. */
  attempt: number
  attempts: AttemptRecord[]
  /** When the task became ready (its age raises its value in bids). */
  readyAt: number
  nextTryAt: number
  /** Why a pending task is not being announced ("no live peer offers gpu ≥ 1"). */
  waiting?: string
  exclude: string[]
  retriesLeft: number
  fraction?: number
  result?: unknown
  outputs?: Record<string, FileData>
  error?: string
  /** The last checkpoint any attempt saved; the next attempt resumes from it. */
  checkpoint?: unknown
  /** A straggler: a backup attempt is wanted, or is being auctioned (announced). */
  backup?: 'wanted' | 'announced'
  /** Backup attempts started for this task. */
  backups?: number
}

export type JobEvent =
  | { type: 'job-submitted', jobId: string, tasks: number, at: number }
  | { type: 'task-started', jobId: string, taskId: string, attempt: number, peer: string, at: number }
  | { type: 'task-done', jobId: string, taskId: string, attempt: number, peer: string, durationMs: number, at: number }
  | { type: 'task-failed', jobId: string, taskId: string, attempt: number, peer: string, error: string, willRetry: boolean, at: number }
  | { type: 'task-waiting', jobId: string, taskId: string, reason: string, at: number }
  | { type: 'task-migrated', jobId: string, taskId: string, attempt: number, peer: string, reason: string, at: number }
  | { type: 'backup-started', jobId: string, taskId: string, attempt: number, peer: string, reason: string, at: number }
  | { type: 'job-done' | 'job-failed' | 'job-cancelled', jobId: string, at: number, error?: string }

export type JobState = 'running' | 'done' | 'failed' | 'cancelled'

/** Attempt states that may still produce a result. */
export const LIVE = new Set<AttemptRecord['state']>(['awarded', 'queued', 'running'])

/** The live attempts of a task (more than one only while a backup runs). */
export function liveAttempts (t: TaskRecord): AttemptRecord[] {
  return t.attempts.filter(a => LIVE.has(a.state))
}

/** Events kept for late subscribers; older ones are dropped (the snapshot still has every task's state). */
const MAX_HISTORY = 20_000

export class JobView {
  readonly id: string
  readonly spec: JobSpec
  readonly files: Record<string, FileData>
  readonly submittedAt: number
  readonly tasks = new Map<string, TaskRecord>()
  state: JobState = 'running'
  endedAt?: number
  error?: string
  nextRound = 0
  /**
   * After a round in which some task found no bidder, no new round starts
   * before this time, unless capacity is seen to appear (a result, a rejection,
   * an ad with room), which resets it. Doubles from 100 ms to 5 s.
   */
  idleUntil = 0
  idleBackoffMs = 0
  /** True while a closed round's awards are being journaled and sent: the next round waits for them. */
  sendingAwards = false
  /**
   * This job's bid window (ms). It starts at `auction.bidWindowMs`, doubles
   * (up to 2 s) after a round in which some capable peer did not answer in
   * time, and halves back after rounds in which all did: a mesh whose round
   * trips exceed the window still gets its bids counted.
   */
  windowMs = 0
  /** The tasks in spec order, and the first that may not be finished: rounds scan from there. */
  readonly order: TaskRecord[] = []
  scanFrom = 0
  readonly #history: JobEvent[] = []
  readonly #listeners = new Set<(e: JobEvent) => void>()
  readonly #durations = new Map<string, number[]>()
  /** Median of each name's durations, computed once per new sample: the auction asks for it per task per round. */
  readonly #typical = new Map<string, number>()
  #doneCount = 0
  readonly #doneByName = new Map<string, number>()
  readonly #countByName = new Map<string, number>()

  constructor (job: JournalJob, instances: TaskInstance[], now: number) {
    this.id = job.id
    this.spec = job.spec
    this.files = job.files
    this.submittedAt = job.submittedAt
    for (const inst of instances) {
      this.tasks.set(inst.id, {
        id: inst.id, inst, status: 'blocked', attempt: 1, attempts: [], readyAt: now, nextTryAt: 0,
        exclude: [], retriesLeft: inst.spec.retries
      })
      this.#countByName.set(inst.name, (this.#countByName.get(inst.name) ?? 0) + 1)
    }
    this.order.push(...this.tasks.values())
  }

  emit (e: JobEvent): void {
    if (e.type === 'task-done') {
      this.#doneCount++
      const name = this.tasks.get(e.taskId)?.inst.name
      if (name !== undefined) this.#doneByName.set(name, (this.#doneByName.get(name) ?? 0) + 1)
    }
    this.#history.push(e)
    if (this.#history.length > MAX_HISTORY) this.#history.splice(0, this.#history.length - MAX_HISTORY)
    for (const l of this.#listeners) l(e)
  }

  /**
   * The record of (task, attempt) on `peer` if that attempt is live (awarded,
   * queued or running). Fencing rests on this: only a live attempt's messages
   * count, and a task has more than one live attempt only while a backup runs.
   */
  currentAttempt (taskId: string, attempt: number, peer: string): AttemptRecord | undefined {
    const t = this.tasks.get(taskId)
    if (t === undefined) return undefined
    for (let i = t.attempts.length - 1; i >= 0; i--) {
      const a = t.attempts[i]!
      if (a.attempt === attempt && a.peer === peer) return LIVE.has(a.state) ? a : undefined
    }
    return undefined
  }

  nameDone (name: string): boolean {
    return (this.#doneByName.get(name) ?? 0) === (this.#countByName.get(name) ?? -1)
  }

  allDone (): boolean { return this.#doneCount === this.tasks.size }

  /** How many durations of task `name` have been measured. */
  samples (name: string): number { return this.#durations.get(name)?.length ?? 0 }

  recordDuration (name: string, ms: number): void {
    const list = this.#durations.get(name) ?? []
    list.push(ms)
    if (list.length > 100) list.shift()
    this.#durations.set(name, list)
    this.#typical.set(name, [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!)
  }

  /** Median measured duration of this task's attempts so far, if any. */
  typicalMs (name: string): number | undefined {
    return this.#typical.get(name)
  }

  /** Every event from the start (as far as kept), then live ones, ending after the job ends. */
  async * events (): AsyncGenerator<JobEvent> {
    // A read index rather than shift(): a big job's history is long, and shift is O(n).
    let queue: JobEvent[] = [...this.#history]
    let next = 0
    let wake: (() => void) | undefined
    const listener = (e: JobEvent): void => { queue.push(e); wake?.() }
    this.#listeners.add(listener)
    try {
      for (;;) {
        while (next < queue.length) {
          const e = queue[next++]!
          if (next > 4096 && next * 2 > queue.length) { queue = queue.slice(next); next = 0 }
          yield e
          if (e.type === 'job-done' || e.type === 'job-failed' || e.type === 'job-cancelled') return
        }
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
      }
    } finally {
      this.#listeners.delete(listener)
    }
  }

  /** Resolves when the job ends. */
  async finished (): Promise<JobState> {
    if (this.state !== 'running') return this.state
    for await (const e of this.events()) {
      if (e.type === 'job-done' || e.type === 'job-failed' || e.type === 'job-cancelled') break
    }
    return this.state
  }

  /**
   * The job's results by task id, in task order, once it is done. Rejects with
   * `MESH_ERR_JOB_FAILED` (naming the task and its error) if it fails or is cancelled.
   */
  async results (): Promise<Record<string, unknown>> {
    const state = await this.finished()
    if (state !== 'done') throw new MeshError('MESH_ERR_JOB_FAILED', `job ${this.id} ${state}${this.error !== undefined ? `: ${this.error}` : ''}`)
    const out: Record<string, unknown> = {}
    for (const t of this.tasks.values()) out[t.id] = t.result
    return out
  }

  counts (): Record<TaskStatus, number> {
    const c: Record<TaskStatus, number> = { blocked: 0, pending: 0, announced: 0, awarded: 0, queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 }
    for (const t of this.tasks.values()) c[t.status]++
    return c
  }

  /** A plain-data summary for the control API and `mesh status`. */
  snapshot (withTasks: boolean): JobSnapshot {
    const peers: Record<string, { running: number, done: number }> = {}
    for (const t of this.tasks.values()) {
      const a = t.attempts.at(-1)
      if (a === undefined) continue
      const p = peers[a.peer] ??= { running: 0, done: 0 }
      if (a.state === 'running') p.running++
      if (a.state === 'done') p.done++
    }
    return {
      id: this.id,
      name: this.spec.name,
      state: this.state,
      submittedAt: this.submittedAt,
      endedAt: this.endedAt,
      error: this.error,
      counts: this.counts(),
      total: this.tasks.size,
      peers,
      tasks: withTasks
        ? [...this.tasks.values()].map(t => ({
            id: t.id,
            status: t.status,
            attempt: t.attempt,
            peer: t.attempts.at(-1)?.peer,
            fraction: t.fraction,
            waiting: t.waiting,
            error: t.error,
            attempts: t.attempts.map(a => ({
              attempt: a.attempt, peer: a.peer, state: a.state, reason: a.reason,
              durationMs: a.startedAt !== undefined && a.endedAt !== undefined ? a.endedAt - a.startedAt : undefined
            }))
          }))
        : undefined
    }
  }
}

export interface JobSnapshot {
  id: string
  name: string
  state: JobState
  submittedAt: number
  endedAt?: number
  error?: string
  counts: Record<TaskStatus, number>
  total: number
  /** Per peer: attempts running now and tasks it finished. */
  peers: Record<string, { running: number, done: number }>
  tasks?: Array<{
    id: string
    status: TaskStatus
    attempt: number
    peer?: string
    fraction?: number
    waiting?: string
    error?: string
    attempts: Array<{ attempt: number, peer: string, state: AttemptRecord['state'], reason?: string, durationMs?: number }>
  }>
}
