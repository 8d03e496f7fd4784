/**
 * Rebuilding an origin's jobs from its journal after a restart
 * (docs/ARCHITECTURE.md §7): a replay of the journal's records through the
 * same transitions the live origin uses. Finished tasks keep their results
 * (and their task-done events, for late subscribers); a task whose attempt was
 * handed out is awarded to that peer again, whose heartbeats or result
 * re-attach it within one lease; ended jobs come back ended. Pure: the origin
 * machine takes the records and resumes them.
 */
import { expandJob } from './expand.ts'
import { JobRecord, type JobEvent } from './job-record.ts'
import type { JournalSnapshot } from './journal.ts'
import { award, cancelTask, finish } from './task-transitions.ts'

export function replayJournal (snapshot: JournalSnapshot, now: number, emit: (job: JobRecord, e: JobEvent) => void): JobRecord[] {
  const restored: JobRecord[] = []
  for (const { job, results, attempts, end } of snapshot.jobs) {
    const record = new JobRecord(job, expandJob(job.spec), now)
    restored.push(record)
    for (const a of attempts) {
      const t = record.tasks.get(a.taskId)
      if (t === undefined) continue
      const at = award(record, t, a.peer, a.attempt, { kind: 'restored', at: a.at, peer: a.peer, detail: 'attempt journaled before the restart' })
      // Its lease counts from the restart, not from when it was handed out.
      at.lastHeartbeat = now
    }
    for (const r of results) {
      const t = record.tasks.get(r.taskId)
      if (t === undefined) continue
      const cause = { kind: 'restored' as const, at: r.at, peer: r.peer, detail: 'result journaled before the restart' }
      const last = t.attempts.at(-1)
      const at = last !== undefined && last.attempt === r.attempt && last.state === 'awarded' ? last : award(record, t, r.peer, r.attempt, cause)
      at.awardedAt = Math.min(at.awardedAt, r.at)
      at.startedAt = r.at - r.durationMs
      if (r.artifactBytes !== undefined) at.artifactBytes = r.artifactBytes
      finish(record, t, at, { value: r.value, outputs: r.outputs, durationMs: r.durationMs }, cause)
      emit(record, { type: 'task-done', jobId: job.id, taskId: t.id, attempt: r.attempt, peer: r.peer, durationMs: r.durationMs, at: r.at })
    }
    if (end !== undefined) {
      record.state = end.state
      record.endedAt = end.at
      record.error = end.error
      const cause = { kind: 'restored' as const, at: end.at, detail: `job ${end.state} before the restart` }
      for (const t of record.tasks.values()) cancelTask(record, t, cause)
      emit(record, { type: end.state === 'done' ? 'job-done' : end.state === 'failed' ? 'job-failed' : 'job-cancelled', jobId: job.id, at: end.at, error: end.error })
    }
  }
  return restored
}
