/**
 * Typed keys. A job is known by (origin, job id), never by its id alone: job
 * ids are chosen by their origins, and any peer can name another's (it heard
 * the call for bids). An attempt is (origin, job, task, attempt number). Keyed
 * without the origin, an award forged for another origin's attempt made the
 * real award look like a duplicate, and its heartbeats went to the forger
 * (docs/ARCHITECTURE.md §17). `AttemptKey` is opaque, and items that are sent
 * per (origin, job) are grouped with `ByJob`, which keeps the parts instead of
 * parsing them back out of a string.
 */

/** Identifies one attempt of one task of one origin's job on an executor (the ledger's and outbox's key). */
export type AttemptKey = string & { readonly __brand: 'AttemptKey' }

export function attemptKey (origin: string, jobId: string, taskId: string, attempt: number): AttemptKey {
  return `${origin}\n${jobId}\n${taskId}\n${attempt}` as AttemptKey
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
