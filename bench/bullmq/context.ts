/** What every BullMQ workload gets, and the BullMQ settings it records. */
import type { ConnectionOptions } from 'bullmq'
import type { WorkerProcess } from './workers.ts'

export interface WorkloadContext {
  quick: boolean
  port: number
  connection: ConnectionOptions
  log: (line: string) => void
}

/** BullMQ's defaults for what the workloads leave untouched (Worker and job options), recorded with every result. */
export const BULLMQ_DEFAULTS = {
  lockDuration: 30_000,
  lockRenewTime: 15_000,
  stalledInterval: 30_000,
  maxStalledCount: 1,
  drainDelay: 5,
  attempts: 1,
  removeOnComplete: false,
  removeOnFail: false
}

export function workersRssMB (workers: WorkerProcess[]): Record<string, number> {
  return Object.fromEntries(workers.map((w, i) => [`${w.config.peer}#${i}`, w.rssMB()]))
}
