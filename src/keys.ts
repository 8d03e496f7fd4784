/**
 * Typed keys. An attempt is known by (job, task, attempt number) and a job by
 * (origin, job id); both used to be strings joined with "\n" and split again
 * wherever they were read. `AttemptKey` is opaque, and items that are sent per
 * (origin, job) are grouped with `ByJob`, which keeps the parts instead of
 * parsing them back out of a string.
 */

/** Identifies one attempt of one task on an executor (the ledger's and outbox's key). */
export type AttemptKey = string & { readonly __brand: 'AttemptKey' }

export function attemptKey (jobId: string, taskId: string, attempt: number): AttemptKey {
  return `${jobId}\n${taskId}\n${attempt}` as AttemptKey
}

/** Items grouped by the (origin or peer, job) they go to or come from. */
export class ByJob<T> {
  readonly #groups = new Map<string, Map<string, T[]>>()

  add (peer: string, jobId: string, item: T): void {
    let jobs = this.#groups.get(peer)
    if (jobs === undefined) this.#groups.set(peer, jobs = new Map())
    const list = jobs.get(jobId)
    if (list === undefined) jobs.set(jobId, [item])
    else list.push(item)
  }

  get size (): number { return this.#groups.size }

  * [Symbol.iterator] (): Generator<{ peer: string, jobId: string, items: T[] }> {
    for (const [peer, jobs] of this.#groups) for (const [jobId, items] of jobs) yield { peer, jobId, items }
  }

  clear (): void { this.#groups.clear() }
}
