/**
 * The origin's durable journal (docs/ARCHITECTURE.md §1.4) on LMDB: the `journal` named
 * database of the peer's store (`<dataDir>/db`, see `db.ts`).
 *
 * Keys (tuples in lmdb's ordered-binary encoding), values msgpack:
 *   ['order', seq, jobId]          → (empty)   submission order
 *   ['job', jobId]                 → JournalJob
 *   ['attempt', jobId, taskId]     → JournalAttempt (latest; a later put overwrites)
 *   ['result', jobId, taskId]      → JournalResult
 *   ['end', jobId]                 → JournalJobState
 * Every write is one O(1) put, durable when its promise resolves (the store
 * commits with fdatasync before resolving); `load` is one scan of the database.
 *
 * Behaviour matches `MemoryJournal`: jobs come back in submission order, writes
 * for a job never put are ignored, and putting a job again starts it afresh (its
 * attempts, results and end state are cleared; it keeps its place in the order).
 * Within a job, attempts and results come back ordered by task id.
 */
import type { Journal, JournalAttempt, JournalJob, JournalJobState, JournalResult, JournalSnapshot } from '../../src/jobs/journal.ts'
import { decodeRecord, encodeRecord, openStore, type Store, type StoreDb } from './db.ts'

/** Sorts after every string and number: the exclusive end of a tuple-prefix range. */
const MAX = new Uint8Array([0xff])
const EMPTY = new Uint8Array(0)

type SnapshotJob = JournalSnapshot['jobs'][number]

export class LmdbJournal implements Journal {
  readonly #store: Store
  readonly #db: StoreDb
  /** jobId → submission sequence number, for every job put (committed or in flight). */
  readonly #order = new Map<string, number>()
  #nextSeq = 0

  /** Use a reference from `openStore` (the journal closes it on `close`). */
  constructor (store: Store) {
    this.#store = store
    this.#db = store.journal
    for (const key of this.#db.getKeys({ start: ['order'], end: ['order', MAX] })) {
      if (!Array.isArray(key)) continue
      const [, seq, jobId] = key
      if (typeof seq !== 'number' || typeof jobId !== 'string') continue
      this.#order.set(jobId, seq)
      this.#nextSeq = Math.max(this.#nextSeq, seq + 1)
    }
  }

  static async open (dataDir: string): Promise<LmdbJournal> {
    return new LmdbJournal(openStore(dataDir))
  }

  async putJob (job: JournalJob): Promise<void> {
    const value = encodeRecord(job)
    const known = this.#order.get(job.id)
    if (known !== undefined) {
      // Put again: start afresh, as MemoryJournal does, in one transaction.
      await this.#db.transaction(() => {
        for (const kind of ['attempt', 'result']) {
          for (const key of this.#db.getKeys({ start: [kind, job.id], end: [kind, job.id, MAX] })) this.#db.removeSync(key)
        }
        this.#db.removeSync(['end', job.id])
        this.#db.putSync(['job', job.id], value)
      })
      return
    }
    const seq = this.#nextSeq++
    this.#order.set(job.id, seq)
    try {
      await this.#db.transaction(() => {
        this.#db.putSync(['order', seq, job.id], EMPTY)
        this.#db.putSync(['job', job.id], value)
      })
    } catch (err) {
      if (this.#order.get(job.id) === seq) this.#order.delete(job.id)
      throw err
    }
  }

  async putAttempt (jobId: string, attempt: JournalAttempt): Promise<void> {
    if (!this.#order.has(jobId)) return
    await this.#db.put(['attempt', jobId, attempt.taskId], encodeRecord(attempt))
  }

  async putResult (jobId: string, result: JournalResult): Promise<void> {
    if (!this.#order.has(jobId)) return
    await this.#db.put(['result', jobId, result.taskId], encodeRecord(result))
  }

  /** Every record of the job, in one transaction (history compaction). LMDB reuses the freed pages. */
  async deleteJob (jobId: string): Promise<void> {
    const seq = this.#order.get(jobId)
    if (seq === undefined) return
    await this.#db.transaction(() => {
      for (const kind of ['attempt', 'result']) {
        for (const key of this.#db.getKeys({ start: [kind, jobId], end: [kind, jobId, MAX] })) this.#db.removeSync(key)
      }
      this.#db.removeSync(['end', jobId])
      this.#db.removeSync(['job', jobId])
      this.#db.removeSync(['order', seq, jobId])
    })
    if (this.#order.get(jobId) === seq) this.#order.delete(jobId)
  }

  async putJobState (jobId: string, state: JournalJobState): Promise<void> {
    if (!this.#order.has(jobId)) return
    await this.#db.put(['end', jobId], encodeRecord(state))
  }

  async load (): Promise<JournalSnapshot> {
    const seqs = new Map<string, number>()
    const parts = new Map<string, { job?: JournalJob, results: JournalResult[], attempts: JournalAttempt[], end?: JournalJobState }>()
    const part = (jobId: string): { job?: JournalJob, results: JournalResult[], attempts: JournalAttempt[], end?: JournalJobState } => {
      let p = parts.get(jobId)
      if (p === undefined) parts.set(jobId, p = { results: [], attempts: [] })
      return p
    }
    for (const { key, value } of this.#db.getRange({})) {
      if (!Array.isArray(key)) continue
      const [kind, a, b] = key
      switch (kind) {
        case 'order':
          if (typeof a === 'number' && typeof b === 'string') seqs.set(b, a)
          break
        case 'job':
          if (typeof a === 'string') part(a).job = decodeRecord(value, `job ${a}`) as JournalJob
          break
        case 'attempt':
          if (typeof a === 'string') part(a).attempts.push(decodeRecord(value, `attempt ${a}/${String(b)}`) as JournalAttempt)
          break
        case 'result':
          if (typeof a === 'string') part(a).results.push(decodeRecord(value, `result ${a}/${String(b)}`) as JournalResult)
          break
        case 'end':
          if (typeof a === 'string') part(a).end = decodeRecord(value, `end ${a}`) as JournalJobState
          break
      }
    }
    const jobs: SnapshotJob[] = []
    for (const [jobId] of [...seqs].sort((x, y) => x[1] - y[1])) {
      const p = parts.get(jobId)
      if (p?.job === undefined) continue
      const entry: SnapshotJob = { job: p.job, results: p.results, attempts: p.attempts }
      if (p.end !== undefined) entry.end = p.end
      jobs.push(entry)
    }
    return { jobs }
  }

  async close (): Promise<void> {
    await this.#store.close()
  }
}
