/**
 * What the dashboard's pages show, built from the peer's own views on each
 * update: the mesh and this origin's jobs (the overview), one job in detail
 * (its timeline of attempts per peer, its tasks), one task with its attempts'
 * output, and the recent auction rounds. Every list is bounded, so a page
 * costs the daemon the same however long its history or large its jobs.
 */
import { verificationOf, type JobView, type TaskInfo } from '../../src/jobs/job-view.ts'
import { outputTail, type AttemptRecord } from '../../src/jobs/job-record.ts'
import type { Peer } from '../peer.ts'

/** Ended jobs the overview lists (the most recent). */
const RECENT_ENDED = 50
/** Attempts the timeline draws (the latest awarded). */
const TIMELINE_ATTEMPTS = 3000
/** Tasks the job page lists: unfinished first, then the latest finished. */
const TASK_ROWS = 500
/** Rounds the auction page shows. */
const AUCTION_ROUNDS = 40
/** Points of a job's completions-over-time chart, at most. */
const DONE_POINTS = 500
/** The window over which a job's rate is measured. */
const RATE_WINDOW_MS = 60_000

/** How an attempt came to be: the first, a retry after a failure, a migration after a loss, a backup for a straggler. */
export type AttemptKind = 'first' | 'retry' | 'migration' | 'backup'

export function overviewState (peer: Peer, now = Date.now()): unknown {
  const jobs = peer.jobs()
  const ended = jobs.filter(j => j.state !== 'running').sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0)).slice(0, RECENT_ENDED)
  const shown = [...jobs.filter(j => j.state === 'running'), ...ended]
  return {
    at: now,
    self: peer.id,
    peers: peer.peers(),
    jobs: shown.map(j => ({ ...j.snapshot(false), ...progress(j, now) }))
  }
}

/** Tasks done per second over the last minute, and the time left at that rate. */
function progress (job: JobView, now: number): { ratePerS?: number, etaMs?: number } {
  if (job.state !== 'running') {
    // An ended job: its average rate over its whole run.
    const tookS = ((job.endedAt ?? now) - job.submittedAt) / 1000
    return tookS > 0 ? { ratePerS: job.counts().done / tookS } : {}
  }
  const since = Math.max(job.submittedAt, now - RATE_WINDOW_MS)
  let recent = 0
  let left = 0
  for (const t of job.tasks.values()) {
    if (t.status !== 'done') { if (t.status !== 'failed' && t.status !== 'cancelled') left++; continue }
    const end = t.attempts.findLast(a => a.state === 'done')?.endedAt
    if (end !== undefined && end >= since) recent++
  }
  const spanS = Math.max(1, now - since) / 1000
  const ratePerS = recent / spanS
  return ratePerS > 0 ? { ratePerS, etaMs: Math.round(1000 * left / ratePerS) } : { ratePerS: 0 }
}

export function attemptKind (attempts: readonly AttemptRecord[], i: number): AttemptKind {
  if (i === 0) return 'first'
  const prev = attempts[i - 1]!
  const a = attempts[i]!
  // A backup is awarded while the straggler it backs up still runs.
  if (prev.endedAt === undefined || prev.endedAt > a.awardedAt) return 'backup'
  return prev.state === 'lost' ? 'migration' : 'retry'
}

/** One attempt on the task stream. */
interface TimelineBar {
  task: string
  name: string
  attempt: number
  peer: string
  state: AttemptRecord['state']
  kind: AttemptKind
  awardedAt: number
  startedAt?: number
  endedAt?: number
  reason?: string
  checkpoints?: number[]
}

/** One job in detail: its timeline (attempts per peer over time), cumulative completions, and its tasks. */
export function jobState (peer: Peer, id: string, now = Date.now()): unknown {
  const job = peer.job(id)
  if (job === undefined) return undefined
  const bars: TimelineBar[] = []
  const doneAt: number[] = []
  for (const t of job.tasks.values()) {
    t.attempts.forEach((a, i) => {
      bars.push({ task: t.id, name: t.inst.name, attempt: a.attempt, peer: a.peer, state: a.state, kind: attemptKind(t.attempts, i), awardedAt: a.awardedAt, startedAt: a.startedAt, endedAt: a.endedAt, reason: a.reason, checkpoints: a.checkpoints })
      if (a.state === 'done' && a.endedAt !== undefined) doneAt.push(a.endedAt)
    })
  }
  bars.sort((a, b) => a.awardedAt - b.awardedAt)
  doneAt.sort((a, b) => a - b)
  // Unfinished tasks first, then the latest done, TASK_ROWS in all.
  const open: TaskInfo[] = []
  const finished: TaskInfo[] = []
  for (const t of job.tasks.values()) {
    if (t.status !== 'done') { if (open.length < TASK_ROWS) open.push(t) } else finished.push(t)
  }
  const room = TASK_ROWS - open.length
  const rows = room > 0 ? [...open, ...finished.slice(-room).reverse()] : open
  return {
    at: now,
    self: peer.id,
    peers: peer.peers().map(p => ({ id: p.id, state: p.state, self: p.self })),
    job: { ...job.snapshot(false), ...progress(job, now) },
    timeline: bars.slice(-TIMELINE_ATTEMPTS),
    attempts: bars.length,
    done: cumulative(doneAt),
    tasks: rows.map(t => taskRow(job, t)),
    taskCount: job.tasks.size
  }
}

/** [time, tasks done by then] for each completion, or for DONE_POINTS evenly spaced ones (and the last). */
export function cumulative (sortedTimes: readonly number[]): Array<[number, number]> {
  const step = Math.max(1, Math.ceil(sortedTimes.length / DONE_POINTS))
  const out: Array<[number, number]> = []
  for (let i = step - 1; i < sortedTimes.length; i += step) out.push([sortedTimes[i]!, i + 1])
  if (sortedTimes.length > 0 && out.at(-1)![1] !== sortedTimes.length) out.push([sortedTimes.at(-1)!, sortedTimes.length])
  return out
}

function taskRow (job: JobView, t: TaskInfo): unknown {
  const why = t.status === 'pending' || t.status === 'announced' ? job.why(t.id) : undefined
  return {
    id: t.id,
    name: t.inst.name,
    status: t.status,
    attempt: t.attempt,
    peer: t.attempts.at(-1)?.peer,
    fraction: t.fraction,
    waiting: t.waiting,
    why,
    error: t.error,
    attempts: t.attempts.length,
    kinds: t.attempts.map((_a, i) => attemptKind(t.attempts, i)),
    ...(t.replica !== undefined ? { verdict: verificationOf(t).verification?.verdict ?? 'pending' } : {})
  }
}

/** One task with every attempt: its peer, kind, times, reason, and the tail of its output. */
export function taskState (peer: Peer, jobId: string, taskId: string): unknown {
  const job = peer.job(jobId)
  const t = job?.tasks.get(taskId)
  if (job === undefined || t === undefined) return undefined
  const doneOutput = outputTail(t.result)
  return {
    id: t.id,
    name: t.inst.name,
    status: t.status,
    error: t.error,
    waiting: t.waiting,
    why: job.why(t.id),
    ...verificationOf(t),
    attempts: t.attempts.map((a, i) => ({
      attempt: a.attempt,
      peer: a.peer,
      state: a.state,
      kind: attemptKind(t.attempts, i),
      reason: a.reason,
      awardedAt: a.awardedAt,
      startedAt: a.startedAt,
      endedAt: a.endedAt,
      checkpoints: a.checkpoints?.length ?? 0,
      output: a.state === 'done' ? doneOutput : a.output
    }))
  }
}

/** The recent auction rounds, newest first, with their bids and winners. */
export function auctionState (peer: Peer, now = Date.now()): unknown {
  return { at: now, self: peer.id, rounds: peer.auctionRounds().slice(-AUCTION_ROUNDS).reverse() }
}
