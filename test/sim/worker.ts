/**
 * A worker thread that runs simulations for `pool.ts`: one `Sim` at a time,
 * options in, report (or failure message) out. Each run is independent and
 * deterministic, so a seed gives the same run here as in the main thread.
 */
import { parentPort } from 'node:worker_threads'
import { Sim, SimFailure, type SimOptions } from './harness.ts'

export type WorkerRequest = { id: number, opts: SimOptions }
export type WorkerReply =
  | { id: number, ok: true, report: Awaited<ReturnType<Sim['run']>> }
  | { id: number, ok: false, message: string, invariant: boolean }

const port = parentPort
if (port === null) throw new Error('worker.ts runs as a worker thread')
port.on('message', (req: WorkerRequest) => {
  new Sim(req.opts).run().then(
    report => { port.postMessage({ id: req.id, ok: true, report } satisfies WorkerReply) },
    (err: Error) => { port.postMessage({ id: req.id, ok: false, message: err instanceof SimFailure ? err.message : (err.stack ?? err.message), invariant: err instanceof SimFailure } satisfies WorkerReply) }
  )
})
