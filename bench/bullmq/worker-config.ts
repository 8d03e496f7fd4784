/**
 * What one BullMQ worker process (bench/bullmq/worker.ts) runs: one BullMQ
 * `Worker` per queue it consumes, all in the same Node process, like one
 * machine of a team's fleet. Passed as JSON on its command line.
 */

/** The job processors the benchmark's workers know (see worker.ts). */
export type ProcessorName =
  /** returns the handler's start time (Date.now()) */
  | 'stamp'
  /** does nothing */
  | 'noop'
  /** burns `data.ms` of CPU with bench/handlers.ts `burn`; returns the thread CPU it used, ms */
  | 'burn'
  /** sleeps `data.ms`; returns `{ peer, pid, start, end }` */
  | 'sleep'
  /** appends `jobId attemptsStarted epochMs pid` to `log`, then sleeps `data.ms` */
  | 'sleepLogged'

export interface Consumer {
  queue: string
  /** BullMQ's `concurrency` option (default 1). */
  concurrency: number
  processor: ProcessorName
}

export interface WorkerConfig {
  port: number
  /** Name of the machine this process stands for (the placement peer). */
  peer: string
  consumers: Consumer[]
  /** File `sleepLogged` appends to. */
  log?: string
}
