/**
 * The read-only handle on a job: what `submit` returns and what the control
 * API reads. It follows the job's private record (`job-record.ts`), which only
 * the origin's state machine writes: state, tasks, the event stream, results,
 * and snapshots for `mesh status` (docs/ARCHITECTURE.md §11, §16).
 */
import type { ArtifactBytes, FileData } from '../../protocols/task.ts'
import { MeshError } from '../errors.ts'
import type { TaskInstance } from './expand.ts'
import type { AttemptRecord, AttemptState, JobEvent, JobRecord, JobState, TaskRecord, TaskStatus } from './job-record.ts'
import type { JobSpec } from './spec.ts'
import type { Cause } from './task-transitions.ts'
import type { WhyNot } from './why.ts'

export type { AttemptRecord, AttemptState, JobEvent, JobState, TaskStatus } from './job-record.ts'
export type { WhyNot } from './why.ts'

/** A task as the handle shows it: the record, read-only. */
export type TaskInfo = Readonly<Omit<TaskRecord, 'attempts' | 'exclude' | 'inst'>> & {
  readonly inst: Readonly<TaskInstance>
  readonly attempts: ReadonlyArray<Readonly<TaskRecord['attempts'][number]>>
  readonly exclude: readonly string[]
}

export class JobView {
  readonly #job: JobRecord
  readonly #why: (t: TaskRecord) => WhyNot[] | undefined

  /** `why`: each live peer's reason for not running a pending task (from the origin, which knows the peers). */
  constructor (job: JobRecord, why: (t: TaskRecord) => WhyNot[] | undefined) {
    this.#job = job
    this.#why = why
  }

  get id (): string { return this.#job.id }
  get spec (): JobSpec { return this.#job.spec }
  get files (): Readonly<Record<string, FileData>> { return this.#job.files }
  get submittedAt (): number { return this.#job.submittedAt }
  get state (): JobState { return this.#job.state }
  get endedAt (): number | undefined { return this.#job.endedAt }
  get error (): string | undefined { return this.#job.error }
  get tasks (): ReadonlyMap<string, TaskInfo> { return this.#job.tasks }

  /** How many auction rounds the job has had. */
  get rounds (): number { return this.#job.nextRound }

  counts (): Record<TaskStatus, number> { return this.#job.counts() }

  /** Whether every instance of task `name` is done (what its dependents wait for). */
  nameDone (name: string): boolean { return this.#job.nameDone(name) }

  /**
   * Call `listener` with each event as it happens (synchronously, in order);
   * returns the function that stops it. `events()` is the async way, history included.
   */
  onEvent (listener: (e: JobEvent) => void): () => void {
    const log = this.#job.log
    log.listeners.add(listener)
    return () => { log.listeners.delete(listener) }
  }

  /** The events so far (as far as kept): with `onEvent` in the same turn, every event exactly once. */
  history (): readonly JobEvent[] { return this.#job.log.history }

  /** Every event from the start (as far as kept), then live ones, ending after the job ends. */
  async * events (): AsyncGenerator<JobEvent> {
    const log = this.#job.log
    // A read index rather than shift(): a big job's history is long, and shift is O(n).
    let queue: JobEvent[] = [...log.history]
    let next = 0
    let wake: (() => void) | undefined
    const listener = (e: JobEvent): void => { queue.push(e); wake?.() }
    log.listeners.add(listener)
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
      log.listeners.delete(listener)
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
    for (const t of this.#job.tasks.values()) out[t.id] = t.result
    return out
  }

  /** Each live peer's reason for not running task `taskId`, while it is pending. */
  why (taskId: string): WhyNot[] | undefined {
    const t = this.#job.tasks.get(taskId)
    return t === undefined ? undefined : this.#why(t)
  }

  /** A plain-data summary for the control API and `mesh status`. */
  snapshot (withTasks: boolean): JobSnapshot {
    const job = this.#job
    const peers: Record<string, { running: number, done: number }> = {}
    for (const t of job.tasks.values()) {
      const a = t.attempts.at(-1)
      if (a === undefined) continue
      const p = peers[a.peer] ??= { running: 0, done: 0 }
      if (a.state === 'running') p.running++
      if (a.state === 'done') p.done++
    }
    return {
      id: job.id,
      name: job.spec.name,
      state: job.state,
      submittedAt: job.submittedAt,
      endedAt: job.endedAt,
      error: job.error,
      counts: job.counts(),
      total: job.tasks.size,
      rounds: job.nextRound,
      peers,
      tasks: withTasks
        ? [...job.tasks.values()].map(t => {
            const why = this.#why(t)
            return {
              id: t.id,
              status: t.status,
              attempt: t.attempt,
              peer: t.attempts.at(-1)?.peer,
              fraction: t.fraction,
              waiting: t.waiting,
              ...(why !== undefined ? { why } : {}),
              ...(t.cause !== undefined ? { cause: t.cause } : {}),
              error: t.error,
              ...artifactTotals(t.attempts),
              ...verificationOf(t),
              attempts: t.attempts.map(a => ({
                attempt: a.attempt,
                peer: a.peer,
                state: a.state,
                reason: a.reason,
                durationMs: a.startedAt !== undefined && a.endedAt !== undefined ? a.endedAt - a.startedAt : undefined,
                ...(a.artifactBytes !== undefined ? { artifactBytes: a.artifactBytes } : {})
              }))
            }
          })
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
  /** Auction rounds the job has had so far. */
  rounds: number
  /** Per peer: attempts running now and tasks it finished. */
  peers: Record<string, { running: number, done: number }>
  tasks?: Array<{
    id: string
    status: TaskStatus
    attempt: number
    peer?: string
    fraction?: number
    /** Why no live peer can run it (a pending task that is not announced meanwhile). */
    waiting?: string
    /** For a pending task: each live peer's reason for not running it. */
    why?: WhyNot[]
    /** What caused the task's last status change. */
    cause?: Cause
    error?: string
    /** Artifact bytes its attempts fetched over the network and found in their peers' caches (tasks that name artifacts). */
    artifactBytes?: ArtifactBytes
    /** A verified task (`verify`): the replicas' results and the verdict, once there is one. */
    verification?: Verification
    attempts: Array<{ attempt: number, peer: string, state: AttemptState, reason?: string, durationMs?: number, artifactBytes?: ArtifactBytes }>
  }>
}

export interface Verification {
  /** How many replicas the verdict is out of now (1 when one peer was trusted alone), and the most allowed. */
  of: number
  max: number
  verdict?: 'agreed' | 'trusted' | 'disagreed' | 'failed'
  /** Each replica whose result is in: its peer, attempt, result digest (12 hex digits), and whether it agreed with the accepted one. */
  results: Array<{ peer: string, attempt: number, digest: string, agreed?: boolean }>
}

/** A verified task's replicas and verdict, for status displays. */
export function verificationOf (t: Pick<TaskRecord, 'replica' | 'status' | 'error'>): { verification?: Verification } {
  const r = t.replica
  if (r === undefined) return {}
  const verdict = r.accepted?.verdict ?? (t.status === 'failed' && r.results.length > 0 && t.error?.startsWith('replicas disagree') === true ? 'failed' : undefined)
  return {
    verification: {
      of: r.of,
      max: r.max,
      ...(verdict !== undefined ? { verdict } : {}),
      results: r.results.map(x => ({ peer: x.peer, attempt: x.attempt, digest: x.digest.slice(0, 12), ...(r.accepted !== undefined ? { agreed: x.digest === r.accepted.digest } : {}) }))
    }
  }
}

/** Summed over the attempts that reported: a retried task counts every fetch it made. */
function artifactTotals (attempts: readonly AttemptRecord[]): { artifactBytes?: ArtifactBytes } {
  const reported = attempts.filter(a => a.artifactBytes !== undefined)
  if (reported.length === 0) return {}
  return { artifactBytes: { network: reported.reduce((n, a) => n + a.artifactBytes!.network, 0), cache: reported.reduce((n, a) => n + a.artifactBytes!.cache, 0) } }
}
