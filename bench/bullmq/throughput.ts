/**
 * Workload 2 through BullMQ: N jobs added in bulk to one queue consumed by 4
 * worker processes; tasks/s from the first add to the last completion.
 */
import { Queue } from 'bullmq'
import { cpuMs, machine, poll, rssMB } from '../lib.ts'
import { BULLMQ_DEFAULTS, workersRssMB, type WorkloadContext } from './context.ts'
import type { ProcessorName } from './worker-config.ts'
import { killWorkers, startWorkers } from './workers.ts'

const WORKERS = 4
const WARM_UP = 40
const ADD_CHUNK = 1000

interface Batch {
  tasks: number
  seconds: number
  tasksPerSecond: number
  concurrency: number
  perWorker: number[]
  addSeconds: number
  cpuMsPerTask: { submitter: number, redis: number, workers: number }
  workerRssMB: Record<string, number>
  redisRssMB: number
  /** Return values of the measured jobs (the burn processor's CPU ms). */
  results: unknown[]
}

async function runBatch (ctx: WorkloadContext & { redisPid: number }, o: { tasks: number, processor: ProcessorName, data: unknown, concurrency: number }): Promise<Batch> {
  const queueName = `throughput-${o.processor}-c${o.concurrency}`
  const workers = await startWorkers(Array.from({ length: WORKERS }, (_, i) => ({ port: ctx.port, peer: `worker-${i + 1}`, consumers: [{ queue: queueName, concurrency: o.concurrency, processor: o.processor }] })))
  const queue = new Queue(queueName, { connection: ctx.connection })
  try {
    await queue.waitUntilReady()
    // Warm-up: JIT, connections, and every worker past its first fetch.
    await queue.addBulk(Array.from({ length: WARM_UP }, () => ({ name: 'warm', data: o.data })))
    await poll(async () => await queue.getCompletedCount() >= WARM_UP, 30_000, 20)
    const warm = await Promise.all(workers.map(async w => (await w.completed())[queueName] ?? 0))

    const cpu0 = { submitter: process.cpuUsage(), redis: cpuMs(ctx.redisPid), workers: workers.map(w => cpuMs(w.pid)) }
    const t0 = Date.now()
    for (let i = 0; i < o.tasks; i += ADD_CHUNK) {
      await queue.addBulk(Array.from({ length: Math.min(ADD_CHUNK, o.tasks - i) }, () => ({ name: 'task', data: o.data })))
    }
    const addSeconds = (Date.now() - t0) / 1000
    await poll(async () => await queue.getCompletedCount() >= WARM_UP + o.tasks, 10 * 60_000, 20)
    const failed = await queue.getFailedCount()
    if (failed > 0) throw new Error(`${failed} ${queueName} jobs failed`)
    // The completed set is ordered by finish time: its newest entry is the last completion.
    const last = (await queue.getJobs(['completed'], 0, 0, false))[0]
    const seconds = ((last?.finishedOn ?? NaN) - t0) / 1000
    const submitterCpu = process.cpuUsage(cpu0.submitter)
    const workersCpu = workers.reduce((s, w, i) => s + cpuMs(w.pid) - cpu0.workers[i]!, 0)
    const perWorker = (await Promise.all(workers.map(async w => (await w.completed())[queueName] ?? 0))).map((n, i) => n - warm[i]!)
    const results = o.processor === 'burn'
      ? (await queue.getJobs(['completed'], 0, -1)).filter(j => j.name === 'task').map(j => j.returnvalue as unknown)
      : []
    const perTask = (ms: number): number => Math.round(ms / o.tasks * 1000) / 1000
    return {
      tasks: o.tasks,
      seconds,
      tasksPerSecond: Math.round(o.tasks / seconds),
      concurrency: o.concurrency,
      perWorker,
      addSeconds,
      cpuMsPerTask: { submitter: perTask((submitterCpu.user + submitterCpu.system) / 1000), redis: perTask(cpuMs(ctx.redisPid) - cpu0.redis), workers: perTask(workersCpu) },
      workerRssMB: workersRssMB(workers),
      redisRssMB: rssMB(ctx.redisPid),
      results
    }
  } finally {
    await queue.obliterate({ force: true }).catch(() => { /* the next batch uses its own queue anyway */ })
    await queue.close().catch(() => undefined)
    await killWorkers(workers)
  }
}

export async function throughputWorkload (ctx: WorkloadContext & { redisPid: number }): Promise<Record<string, unknown>> {
  const trivialN = ctx.quick ? 2000 : 10_000
  const burnN = ctx.quick ? 300 : 1000
  const burnMs = 5
  const cores = machine().cpus
  const trivial: Record<string, unknown> = {}
  for (const concurrency of [1, 8]) {
    const { results: _, ...b } = await runBatch(ctx, { tasks: trivialN, processor: 'noop', data: null, concurrency })
    ctx.log(`${trivialN} trivial jobs, 4 workers × concurrency ${concurrency}: ${b.seconds.toFixed(2)} s, ${b.tasksPerSecond} tasks/s (per worker ${b.perWorker.join('/')})`)
    trivial[`concurrency ${concurrency}`] = b
  }
  const cpuBound: Record<string, unknown> = {}
  for (const concurrency of [1, 4]) {
    const { results, ...b } = await runBatch(ctx, { tasks: burnN, processor: 'burn', data: { ms: burnMs }, concurrency })
    const burned = results as number[]
    const meanCpuMs = burned.reduce((s, x) => s + x, 0) / burned.length
    const idealTasksPerSecond = cores * 1000 / meanCpuMs
    const efficiency = b.tasksPerSecond / idealTasksPerSecond
    ctx.log(`${burnN} × ${burnMs} ms CPU jobs, 4 workers × concurrency ${concurrency}: ${b.tasksPerSecond} tasks/s; mean burn ${meanCpuMs.toFixed(2)} ms CPU → ideal ${idealTasksPerSecond.toFixed(0)} tasks/s, efficiency ${(efficiency * 100).toFixed(1)} %`)
    cpuBound[`concurrency ${concurrency}`] = {
      ...b,
      meanCpuMsPerTask: Math.round(meanCpuMs * 1000) / 1000,
      idealTasksPerSecond: Math.round(idealTasksPerSecond),
      efficiency: Math.round(efficiency * 1000) / 1000
    }
  }
  return {
    workers: WORKERS,
    settings: BULLMQ_DEFAULTS,
    trivial: {
      ...trivial,
      how: `${trivialN} no-op jobs added with queue.addBulk in chunks of ${ADD_CHUNK} to one queue consumed by ${WORKERS} worker processes (after ${WARM_UP} warm-up jobs): Date.now() before the first addBulk → the newest finishedOn in the completed set (the worker's clock when the last job completed); tasks/s = N ÷ that. cpuMsPerTask from /proc (Redis, workers) and process.cpuUsage (submitter) over the batch`
    },
    cpuBound: {
      ...cpuBound,
      how: `${burnN} jobs running bench/handlers.ts burn({ ms: ${burnMs} }) (burns that much of its thread’s CPU), same timing as trivial. Each job returns the thread CPU its burn used (process.threadCpuUsage); ideal = ${cores} cores × 1000 ÷ mean CPU ms per job; efficiency = tasks/s ÷ ideal, i.e. the share of the ${cores} cores' time spent inside the burn loops`
    }
  }
}
