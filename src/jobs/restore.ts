/**
 * Rebuilding an origin's jobs from its journal after a restart (DESIGN.md §7):
 * finished tasks keep their results (and their task-done events, for late
 * subscribers); a task whose attempt was handed out is marked awarded to that
 * peer, whose heartbeats or result re-attach it within one lease; ended jobs
 * come back ended. Pure: the origin takes the views and resumes them.
 */
import { expandJob } from './expand.ts'
import { JobView } from './job-view.ts'
import type { JournalSnapshot } from './journal.ts'

export function restoreJobs (snapshot: JournalSnapshot, now: number): JobView[] {
    const restored: JobView[] = []
    for (const { job, results, attempts, end } of snapshot.jobs) {
      const view = new JobView(job, expandJob(job.spec), now)
      restored.push(view)
      for (const a of attempts) {
        const t = view.tasks.get(a.taskId)
        if (t === undefined) continue
        t.attempt = a.attempt
        t.status = 'awarded'
        t.attempts.push({ attempt: a.attempt, peer: a.peer, state: 'awarded', awardedAt: a.at, lastHeartbeat: now })
      }
      for (const r of results) {
        const t = view.tasks.get(r.taskId)
        if (t === undefined) continue
        t.status = 'done'
        t.attempt = r.attempt
        t.result = r.value
        t.outputs = r.outputs
        const at = t.attempts.at(-1)
        if (at !== undefined && at.attempt === r.attempt) { at.state = 'done'; at.endedAt = r.at; at.startedAt = r.at - r.durationMs } else {
          t.attempts.push({ attempt: r.attempt, peer: r.peer, state: 'done', awardedAt: r.at, startedAt: r.at - r.durationMs, endedAt: r.at, lastHeartbeat: r.at })
        }
        view.recordDuration(t.inst.name, r.durationMs)
        view.emit({ type: 'task-done', jobId: job.id, taskId: t.id, attempt: r.attempt, peer: r.peer, durationMs: r.durationMs, at: r.at })
      }
      if (end !== undefined) {
        view.state = end.state
        view.endedAt = end.at
        view.error = end.error
        for (const t of view.tasks.values()) if (t.status !== 'done') t.status = 'cancelled'
        view.emit({ type: end.state === 'done' ? 'job-done' : end.state === 'failed' ? 'job-failed' : 'job-cancelled', jobId: job.id, at: end.at, error: end.error })
        continue
      }
    }
    return restored
}
