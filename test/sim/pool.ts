/**
 * Run many seeds on every core: each simulation is single-threaded and
 * independent, so seeds are spread over worker threads (one per core, at most
 * `threads`). Results come back as one promise per seed, in the order given.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import type { SimOptions, SimReport } from './harness.ts'
import type { WorkerReply, WorkerRequest } from './worker.ts'

export type SeedResult = { ok: true, report: SimReport } | { ok: false, message: string, invariant: boolean }

/** `log` is a function and stays behind: worker runs are quiet. */
type PlainOptions = Omit<SimOptions, 'log'>

/** `limits`: a worker's heap (a mesh of thousands of peers needs more than the default). */
export function runPool (runs: PlainOptions[], threads = availableParallelism(), limits?: ResourceLimits): { results: Array<Promise<SeedResult>>, close: () => Promise<void> } {
  const n = Math.max(1, Math.min(threads, runs.length))
  const settle: Array<(r: SeedResult) => void> = []
  const results = runs.map((_, i) => new Promise<SeedResult>(resolve => { settle[i] = resolve }))
  let next = 0
  const workers: Worker[] = []
  const feed = (w: Worker): void => {
    if (next >= runs.length) return
    const id = next++
    w.postMessage({ id, opts: runs[id]! } satisfies WorkerRequest)
  }
  for (let i = 0; i < n; i++) {
    const w = new Worker(new URL('./worker.ts', import.meta.url), limits === undefined ? {} : { resourceLimits: limits })
    w.on('message', (reply: WorkerReply) => {
      settle[reply.id]!(reply.ok ? { ok: true, report: reply.report } : { ok: false, message: reply.message, invariant: reply.invariant })
      feed(w)
    })
    w.on('error', err => {
      // A crashed worker fails every run it had not finished.
      for (let k = 0; k < runs.length; k++) settle[k]!({ ok: false, message: `worker thread died: ${err.stack ?? err.message}`, invariant: false })
    })
    workers.push(w)
    feed(w)
  }
  return { results, close: async () => { await Promise.all(workers.map(async w => await w.terminate())) } }
}
