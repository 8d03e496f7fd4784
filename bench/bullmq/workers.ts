/**
 * Spawning BullMQ worker processes (bench/bullmq/worker.ts), each in its own
 * process group so that the whole group can be killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from '../../node/local-mesh.ts'
import { rssMB } from '../lib.ts'
import type { WorkerConfig } from './worker-config.ts'

const WORKER = join(ROOT, 'bench', 'bullmq', 'worker.ts')

export class WorkerProcess {
  readonly config: WorkerConfig
  readonly proc: ChildProcess
  readonly ready: Promise<void>
  private statsWaiters: Array<(line: string) => void> = []

  constructor (config: WorkerConfig) {
    this.config = config
    this.proc = spawn(process.execPath, [WORKER, JSON.stringify(config)], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] })
    const lines = createInterface({ input: this.proc.stdout! })
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`bullmq worker ${config.peer} not ready in 20 s`)) }, 20_000)
      this.proc.once('exit', code => { clearTimeout(timer); reject(new Error(`bullmq worker ${config.peer} exited with ${code}`)) })
      lines.on('line', line => {
        if (line === 'ready') { clearTimeout(timer); resolve() }
        if (line.startsWith('stats ')) this.statsWaiters.shift()?.(line.slice(6))
      })
    })
    this.ready.catch(() => { /* observed by whoever awaits it */ })
  }

  get pid (): number { return this.proc.pid! }

  alive (): boolean { return this.proc.exitCode === null && this.proc.signalCode === null }

  rssMB (): number { return this.alive() ? rssMB(this.pid) : NaN }

  /** Jobs this process's Workers completed, per queue. */
  async completed (): Promise<Record<string, number>> {
    const line = new Promise<string>(resolve => { this.statsWaiters.push(resolve) })
    this.proc.kill('SIGUSR2')
    return (JSON.parse(await line) as { completed: Record<string, number> }).completed
  }

  /** SIGKILL of this worker's whole process group; resolves once it has exited. */
  async kill (): Promise<void> {
    if (!this.alive()) return
    const exited = new Promise(resolve => { this.proc.once('exit', resolve) })
    try { process.kill(-this.pid, 'SIGKILL') } catch { /* already gone */ }
    await exited
  }
}

export async function startWorkers (configs: WorkerConfig[]): Promise<WorkerProcess[]> {
  const workers = configs.map(c => new WorkerProcess(c))
  try {
    await Promise.all(workers.map(async w => { await w.ready }))
  } catch (err) {
    await killWorkers(workers)
    throw err
  }
  return workers
}

export async function killWorkers (workers: WorkerProcess[]): Promise<void> {
  await Promise.all(workers.map(async w => { await w.kill() }))
}
