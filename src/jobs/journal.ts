/**
 * The origin's journal: what must survive a restart of the origin. A job is
 * written before `submit` returns; a result before it is acknowledged to the
 * executor (DESIGN.md §1.4). `MemoryJournal` serves embedded peers that want no
 * files and tests; the durable one lives in `node/`.
 */
import type { FileData } from '../../protocols/task.ts'
import type { JobSpec } from './spec.ts'

export interface JournalJob {
  id: string
  spec: JobSpec
  origin: string
  submittedAt: number
  /** Input files of exec tasks, by path on the submitting machine. */
  files: Record<string, FileData>
}

export interface JournalResult {
  taskId: string
  attempt: number
  peer: string
  value: unknown
  outputs: Record<string, FileData>
  durationMs: number
  at: number
}

export type JournalJobState = { state: 'done' | 'failed' | 'cancelled', at: number, error?: string }

export interface JournalSnapshot {
  jobs: Array<{ job: JournalJob, results: JournalResult[], end?: JournalJobState }>
}

export interface Journal {
  putJob: (job: JournalJob) => Promise<void>
  putResult: (jobId: string, result: JournalResult) => Promise<void>
  putJobState: (jobId: string, state: JournalJobState) => Promise<void>
  load: () => Promise<JournalSnapshot>
}

export class MemoryJournal implements Journal {
  readonly #jobs = new Map<string, { job: JournalJob, results: Map<string, JournalResult>, end?: JournalJobState }>()

  async putJob (job: JournalJob): Promise<void> {
    this.#jobs.set(job.id, { job, results: new Map() })
  }

  async putResult (jobId: string, result: JournalResult): Promise<void> {
    this.#jobs.get(jobId)?.results.set(result.taskId, result)
  }

  async putJobState (jobId: string, state: JournalJobState): Promise<void> {
    const j = this.#jobs.get(jobId)
    if (j !== undefined) j.end = state
  }

  async load (): Promise<JournalSnapshot> {
    return { jobs: [...this.#jobs.values()].map(j => ({ job: j.job, results: [...j.results.values()], end: j.end })) }
  }
}
