/**
 * The origin's journal: what must survive a restart of the origin. A job is
 * written before `submit` returns; a result before it is acknowledged to the
 * executor (docs/ARCHITECTURE.md §1.4). `MemoryJournal` serves embedded peers that want no
 * files and tests; the durable one lives in `node/`.
 */
import type { ArtifactBytes, FileData } from '../../protocols/task.ts'
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
  /** Where the attempt's artifacts came from. */
  artifactBytes?: ArtifactBytes
}

export type JournalJobState = { state: 'done' | 'failed' | 'cancelled', at: number, error?: string }

/** An attempt handed to a peer: a restarted origin re-attaches to it if that peer still runs it. */
export interface JournalAttempt {
  taskId: string
  attempt: number
  peer: string
  at: number
}

export interface JournalSnapshot {
  jobs: Array<{
    job: JournalJob
    results: JournalResult[]
    /** The latest attempt of each task (by taskId), done or not. */
    attempts: JournalAttempt[]
    end?: JournalJobState
  }>
}

/**
 * Implementations must make each write durable before its promise resolves
 * (the origin acknowledges results and returns from submit only after), and
 * must keep per-job order: a later putAttempt for a task replaces an earlier one.
 */
export interface Journal {
  putJob: (job: JournalJob) => Promise<void>
  putAttempt: (jobId: string, attempt: JournalAttempt) => Promise<void>
  putResult: (jobId: string, result: JournalResult) => Promise<void>
  putJobState: (jobId: string, state: JournalJobState) => Promise<void>
  load: () => Promise<JournalSnapshot>
  /** Drop every record of an ended job (history compaction). */
  deleteJob: (jobId: string) => Promise<void>
  close?: () => Promise<void>
}

export class MemoryJournal implements Journal {
  readonly #jobs = new Map<string, { job: JournalJob, results: Map<string, JournalResult>, attempts: Map<string, JournalAttempt>, end?: JournalJobState }>()

  async putJob (job: JournalJob): Promise<void> {
    this.#jobs.set(job.id, { job, results: new Map(), attempts: new Map() })
  }

  async deleteJob (jobId: string): Promise<void> {
    this.#jobs.delete(jobId)
  }

  async putAttempt (jobId: string, attempt: JournalAttempt): Promise<void> {
    this.#jobs.get(jobId)?.attempts.set(attempt.taskId, attempt)
  }

  async putResult (jobId: string, result: JournalResult): Promise<void> {
    this.#jobs.get(jobId)?.results.set(result.taskId, result)
  }

  async putJobState (jobId: string, state: JournalJobState): Promise<void> {
    const j = this.#jobs.get(jobId)
    if (j !== undefined) j.end = state
  }

  async load (): Promise<JournalSnapshot> {
    return { jobs: [...this.#jobs.values()].map(j => ({ job: j.job, results: [...j.results.values()], attempts: [...j.attempts.values()], end: j.end })) }
  }
}
