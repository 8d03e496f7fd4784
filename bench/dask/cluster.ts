/**
 * A real Dask distributed cluster on 127.0.0.1 for the comparison benchmark:
 * one `dask-scheduler` and `dask-worker` processes of Debian's
 * /usr/bin/python3 (the pyenv `python3` on PATH has no `distributed`), and
 * Dask clients running bench/dask/client.py.
 *
 * Choices (recorded in the results by bench/dask.ts): no dashboard; workers
 * without a nanny (the pid we spawn is the worker that runs tasks, so
 * `kill -9` hits it and nothing restarts it behind the bench's back); one
 * worker process each (`--nworkers 1`); Dask's defaults otherwise (work
 * stealing on, allowed-failures 3, worker-ttl 5 minutes).
 *
 * Every process gets its own process group (detached) and `stop()` kills the
 * groups, so no Python process outlives the bench.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from '../../node/local-mesh.ts'

export const PYTHON = '/usr/bin/python3'
const DASK_DIR = join(ROOT, 'bench', 'dask')

export const SCHEDULER_ARGS = ['-m', 'distributed.cli.dask_scheduler', '--host', '127.0.0.1', '--port', '0', '--no-dashboard']
export const WORKER_ARGS = ['-m', 'distributed.cli.dask_worker', '--host', '127.0.0.1', '--nworkers', '1', '--no-nanny', '--no-dashboard']

/** Why Dask cannot run here, or undefined when /usr/bin/python3 imports `distributed`. */
export function daskMissing (): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import distributed; print(distributed.__version__)'], { encoding: 'utf8' })
  if (r.error !== undefined || r.status !== 0) return `${PYTHON} cannot import distributed (${r.error?.message ?? r.stderr.trim().split('\n').at(-1)}); install with sudo apt-get install python3-distributed`
  return undefined
}

export function daskVersion (): string {
  return spawnSync(PYTHON, ['-c', 'import distributed, sys; print(distributed.__version__, "python", sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim()
}

export interface WorkerSpec {
  name: string
  nthreads: number
  /** Abstract Dask resources (`--resources`), e.g. { CPU: 2, MEM: 4096, GPU: 0 }. */
  resources?: Record<string, number>
}

/** One scheduler or worker process: spawned → the log line that says it is serving. */
export interface DaskProcess {
  name: string
  proc: ChildProcess
  pid: number
  startupMs: number
}

export class DaskCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'meshwork-dask-'))
  readonly schedulerFile = join(this.dir, 'scheduler.json')
  scheduler: DaskProcess | undefined
  /** Live workers, in start order. */
  workers: DaskProcess[] = []
  /** Every worker start-up measured (replacements included), with how many workers were starting at once. */
  readonly workerStartups: Array<{ ms: number, together: number }> = []
  /** When set, a worker that dies is replaced at once by a fresh one with the same spec (for the recovery workload). */
  replaceDeadWorkers = false
  private readonly procs = new Set<ChildProcess>()
  private stopping = false
  private replaced = 0

  /** Start the scheduler, then the workers in parallel; resolves when every worker has registered. */
  async start (workers: WorkerSpec[]): Promise<{ schedulerMs: number, workersMs: number[], clusterMs: number }> {
    const t0 = performance.now()
    this.scheduler = await this.spawnReady('scheduler', [...SCHEDULER_ARGS, '--scheduler-file', this.schedulerFile], /Scheduler at:/)
    const ws = await Promise.all(workers.map(async w => await this.addWorker(w, workers.length)))
    return { schedulerMs: this.scheduler.startupMs, workersMs: ws.map(w => w.startupMs), clusterMs: performance.now() - t0 }
  }

  /** Start one more worker; resolves when it has registered with the scheduler. */
  async addWorker (spec: WorkerSpec, together = 1): Promise<DaskProcess> {
    const args = [...WORKER_ARGS, '--scheduler-file', this.schedulerFile, '--nthreads', String(spec.nthreads), '--name', spec.name, '--local-directory', this.dir]
    if (spec.resources !== undefined) args.push('--resources', Object.entries(spec.resources).map(([k, v]) => `${k}=${v}`).join(','))
    const w = await this.spawnReady(spec.name, args, /Registered to:/)
    this.workers.push(w)
    this.workerStartups.push({ ms: w.startupMs, together })
    w.proc.once('exit', () => {
      this.workers = this.workers.filter(x => x !== w)
      if (this.replaceDeadWorkers && !this.stopping) {
        this.addWorker({ ...spec, name: `${spec.name.replace(/-r\d+$/, '')}-r${++this.replaced}` }).catch(err => { process.stderr.write(`[dask] replacement worker failed: ${String(err)}\n`) })
      }
    })
    return w
  }

  /** Run one phase of client.py against this cluster; its args go through a JSON file. */
  async run<T> (phase: string, args: unknown, timeoutMs = 10 * 60_000): Promise<T> {
    const argsFile = join(this.dir, `${phase}.json`)
    writeFileSync(argsFile, JSON.stringify(args))
    const proc = this.spawn([join(DASK_DIR, 'client.py'), phase, this.schedulerFile, argsFile])
    let stdout = ''
    let stderr = ''
    proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => { killGroup(proc) }, timeoutMs)
      proc.once('exit', (c, sig) => { clearTimeout(timer); resolve(c ?? sig ?? 0) })
    })
    if (code !== 0) throw new Error(`dask client ${phase} exited with ${code}: ${stderr.slice(-2000)}`)
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as T
  }

  /** SIGKILL every process group this cluster started and delete its directory. */
  async stop (): Promise<void> {
    this.stopping = true
    const all = [...this.procs]
    for (const p of all) killGroup(p)
    await Promise.all(all.map(async p => { await exited(p) }))
    rmSync(this.dir, { recursive: true, force: true })
  }

  private spawn (args: string[]): ChildProcess {
    const proc = spawn(PYTHON, args, {
      cwd: this.dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // bench_tasks.py must be importable on the workers; the client pickles tasks by reference.
      env: { ...process.env, PYTHONPATH: DASK_DIR }
    })
    this.procs.add(proc)
    proc.once('exit', () => { this.procs.delete(proc) })
    return proc
  }

  private async spawnReady (name: string, args: string[], ready: RegExp, timeoutMs = 60_000): Promise<DaskProcess> {
    const t0 = performance.now()
    const proc = this.spawn(args)
    const log: string[] = []
    proc.stdout!.resume()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`dask ${name} not ready in ${timeoutMs} ms: ${log.join('\n')}`)) }, timeoutMs)
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`dask ${name} exited with ${code}: ${log.join('\n')}`)) })
      createInterface({ input: proc.stderr! }).on('line', line => {
        if (log.length < 200) log.push(line)
        if (ready.test(line)) { clearTimeout(timer); resolve() }
      })
    })
    return { name, proc, pid: proc.pid!, startupMs: performance.now() - t0 }
  }
}

function killGroup (p: ChildProcess): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return
  try { process.kill(-p.pid, 'SIGKILL') } catch { p.kill('SIGKILL') }
}

async function exited (p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  await new Promise(resolve => p.once('exit', resolve))
}
