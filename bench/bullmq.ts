/**
 * The comparison the issue asks for (workloads 1–4): the same workloads through
 * BullMQ on a real Redis server (Debian's redis-server, started and stopped
 * here on 127.0.0.1), workers as separate Node processes. Written to
 * bench/results/bullmq.json; the Meshwork/BullMQ ratios are computed by the
 * report from this file and the Meshwork results of the same run.
 */
import { createRequire } from 'node:module'
import { machine, rssMB, writeResult } from './lib.ts'
import { latencyWorkload } from './bullmq/latency.ts'
import { placementWorkload } from './bullmq/placement.ts'
import { recoveryWorkload } from './bullmq/recovery.ts'
import { missingPrerequisite, REDIS_SERVER, redisUsedMemoryMB, startRedis } from './bullmq/redis-server.ts'
import { throughputWorkload } from './bullmq/throughput.ts'
import type { WorkloadContext } from './bullmq/context.ts'

export async function benchBullmq ({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  const log = (s: string): void => { process.stderr.write(`[bullmq] ${s}\n`) }
  const missing = missingPrerequisite()
  if (missing !== undefined) {
    log(`skipped: ${missing}`)
    const result = { skipped: missing, machine: machine() }
    writeResult('bullmq', result)
    return result
  }
  const bullmqVersion = (createRequire(import.meta.url)('bullmq/package.json') as { version: string }).version
  const redis = await startRedis()
  try {
    const ctx: WorkloadContext & { redisPid: number } = { quick, port: redis.port, connection: { host: '127.0.0.1', port: redis.port }, log, redisPid: redis.pid }
    const redisRss: Record<string, unknown> = { idle: rssMB(redis.pid) }
    const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      const t0 = performance.now()
      const r = await run()
      redisRss[`after ${name}`] = { rssMB: rssMB(redis.pid), ...await redisUsedMemoryMB(redis.port) }
      log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      return r
    }
    const latency = await step('latency', async () => await latencyWorkload(ctx))
    const throughput = await step('throughput', async () => await throughputWorkload(ctx))
    const placement = await step('placement', async () => await placementWorkload(ctx))
    // A default stalled-job recovery takes 30–60 s: the full run measures it, --quick (meant to be short) does not.
    const recovery = quick ? undefined : await step('recovery', async () => await recoveryWorkload(ctx))
    const result = {
      what: `BullMQ ${bullmqVersion} on Redis ${redis.version} (${REDIS_SERVER} on 127.0.0.1, no persistence), workers as separate Node ${process.version} processes; the submitter is this process`,
      machine: machine(),
      quick,
      latency,
      throughput,
      placement,
      recovery,
      redisMemory: { ...redisRss, how: 'VmRSS of redis-server (/proc) when idle and after each workload (latency leaves its jobs in Redis, removeOnComplete being off by default; the other workloads obliterate their queues when done, so throughput.*.redisRssMB is read before that); usedMB/infoRssMB from INFO memory' }
    }
    writeResult('bullmq', result)
    return result
  } finally {
    await redis.stop()
  }
}
