/**
 * Workload 1 through BullMQ: single trivial jobs one after another on an idle
 * queue consumed by 3 worker processes (concurrency 1 each).
 */
import { Queue, QueueEvents } from 'bullmq'
import { summary } from '../lib.ts'
import { BULLMQ_DEFAULTS, workersRssMB, type WorkloadContext } from './context.ts'
import { killWorkers, startWorkers } from './workers.ts'

export async function latencyWorkload ({ quick, port, connection, log }: WorkloadContext): Promise<Record<string, unknown>> {
  const jobs = quick ? 30 : 200
  const queueName = 'latency'
  const workers = await startWorkers([1, 2, 3].map(i => ({ port, peer: `worker-${i}`, consumers: [{ queue: queueName, concurrency: 1, processor: 'stamp' as const }] })))
  const queue = new Queue(queueName, { connection })
  const events = new QueueEvents(queueName, { connection })
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()])
    const one = async (): Promise<{ toStart: number, toResult: number, toFinishedOn: number }> => {
      const t0 = Date.now()
      const job = await queue.add('stamp', {})
      const startedAt = await job.waitUntilFinished(events) as number
      const known = Date.now()
      const finishedOn = (await queue.getJob(job.id!))?.finishedOn ?? NaN
      return { toStart: startedAt - t0, toResult: known - t0, toFinishedOn: finishedOn - t0 }
    }
    // Warm-up: the first jobs pay for JIT and connection set-up.
    for (let i = 0; i < 5; i++) await one()
    const samples = []
    for (let i = 0; i < jobs; i++) samples.push(await one())
    const toStart = summary(samples.map(s => s.toStart))
    const toResult = summary(samples.map(s => s.toResult))
    log(`add → handler start p50 ${toStart.p50} ms p99 ${toStart.p99} ms; add → result at the submitter p50 ${toResult.p50} ms p99 ${toResult.p99} ms`)
    return {
      jobs,
      workers: 3,
      settings: { ...BULLMQ_DEFAULTS, concurrency: 1 },
      addToStartMs: { ...toStart, how: 'Date.now() before queue.add → the handler’s own Date.now() at start (its return value; same machine clock); one job at a time on an idle queue, after 5 warm-up jobs' },
      addToResultMs: { ...toResult, how: 'Date.now() before queue.add → job.waitUntilFinished(QueueEvents) resolving at the submitter' },
      addToFinishedOnMs: { ...summary(samples.map(s => s.toFinishedOn)), how: 'Date.now() before queue.add → the job’s finishedOn (the worker’s clock when it moved the job to completed in Redis)' },
      workerRssMB: { ...workersRssMB(workers), how: 'VmRSS of each worker process after the jobs' }
    }
  } finally {
    await Promise.allSettled([queue.close(), events.close()])
    await killWorkers(workers)
  }
}
