/**
 * One BullMQ worker process: `node bench/bullmq/worker.ts '<WorkerConfig JSON>'`.
 * Prints `ready` once every Worker's Redis connection is up; on SIGUSR2 prints
 * `stats {json}` (jobs completed per queue). Stopped by its parent with SIGKILL
 * of its process group.
 */
import { appendFileSync } from 'node:fs'
import { Worker, type Job } from 'bullmq'
import { burn } from '../handlers.ts'
import type { ProcessorName, WorkerConfig } from './worker-config.ts'

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const processors: Record<ProcessorName, (job: Job) => Promise<unknown>> = {
  stamp: async () => Date.now(),
  noop: async () => null,
  burn: async job => {
    // The thread CPU the burn used (a little over what was asked): the ideal is computed from it.
    return burn(job.data)
  },
  sleep: async job => {
    const start = Date.now()
    await sleep((job.data as { ms: number }).ms)
    return { peer: config.peer, pid: process.pid, start, end: Date.now() }
  },
  sleepLogged: async job => {
    if (config.log !== undefined) appendFileSync(config.log, `${job.id} ${job.attemptsStarted} ${Date.now()} ${process.pid}\n`)
    await sleep((job.data as { ms: number }).ms)
    return null
  }
}

const completed: Record<string, number> = {}
const workers = config.consumers.map(c => {
  completed[c.queue] = 0
  const worker = new Worker(c.queue, processors[c.processor], { connection: { host: '127.0.0.1', port: config.port }, concurrency: c.concurrency })
  worker.on('completed', () => { completed[c.queue]!++ })
  worker.on('error', err => { process.stderr.write(`[bullmq worker ${config.peer}] ${String(err)}\n`) })
  return worker
})
process.on('SIGUSR2', () => { process.stdout.write(`stats ${JSON.stringify({ peer: config.peer, pid: process.pid, completed })}\n`) })
await Promise.all(workers.map(async w => { await w.waitUntilReady() }))
process.stdout.write('ready\n')
