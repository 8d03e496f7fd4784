/** Straggler detection (docs/ARCHITECTURE.md §7): which running tasks deserve a backup attempt. Pure. */
import { liveAttempts, type JobRecord } from './job-record.ts'

/**
 * When a job is nearly done (at most a tenth of its tasks left), an attempt
 * running far past its task's typical duration (3× and at least a second
 * more, from ≥ 3 measured attempts) gets a backup attempt on another peer.
 */
export function findStragglers (job: JobRecord, now: number): boolean {
  const left = job.tasks.size - job.doneCount()
  if (left > Math.max(1, Math.ceil(job.tasks.size / 10))) return false
  let found = false
  for (const t of job.tasks.values()) {
    if (t.status !== 'running' || t.backup !== undefined || (t.backups ?? 0) > 0) continue
    const typical = job.typicalMs(t.inst.name)
    const running = liveAttempts(t).filter(a => a.state === 'running' && a.startedAt !== undefined)
    if (typical === undefined || job.samples(t.inst.name) < 3 || running.length !== 1) continue
    const elapsed = now - running[0]!.startedAt!
    if (elapsed > 3 * typical && elapsed - typical > 1000) {
      t.backup = 'wanted'
      found = true
    }
  }
  return found
}
