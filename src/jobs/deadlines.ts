/**
 * Deadlines the origin enforces itself (docs/ARCHITECTURE.md §7, §17). A lease
 * only proves that a peer answers, not that it works: a peer that won tasks at
 * ETA 0 and reported "running" forever held a job for good. So, on every
 * lease check:
 *
 *  - an attempt running longer than its task's `timeoutMs` plus a grace (its
 *    executor should have killed it and reported the timeout) is lost, and
 *    counts against its peer;
 *  - a running attempt far past its promise (the ETA its peer bid, or the
 *    task's measured duration if longer: 3× and a second more) is overdue: it
 *    gets a backup attempt on another peer, at any point of the job (the
 *    straggler rule waits for the last tenth). The first result wins, and an
 *    overdue attempt that loses to its backup counts against its peer;
 *  - an attempt that never started is stalled once it is 3× past its promise
 *    and 30 s more, and lost. Queue waits are where estimates err most (a
 *    loaded machine, work longer than estimated ahead of it): a tight bound
 *    migrated honest peers' queued tasks by the hundred in the trivial-task
 *    bench. A verified task's overdue replica is lost at the running bound,
 *    and another asked for.
 *
 * A promise is kept only when the task's work was known when it was bid for
 * (its spec's `estimateMs`, or durations measured in this or earlier jobs):
 * a bid on the 100 ms guess for unknown work promises nothing.
 */
import { liveAttempts, type AttemptRecord, type JobRecord, type TaskRecord } from './job-record.ts'

/** Past a task's timeout, how long its origin waits for the executor's own report before giving the attempt up. */
export const TIMEOUT_GRACE_MS = 5000
/** An attempt is overdue past this many times its promise… */
export const PROMISE_FACTOR = 3
/** …plus this. */
export const PROMISE_SLACK_MS = 1000
/** A queued attempt is stalled this long past its promise's bound, not before. */
export const QUEUE_GRACE_MS = 30_000
/** Backups one task may get for overdue attempts. */
export const MAX_BACKUPS = 2

export interface Deadlines {
  /**
   * Attempts to give up now: past their task's timeout (`timeout`: the
   * executor should have ended it), or never started, or a verified task's
   * replica, far past their promise (`stalled`).
   */
  expired: Array<{ t: TaskRecord, at: AttemptRecord, detail: string, kind: 'timeout' | 'stalled' }>
  /** Whether some running task now wants a backup. */
  backups: boolean
}

export function checkDeadlines (job: JobRecord, now: number, leaseMs: number): Deadlines {
  const out: Deadlines = { expired: [], backups: false }
  const timeoutGrace = Math.max(TIMEOUT_GRACE_MS, 2 * leaseMs)
  for (const t of job.tasks.values()) {
    if (t.status !== 'awarded' && t.status !== 'queued' && t.status !== 'running') continue
    const timeoutMs = t.inst.spec.timeoutMs
    for (const at of liveAttempts(t)) {
      if (timeoutMs !== undefined && at.state === 'running' && at.startedAt !== undefined && now - at.startedAt > timeoutMs + timeoutGrace) {
        out.expired.push({ t, at, kind: 'timeout', detail: `still running ${now - at.startedAt} ms after it started, past its ${timeoutMs} ms timeout` })
        continue
      }
      const due = promiseOf(job, t, at)
      if (due === undefined || now - at.awardedAt <= PROMISE_FACTOR * due + PROMISE_SLACK_MS) continue
      if (at.state !== 'running') {
        if (now - at.awardedAt > PROMISE_FACTOR * due + QUEUE_GRACE_MS) out.expired.push({ t, at, kind: 'stalled', detail: `not started ${now - at.awardedAt} ms after its award, which promised a result in ${Math.round(due)} ms` })
        continue
      }
      // A verified task's replica this late is given up, and another replica asked for: the
      // verdict would otherwise wait on it for as long as its peer keeps up the pretence.
      if (t.inst.spec.verify !== undefined) {
        out.expired.push({ t, at, kind: 'stalled', detail: `running ${now - at.awardedAt} ms after its award, which promised a result in ${Math.round(due)} ms` })
        continue
      }
      at.overdue = true
      if (t.backup === undefined && (t.backups ?? 0) < MAX_BACKUPS && liveAttempts(t).length === 1) {
        t.backup = 'wanted'
        out.backups = true
      }
    }
  }
  return out
}

/** How long the attempt said it would take (or the task is measured to take, if longer), when that is known. */
function promiseOf (job: JobRecord, t: TaskRecord, at: AttemptRecord): number | undefined {
  if (at.promisedMs === undefined) return undefined
  return Math.max(at.promisedMs, job.typicalMs(t.inst.name) ?? 0)
}
