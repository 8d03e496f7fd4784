/**
 * A job's private state at its origin: every task with its attempts, the
 * scheduling knobs the origin adapts per job, and the job's event log. Only
 * the origin's state machine writes it, and task state only through
 * `task-transitions.ts`. The API and the control routes get the read-only
 * `JobView` instead (docs/ARCHITECTURE.md §14).
 */
import type { ArtifactBytes, FileData } from '../../protocols/task.ts'
import type { Resources } from '../../protocols/resources.ts'
import { toUnits, type Units } from '../resources/ledger.ts'
import type { TaskInstance } from './expand.ts'
import type { JournalJob } from './journal.ts'
import type { JobSpec } from './spec.ts'
import type { Cause } from './task-transitions.ts'
import type { RoundOutcome } from './why.ts'
import type { ReplicaState } from './replicas.ts'

export type TaskStatus = 'blocked' | 'pending' | 'announced' | 'awarded' | 'queued' | 'running' | 'done' | 'failed' | 'cancelled'
export type AttemptState = 'awarded' | 'queued' | 'running' | 'reported' | 'done' | 'failed' | 'rejected' | 'lost' | 'cancelled'
export type JobState = 'running' | 'done' | 'failed' | 'cancelled'

export interface AttemptRecord {
  attempt: number
  peer: string
  state: AttemptState
  awardedAt: number
  startedAt?: number
  endedAt?: number
  /** Why it failed, was rejected or was lost. */
  reason?: string
  /** Last sign of life (accept, progress): the lease counts from here. */
  lastHeartbeat: number
  /** Where its artifacts came from, as its executor reported with the result. */
  artifactBytes?: ArtifactBytes
  /** When it saved checkpoints (the last CHECKPOINT_MARKS of them), for the dashboard's timeline. */
  checkpoints?: number[]
  /** The tail of a failed exec attempt's stdout and stderr (OUTPUT_TAIL characters each); kept in memory only. */
  output?: { stdout: string, stderr: string }
  /** The ETA its peer bid (ms from the award), when the task's work was known: its promise (deadlines.ts). */
  promisedMs?: number
  /** It ran far past its promise: a backup was asked for, and losing to it counts against the peer. */
  overdue?: boolean
}

/** Checkpoint times kept per attempt. */
export const CHECKPOINT_MARKS = 50
/** Characters of a failed attempt's stdout and stderr the origin keeps. */
export const OUTPUT_TAIL = 4096
/** Failed attempts per job whose output tails are kept (the latest): 8 KB each, however many fail. */
export const OUTPUT_TAILS_PER_JOB = 256

/** Note a checkpoint's time on the attempt that saved it. */
export function markCheckpoint (a: AttemptRecord, at: number): void {
  const marks = a.checkpoints ??= []
  marks.push(at)
  if (marks.length > CHECKPOINT_MARKS) marks.splice(0, marks.length - CHECKPOINT_MARKS)
}

/** The stdout/stderr tail of an exec task's value (a failed attempt's too), if it has them. */
export function outputTail (value: unknown): { stdout: string, stderr: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as { stdout?: unknown, stderr?: unknown }
  if (typeof v.stdout !== 'string' || typeof v.stderr !== 'string') return undefined
  return { stdout: v.stdout.slice(-OUTPUT_TAIL), stderr: v.stderr.slice(-OUTPUT_TAIL) }
}

export interface TaskRecord {
  id: string
  inst: TaskInstance
  status: TaskStatus
  /** What caused the last status change (dask's stimulus): shown by `mesh status --json`. */
  cause?: Cause
  /** The current attempt number; only its result is accepted. */
  attempt: number
  attempts: AttemptRecord[]
  /** When the task became ready (its age raises its value in bids). */
  readyAt: number
  nextTryAt: number
  /** Why no live peer can run this pending task ("no live peer offers gpu ≥ 1"); it is not announced meanwhile. */
  waiting?: string
  /** The last round this task was announced in and found no winner: each peer's answer. */
  lastRound?: RoundOutcome
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
  /** Rounds in a row this task was announced in without a bid (rounds.ts lifts its exclusions after a few). */
  unbidRounds?: number
  /** Replicas of a verified task and their results (replicas.ts); absent until the task is first awarded or reported. */
  replica?: ReplicaState
  /** Attempts whose peer could not fetch the task's inputs or artifacts (counted against those peers, up to a limit). */
  transferFailures?: number
}

export type JobEvent =
  | { type: 'job-submitted', jobId: string, tasks: number, at: number }
  | { type: 'task-started', jobId: string, taskId: string, attempt: number, peer: string, at: number }
  | { type: 'task-done', jobId: string, taskId: string, attempt: number, peer: string, durationMs: number, at: number }
  | { type: 'task-failed', jobId: string, taskId: string, attempt: number, peer: string, error: string, willRetry: boolean, at: number }
  | { type: 'task-waiting', jobId: string, taskId: string, reason: string, at: number }
  | { type: 'task-migrated', jobId: string, taskId: string, attempt: number, peer: string, reason: string, at: number }
  | { type: 'backup-started', jobId: string, taskId: string, attempt: number, peer: string, reason: string, at: number }
  /** A verified task's verdict: its replicas agreed, its peer was trusted alone (adaptive), or no majority formed (failed). */
  | { type: 'task-verified', jobId: string, taskId: string, verdict: 'agreed' | 'trusted' | 'disagreed' | 'failed', agreeing: string[], disagreeing: string[], at: number }
  | { type: 'job-done' | 'job-failed' | 'job-cancelled', jobId: string, at: number, error?: string }

/** Attempt states that may still produce a result. */
export const LIVE = new Set<AttemptState>(['awarded', 'queued', 'running'])

/** The live attempts of a task (more than one only while a backup runs). */
export function liveAttempts<A extends Pick<AttemptRecord, 'state'>> (t: { readonly attempts: readonly A[] }): A[] {
  return t.attempts.filter(a => LIVE.has(a.state))
}

/** Events kept for late subscribers; older ones are dropped (the snapshot still has every task's state). */
const MAX_HISTORY = 20_000

/** A job's events: kept for late subscribers (as far as MAX_HISTORY), and pushed to live ones. */
export class EventLog {
  readonly history: JobEvent[] = []
  readonly listeners = new Set<(e: JobEvent) => void>()

  push (e: JobEvent): void {
    this.history.push(e)
    if (this.history.length > MAX_HISTORY) this.history.splice(0, this.history.length - MAX_HISTORY)
    for (const l of this.listeners) l(e)
  }
}

export class JobRecord {
  readonly id: string
  readonly spec: JobSpec
  readonly files: Record<string, FileData>
  readonly submittedAt: number
  readonly tasks = new Map<string, TaskRecord>()
  /** The tasks in spec order, and the first that may not be finished: rounds scan from there. */
  readonly order: TaskRecord[] = []
  scanFrom = 0
  state: JobState = 'running'
  endedAt?: number
  error?: string
  readonly log = new EventLog()
  /** The attempts holding an output tail, oldest first (at most OUTPUT_TAILS_PER_JOB). */
  readonly #withOutput: AttemptRecord[] = []
  /** What this job has out on each peer now: the demand of its live attempts there (task-transitions.ts keeps it). */
  readonly #liveOn = new Map<string, Units>()
  /** Faults each peer committed in this job (reputation.ts): a peer with a few is taken only when nobody else bids. */
  readonly #faults = new Map<string, number>()

  /** Called by the transitions only: an attempt on `peer` became live (+1) or stopped being live (−1). */
  liveOn (peer: string, demand: Resources, sign: 1 | -1): void {
    const u = this.#liveOn.get(peer) ?? new Map()
    for (const [k, v] of toUnits(demand)) u.set(k, (u.get(k) ?? 0) + sign * v)
    if ([...u.values()].every(v => v <= 0)) this.#liveOn.delete(peer)
    else this.#liveOn.set(peer, u)
  }

  /** The demand of this job's live attempts on `peer` (awarded, queued or running). */
  liveDemandOn (peer: string): Units { return this.#liveOn.get(peer) ?? new Map() }

  noteFault (peer: string): void { this.#faults.set(peer, (this.#faults.get(peer) ?? 0) + 1) }
  faultsOf (peer: string): number { return this.#faults.get(peer) ?? 0 }

  /** Keep a failed attempt's output tail, dropping the oldest one kept beyond the cap. */
  keepOutput (a: AttemptRecord, output: { stdout: string, stderr: string }): void {
    a.output = output
    this.#withOutput.push(a)
    if (this.#withOutput.length > OUTPUT_TAILS_PER_JOB) delete this.#withOutput.shift()!.output
  }

  // ── the origin's scheduling knobs for this job (docs/ARCHITECTURE.md §6) ──
  nextRound = 0
  /**
   * After a round in which some task found no bidder, no new round starts
   * before this time, unless capacity is seen to appear (a result, a rejection,
   * an ad with room), which brings it forward to half a bid window after the
   * last round closed. Doubles from 100 ms to 5 s.
   */
  idleUntil = 0
  idleBackoffMs = 0
  /** When its last round closed: capacity that appears wakes an idle job no sooner than half a bid window after it. */
  lastClosedAt = -Infinity
  /** True while a closed round's awards are being journaled and sent: the next round waits for them. */
  sendingAwards = false
  /**
   * This job's bid window (ms). It starts at `auction.bidWindowMs`, doubles
   * (up to 2 s) after a round in which some capable peer did not answer in
   * time, and halves back after rounds in which all did.
   */
  windowMs = 0

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
      const t: TaskRecord = { id: inst.id, inst, status: 'blocked', attempt: 1, attempts: [], readyAt: now, nextTryAt: 0, exclude: [], retriesLeft: inst.spec.retries }
      this.tasks.set(inst.id, t)
      this.order.push(t)
      this.#countByName.set(inst.name, (this.#countByName.get(inst.name) ?? 0) + 1)
    }
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

  /** Called by the transition to `done` only. */
  countDone (t: TaskRecord): void {
    this.#doneCount++
    this.#doneByName.set(t.inst.name, (this.#doneByName.get(t.inst.name) ?? 0) + 1)
  }

  nameDone (name: string): boolean {
    return (this.#doneByName.get(name) ?? 0) === (this.#countByName.get(name) ?? -1)
  }

  doneCount (): number { return this.#doneCount }
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

  counts (): Record<TaskStatus, number> {
    const c: Record<TaskStatus, number> = { blocked: 0, pending: 0, announced: 0, awarded: 0, queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 }
    for (const t of this.tasks.values()) c[t.status]++
    return c
  }
}
