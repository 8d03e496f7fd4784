/**
 * Every change to a task's state at its origin goes through here: one guarded
 * transition per change, each with the cause that triggered it (dask's
 * stimulus id is the model). A task's status and its attempts' states change
 * together in these functions, never apart. An illegal change is a bug and
 * throws `TransitionError`; the origin catches it per event, logs it, and
 * carries on (docs/ARCHITECTURE.md §14).
 */
import type { FileData } from '../../protocols/task.ts'
import { LIVE, liveAttempts, type AttemptRecord, type AttemptState, type JobRecord, type TaskRecord, type TaskStatus } from './job-record.ts'

export type CauseKind =
  | 'upstream-done' | 'announced' | 'won' | 'no-bid' | 'deferred' | 'accepted' | 'rejected' | 'started'
  | 'result' | 'failed' | 'lost' | 'released' | 'lease-expired' | 'peer-gone' | 'job-ended' | 'restored'
  | 'transfer-failed' | 'deadline' | 'stalled'

/** Why a state changed: what happened, when, and where it came from. */
export interface Cause { kind: CauseKind, at: number, peer?: string, detail?: string }

const TASK_MOVES: Record<TaskStatus, readonly TaskStatus[]> = {
  blocked: ['pending', 'cancelled'],
  pending: ['announced', 'cancelled'],
  announced: ['pending', 'awarded', 'cancelled'],
  awarded: ['queued', 'running', 'pending', 'done', 'failed', 'cancelled'],
  queued: ['running', 'pending', 'done', 'failed', 'cancelled'],
  running: ['pending', 'done', 'failed', 'cancelled'],
  done: [],
  failed: [],
  cancelled: []
}

/** A restarted origin replays its journal: a task goes straight to where its records left it. */
const RESTORE_MOVES: Partial<Record<TaskStatus, readonly TaskStatus[]>> = {
  blocked: ['awarded', 'done', 'cancelled'],
  pending: ['awarded', 'done', 'cancelled'],
  awarded: ['awarded', 'done', 'cancelled']
}

const ATTEMPT_MOVES: Record<AttemptState, readonly AttemptState[]> = {
  awarded: ['queued', 'running', 'reported', 'done', 'failed', 'rejected', 'lost', 'cancelled'],
  queued: ['running', 'reported', 'done', 'failed', 'lost', 'cancelled'],
  running: ['reported', 'done', 'failed', 'lost', 'cancelled'],
  // A replica's result is in; the verdict decides (replicas.ts).
  reported: ['done', 'failed', 'cancelled'],
  done: [],
  failed: [],
  rejected: [],
  lost: [],
  cancelled: []
}

export class TransitionError extends Error {
  constructor (what: string, from: string, to: string, cause: Cause) {
    super(`illegal transition of ${what}: ${from} → ${to} (cause: ${cause.kind}${cause.detail !== undefined ? `, ${cause.detail}` : ''})`)
    this.name = 'TransitionError'
  }
}

/** The one place a task's status is written. */
export function setStatus (job: JobRecord, t: TaskRecord, to: TaskStatus, cause: Cause): void {
  const ok = TASK_MOVES[t.status].includes(to) || (cause.kind === 'restored' && RESTORE_MOVES[t.status]?.includes(to) === true)
  if (!ok) throw new TransitionError(`task ${job.id}/${t.id}`, t.status, to, cause)
  t.status = to
  t.cause = cause
  if (to === 'done') job.countDone(t)
  if (to !== 'pending') { t.waiting = undefined; t.lastRound = undefined }
}

/** The one place an attempt's state is written. */
function setAttempt (job: JobRecord, t: TaskRecord, at: AttemptRecord, to: AttemptState, cause: Cause, reason?: string): void {
  if (!ATTEMPT_MOVES[at.state].includes(to)) throw new TransitionError(`attempt ${t.id}#${at.attempt} on ${at.peer}`, at.state, to, cause)
  // What the job has out on each peer: an attempt that stops being live gives its demand back.
  if (LIVE.has(at.state) && !LIVE.has(to)) job.liveOn(at.peer, t.inst.spec.resources, -1)
  at.state = to
  if (to === 'running') at.startedAt = cause.at
  if (ATTEMPT_MOVES[to].length === 0) at.endedAt = cause.at
  if (reason !== undefined) at.reason = reason
}

/** Every upstream task is done: the task may be announced. */
export function unblock (job: JobRecord, t: TaskRecord, now: number): void {
  setStatus(job, t, 'pending', { kind: 'upstream-done', at: now })
  t.readyAt = now
  t.nextTryAt = 0
}

/** Put in a round's call for bids (a straggler's backup: the task keeps running meanwhile). */
export function announce (job: JobRecord, t: TaskRecord, backup: boolean, now: number): void {
  if (backup) t.backup = 'announced'
  else setStatus(job, t, 'announced', { kind: 'announced', at: now })
}

/** The round closed without awarding an announced task: it is pending again. */
export function unannounce (job: JobRecord, t: TaskRecord, cause: Cause): void {
  setStatus(job, t, 'pending', cause)
}

/**
 * The round's winner gets attempt `attempt` (for a backup: a second live
 * attempt of a running task; with `replica`, another replica of a verified
 * task already out on other peers: the task's status stays as it is).
 */
export function award (job: JobRecord, t: TaskRecord, peer: string, attempt: number, cause: Cause, replica = false): AttemptRecord {
  const record: AttemptRecord = { attempt, peer, state: 'awarded', awardedAt: cause.at, lastHeartbeat: cause.at }
  job.liveOn(peer, t.inst.spec.resources, 1)
  if (replica && t.status !== 'pending' && t.status !== 'announced') {
    // Another replica beside those out: the task keeps its status.
  } else if (t.backup === 'announced' && t.status === 'running') {
    t.backup = undefined
    t.backups = (t.backups ?? 0) + 1
  } else {
    setStatus(job, t, 'awarded', cause)
  }
  t.attempt = attempt
  t.attempts.push(record)
  return record
}

/** The executor accepted the award: queued there (or about to start). */
export function accepted (job: JobRecord, t: TaskRecord, at: AttemptRecord, cause: Cause): void {
  if (at.state !== 'awarded') return
  setAttempt(job, t, at, 'queued', cause)
  at.lastHeartbeat = cause.at
  if (t.status === 'awarded') setStatus(job, t, 'queued', cause)
}

/** The executor says the attempt runs. */
export function started (job: JobRecord, t: TaskRecord, at: AttemptRecord, cause: Cause): void {
  setAttempt(job, t, at, 'running', cause)
  if (t.status !== 'running') setStatus(job, t, 'running', cause)
}

/** A replica's result is in; it waits for the verdict (replicas.ts), no longer on a lease. */
export function reported (job: JobRecord, t: TaskRecord, at: AttemptRecord, cause: Cause): void {
  setAttempt(job, t, at, 'reported', cause)
}

/** The verdict on a reported replica: its result agreed with the accepted one (done), or not (failed); or the task ended first (cancelled). */
export function judge (job: JobRecord, t: TaskRecord, at: AttemptRecord, to: 'done' | 'failed' | 'cancelled', cause: Cause, reason?: string): void {
  setAttempt(job, t, at, to, cause, reason)
}

/**
 * End a live attempt without a result (rejected, failed, lost, cancelled).
 * The task's status is left to the caller: another attempt may still live.
 */
export function endAttempt (job: JobRecord, t: TaskRecord, at: AttemptRecord, to: 'rejected' | 'failed' | 'lost' | 'cancelled', cause: Cause, reason: string): void {
  setAttempt(job, t, at, to, cause, reason)
}

/**
 * The task goes back to be announced again with a new attempt number, after
 * `delayMs`, preferably on a peer other than `avoid` (unless every live peer
 * would then be excluded).
 */
export function requeue (job: JobRecord, t: TaskRecord, cause: Cause, opts: { delayMs: number, avoid?: string, livePeers?: readonly string[] }): void {
  t.attempt++
  if (opts.avoid !== undefined && !t.exclude.includes(opts.avoid)) t.exclude.push(opts.avoid)
  if (opts.livePeers !== undefined && opts.livePeers.every(p => t.exclude.includes(p))) t.exclude = []
  setStatus(job, t, 'pending', cause)
  t.nextTryAt = cause.at + opts.delayMs
}

/**
 * The attempt's result is accepted: the task is done. Returns the task's other
 * live attempts (a straggler or its backup), now cancelled, for the caller to stop.
 */
export function finish (job: JobRecord, t: TaskRecord, at: AttemptRecord, r: { value: unknown, outputs: Record<string, FileData>, durationMs: number }, cause: Cause): AttemptRecord[] {
  setAttempt(job, t, at, 'done', cause)
  at.startedAt ??= cause.at - r.durationMs
  setStatus(job, t, 'done', cause)
  t.backup = undefined
  t.result = r.value
  t.outputs = r.outputs
  const others = liveAttempts(t)
  for (const other of others) setAttempt(job, t, other, 'cancelled', cause, `attempt ${at.attempt} finished first`)
  job.recordDuration(t.inst.name, r.durationMs)
  return others
}

/** The task failed for good (no retries left): the job fails with it. */
export function failTask (job: JobRecord, t: TaskRecord, error: string, cause: Cause): void {
  setStatus(job, t, 'failed', cause)
  t.error = error
}

/** The job ended: every unfinished task is cancelled. Returns the live attempts that were cancelled. */
export function cancelTask (job: JobRecord, t: TaskRecord, cause: Cause): AttemptRecord[] {
  if (t.status === 'done' || t.status === 'failed' || t.status === 'cancelled') return []
  const live = liveAttempts(t)
  for (const at of live) setAttempt(job, t, at, 'cancelled', cause, cause.detail ?? 'job ended')
  for (const at of t.attempts) if (at.state === 'reported') setAttempt(job, t, at, 'cancelled', cause, cause.detail ?? 'job ended')
  setStatus(job, t, 'cancelled', cause)
  return live
}
