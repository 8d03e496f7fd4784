/**
 * What the origin says about a task: the open task in a call for bids (what a
 * bidder needs to decide), and the awarded task (what an executor needs to run
 * it: the spec, upstream results, input files, a checkpoint to resume from).
 */
import { AUCTION_LIMITS, type OpenTask } from '../../protocols/auction.ts'
import type { AwardedTask, FileData } from '../../protocols/task.ts'
import { adArtifactId } from '../../protocols/artifact.ts'
import { openFields, programOf, requirementsOf } from '../auction/requirements.ts'
import type { TaskSpec } from './spec.ts'
import type { WorkEstimates } from './work-estimates.ts'
import { upstreamFor } from './expand.ts'
import { liveAttempts, type JobRecord, type TaskRecord } from './job-record.ts'

/**
 * What a task's work is called across jobs, for learned estimates: its handler,
 * or its program and first argument (`python3 train.py`).
 */
export function workKey (s: TaskSpec): string {
  return s.kind === 'handler' ? `handler:${s.handler}` : `exec:${programOf(s)}:${s.shell ? '' : (s.command[1] ?? '').slice(0, 128)}`
}

/**
 * The call-for-bids view of a task; a backup for a straggler is its next
 * attempt, kept off the peers already running it. Its work is the spec's
 * estimate, else this job's measured median, else what the same work took in
 * earlier jobs (`learned`), else 100 ms.
 */
export function openTask (job: JobRecord, t: TaskRecord, now: number, learned?: WorkEstimates): OpenTask {
  const s = t.inst.spec
  // A backup, or another replica of a verified task, is a new attempt, kept off the peers that
  // already run the task (and, for replicas, those whose results are in).
  const backup = t.status !== 'pending' && t.status !== 'announced'
  const busy = [...(backup ? liveAttempts(t).map(a => a.peer) : []), ...(t.replica?.results.map(r => r.peer) ?? [])]
  return {
    id: t.id,
    attempt: backup ? t.attempt + 1 : t.attempt,
    ...openFields(requirementsOf(s)),
    workMs: workMsOf(job, t.inst.name, learned),
    inputBytes: inputBytes(job, t),
    priority: s.priority,
    ageMs: Math.max(0, now - t.readyAt),
    exclude: [...busy, ...t.exclude].slice(0, AUCTION_LIMITS.maxExclude),
    ...openArtifacts(s),
    ...(s.kind === 'handler' && s.warm !== undefined ? { warm: s.warm } : {})
  }
}

/** A task's artifacts as the executor gets them: resolved (sha-256 and size) by the time the job is accepted. */
export function artifactRefs (s: TaskSpec): Array<{ name: string, sha256: string, size: number }> {
  const out: Array<{ name: string, sha256: string, size: number }> = []
  for (const [name, src] of Object.entries(s.artifacts)) if ('sha256' in src) out.push({ name, sha256: src.sha256, size: src.size })
  return out
}

/** The call's view: the largest artifacts by ad id, so a bidder can price fetching what it lacks. */
function openArtifacts (s: TaskSpec): Pick<OpenTask, 'artifacts'> {
  const refs = artifactRefs(s)
  if (refs.length === 0) return {}
  refs.sort((a, b) => b.size - a.size)
  return { artifacts: refs.slice(0, AUCTION_LIMITS.maxArtifacts).map(r => ({ id: adArtifactId(r.sha256), size: r.size })) }
}

/** The expected work of one instance of task `name` (see `openTask`). */
export function workMsOf (job: JobRecord, name: string, learned?: WorkEstimates): number {
  const s = job.spec.tasks[name]!
  return s.estimateMs ?? job.typicalMs(name) ?? learned?.estimate(workKey(s)) ?? 100
}

/** Is the task's work known (its estimate, or durations measured here or in earlier jobs), not the 100 ms guess? */
export function workKnown (job: JobRecord, name: string, learned?: WorkEstimates): boolean {
  const s = job.spec.tasks[name]!
  return s.estimateMs !== undefined || job.typicalMs(name) !== undefined || learned?.estimate(workKey(s)) !== undefined
}

/** Bytes an executor fetches before it can start: the exec task's input files (blobs travel from the origin). */
function inputBytes (job: JobRecord, t: TaskRecord): number {
  const s = t.inst.spec
  if (s.kind !== 'exec') return 0
  let n = 0
  for (const src of Object.values(s.inputs)) {
    const data = job.files[src]
    if (data !== undefined) n += 'blob' in data ? data.blob.size : data.inline.byteLength
  }
  return n
}

/**
 * What an executor needs to run `t`. From the round's call: `rankMs` orders its
 * queue, `workMs` tells it when the attempt should free its slot.
 */
export function awardedTask (job: JobRecord, t: TaskRecord, open?: Pick<OpenTask, 'rankMs' | 'workMs'>): AwardedTask {
  const s = t.inst.spec
  const upstream = upstreamFor(job.spec, t.inst.name, id => job.tasks.get(id)?.result)
  const base = {
    taskId: t.id, attempt: t.attempt, index: t.inst.index, count: t.inst.count, demand: s.resources, timeoutMs: s.timeoutMs, upstream,
    ...(open !== undefined ? { rankMs: open.rankMs ?? open.workMs, workMs: open.workMs } : {}),
    // A migrated task resumes from its last checkpoint instead of starting over.
    ...(t.checkpoint !== undefined ? { restored: t.checkpoint } : {}),
    ...(Object.keys(s.artifacts).length > 0 ? { artifacts: artifactRefs(s) } : {})
  }
  if (s.kind === 'handler') return { ...base, kind: 'handler', handler: s.handler, input: s.input, ...(s.warm !== undefined ? { warm: s.warm } : {}) }
  const inputs: Record<string, FileData> = {}
  for (const [dest, src] of Object.entries(s.inputs)) {
    const data = job.files[src]
    if (data !== undefined) inputs[dest] = data
  }
  const confine = { ...(s.network ? { network: true } : {}), ...(s.isolation !== 'any' ? { isolation: s.isolation } : {}) }
  return { ...base, kind: 'exec', exec: { command: s.command, env: s.env, stdin: s.stdin, inputs, outputs: s.outputs, shell: s.shell, ...confine } }
}
