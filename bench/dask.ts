/**
 * The Dask side of the comparison (issue 5): the Meshwork workloads on a real
 * Dask distributed cluster on 127.0.0.1 (bench/dask/cluster.ts starts it,
 * bench/dask/client.py runs each workload as a Dask client):
 *  - latency: single trivial tasks one after another on 3 idle workers;
 *  - throughput: trivial tasks and ~5 ms busy-loop tasks over 4 workers;
 *  - placement: the instance of bench/placement-workload.ts on 6 workers that
 *    declare its resources;
 *  - recovery: kill -9 of the worker running a task → the task starting again
 *    on another worker;
 *  - footprint: RSS and start-up time of the scheduler and the workers.
 */
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { PLACEMENT_PEERS, PLACEMENT_TASKS, placementLowerBound } from './placement-workload.ts'
import { DaskCluster, daskMissing, daskVersion, SCHEDULER_ARGS, WORKER_ARGS, type DaskProcess, type WorkerSpec } from './dask/cluster.ts'
import { machine, quantile, rssMB, summary, writeResult } from './lib.ts'

const BURN_MS = 5

const log = (s: string): void => { process.stderr.write(`[dask] ${s}\n`) }

export async function benchDask ({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  // Quick mode skips recovery (the full run measures it); quick mode is meant to be short.
  const missing = daskMissing()
  if (missing !== undefined) {
    log(`skipped: ${missing}`)
    const result = { skipped: missing, machine: machine() }
    writeResult('dask', result)
    return result
  }
  // The machine is shared: the load around the run says how much the figures can be trusted.
  const loadAtStart = loadavg()
  const startups: Startups = { scheduler: [], worker: [] }
  const jobs = await latencyAndThroughput(quick, startups)
  const placement = await placementRuns(quick, startups)
  const recovery = quick ? undefined : await recoveryKills(quick, startups)
  const result = {
    what: 'the Meshwork workloads on a real Dask distributed cluster (dask-scheduler + dask-worker processes, 127.0.0.1)',
    machine: machine(),
    dask: daskVersion(),
    loadAverage: { atStart: loadAtStart.map(round2), atEnd: loadavg().map(round2), how: 'os.loadavg() (1, 5, 15 min) before the first cluster starts and after the last one stops; above the 2 cores, other processes shared the machine' },
    setup: {
      scheduler: `python3 ${SCHEDULER_ARGS.join(' ')}`,
      worker: `python3 ${WORKER_ARGS.join(' ')} --nthreads N --name NAME [--resources CPU=…,MEM=…,GPU=…]`,
      how: 'Debian /usr/bin/python3; no dashboard; no nanny (the spawned pid is the worker, so kill -9 hits the process running the task and nothing restarts it except the bench); one process per worker; Dask defaults otherwise (work stealing on, allowed-failures 3, worker-ttl 5 min); tasks in bench/dask/bench_tasks.py pickled by reference; a fresh cluster for each of latency+throughput, placement, recovery'
    },
    startup: {
      schedulerMs: summary(startups.scheduler),
      workerAloneMs: summary(startups.worker.filter(w => w.together === 1).map(w => w.ms)),
      workerWithOthersMs: summary(startups.worker.filter(w => w.together > 1).map(w => w.ms)),
      ...jobs.startup,
      how: 'spawn of the python process → its log line "Scheduler at:" (scheduler listening) or "Registered to:" (worker registered with the scheduler); "alone" = one worker starting on its own (the 4th throughput worker, the replacements in recovery), "with others" = 3–6 workers started in parallel once the scheduler listens (2 cores shared); every cluster of the run counted'
    },
    rss: jobs.rss,
    latency: jobs.latency,
    throughput: jobs.throughput,
    placement,
    recovery
  }
  writeResult('dask', result)
  return result
}

interface Startups { scheduler: number[], worker: Array<{ ms: number, together: number }> }

const plainWorkers = (n: number, prefix = 'w'): WorkerSpec[] => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i + 1}`, nthreads: 1 }))

function rssOf (cluster: DaskCluster): { schedulerMB: number, schedulerPeakMB: number, workersMB: Record<string, number>, workersPeakMB: Record<string, number> } {
  const each = (f: (p: DaskProcess) => number): Record<string, number> => Object.fromEntries(cluster.workers.map(w => [w.name, f(w)]))
  return {
    schedulerMB: rssMB(cluster.scheduler!.pid),
    schedulerPeakMB: peakRssMB(cluster.scheduler!.pid),
    workersMB: each(w => rssMB(w.pid)),
    workersPeakMB: each(w => peakRssMB(w.pid))
  }
}

/** Peak resident set size of a process so far, MB (Linux /proc VmHWM). */
function peakRssMB (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Math.round(Number(m[1]) / 1024 * 10) / 10
}

async function latencyAndThroughput (quick: boolean, startups: Startups): Promise<Record<string, Record<string, unknown>>> {
  const n = quick ? 30 : 200
  const trivial = quick ? 2000 : 10_000
  const burn = quick ? 300 : 1000
  const cluster = new DaskCluster()
  try {
    const up = await cluster.start(plainWorkers(3))
    startups.scheduler.push(up.schedulerMs)
    await new Promise(resolve => setTimeout(resolve, 1000))
    const idle = rssOf(cluster)
    log(`3 workers up in ${up.clusterMs.toFixed(0)} ms; idle RSS scheduler ${idle.schedulerMB} MB, workers ${JSON.stringify(idle.workersMB)}`)

    const lat = await cluster.run<{ toStartMs: number[], toResultMs: number[], workers: number }>('latency', { n, warm: 5 })
    log(`latency: submit → start p50 ${summary(lat.toStartMs).p50} ms p99 ${summary(lat.toStartMs).p99} ms; submit → result p50 ${summary(lat.toResultMs).p50} ms p99 ${summary(lat.toResultMs).p99} ms`)

    await cluster.addWorker({ name: 'w4', nthreads: 1 })
    startups.worker.push(...cluster.workerStartups)
    type Run = { tasks: number, ms: number, perWorker: Record<string, number> }
    const tp = await cluster.run<{ trivial: Run, burn: Run & { meanCpuMs: number, meanWallMs: number } }>('throughput', { trivial, burn, burnMs: BURN_MS })
    const after = rssOf(cluster)
    const perSecond = (r: Run): number => Math.round(r.tasks / (r.ms / 1000))
    const cores = machine().cpus
    // Each burn reports the CPU it used: the ideal is what the cores do with exactly that work.
    const ideal = Math.round(cores * 1000 / tp.burn.meanCpuMs)
    log(`throughput: ${trivial} trivial tasks ${perSecond(tp.trivial)} tasks/s; ${burn} × ${BURN_MS} ms tasks ${perSecond(tp.burn)} tasks/s (${Math.round(perSecond(tp.burn) / ideal * 100)} % of ${ideal}; mean burn ${tp.burn.meanCpuMs} ms CPU, ${tp.burn.meanWallMs} ms wall)`)

    return {
      startup: { scheduler3WorkersMs: { ms: Math.round(up.clusterMs), how: 'spawn of the scheduler → all 3 workers registered (the latency cluster)' } },
      rss: {
        idle,
        afterThroughput: after,
        how: 'VmRSS (and VmHWM peak) from /proc: idle = 1 s after the 3-worker cluster registered, before any task; afterThroughput = right after the throughput workloads, 4 workers'
      },
      latency: {
        tasks: n,
        workers: lat.workers,
        submitToStartMs: summary(lat.toStartMs),
        submitToResultMs: summary(lat.toResultMs),
        how: `${n} single tasks one after another (after 5 warm-up tasks) on an idle cluster of 3 one-thread workers: time.time() before client.submit(stamp, pure=False) → the task's own time.time() at start (same machine clock), and → future.result() returning in the client`
      },
      throughput: {
        trivial: { tasks: trivial, seconds: tp.trivial.ms / 1000, tasksPerSecond: perSecond(tp.trivial), perWorker: tp.trivial.perWorker, how: `client.map(noop, range(${trivial}), pure=False) then client.gather, over 4 one-thread workers: time.time() before the map → gather returning (first submit → last result)` },
        burn: {
          tasks: burn,
          seconds: tp.burn.ms / 1000,
          tasksPerSecond: perSecond(tp.burn),
          burnMs: BURN_MS,
          meanCpuMsPerTask: tp.burn.meanCpuMs,
          meanWallMsPerTask: tp.burn.meanWallMs,
          idealTasksPerSecond: ideal,
          efficiency: Math.round(perSecond(tp.burn) / ideal * 1000) / 1000,
          perWorker: tp.burn.perWorker,
          how: `client.map(burn, range(${burn}), ms=${BURN_MS}, pure=False) then client.gather over 4 one-thread workers; each task burns ${BURN_MS} ms of its thread's CPU (time.thread_time, like the Meshwork burn handler) and reports the CPU and wall time it used; ideal = ${cores} cores × 1000 ÷ the mean CPU ms a task used; efficiency = tasks/s ÷ ideal (the share of both cores spent in task work)`
        }
      }
    }
  } finally {
    await cluster.stop()
  }
}

interface PlacementRun { makespanMs: number, tasks: Record<string, { worker: string, startMs: number, endMs: number }> }

async function placementRuns (quick: boolean, startups: Startups): Promise<Record<string, unknown>> {
  const unitMs = quick ? 250 : 1000
  const runs = quick ? 1 : 3
  const seen = new Set<string>()
  for (const t of PLACEMENT_TASKS) {
    // client.py submits in this order and passes dependencies as futures.
    if (!t.after.every(a => seen.has(a))) throw new Error(`placement task ${t.name} is listed before its dependencies`)
    seen.add(t.name)
  }
  const cluster = new DaskCluster()
  try {
    const up = await cluster.start(PLACEMENT_PEERS.map(p => ({ name: p.name, nthreads: p.cpu, resources: { CPU: p.cpu, MEM: p.memoryMB, GPU: p.gpu } })))
    startups.scheduler.push(up.schedulerMs)
    startups.worker.push(...cluster.workerStartups)
    const r = await cluster.run<{ runs: PlacementRun[] }>('placement', { peers: PLACEMENT_PEERS, tasks: PLACEMENT_TASKS, unitMs, runs })
    const bound = placementLowerBound()
    const lowerBoundMs = bound.units * unitMs
    const peers = new Map(PLACEMENT_PEERS.map(p => [p.name, p]))
    const out = r.runs.map(run => {
      // A task on a worker that lacks what it asked for would mean the comparison is unfair; count them.
      const misplaced = PLACEMENT_TASKS.filter(t => {
        const p = peers.get(run.tasks[t.name]!.worker)
        return p === undefined || p.cpu < t.cpu || p.memoryMB < t.memoryMB || p.gpu < t.gpu
      }).map(t => t.name)
      return {
        makespanMs: Math.round(run.makespanMs),
        ratioToLowerBound: Math.round(run.makespanMs / lowerBoundMs * 1000) / 1000,
        tasksPerWorker: countBy(Object.values(run.tasks).map(t => t.worker)),
        misplaced,
        tasks: run.tasks
      }
    })
    const makespans = out.map(o => o.makespanMs)
    log(`placement: makespan ${makespans.join(', ')} ms; lower bound ${lowerBoundMs} ms (ratio ${out.map(o => o.ratioToLowerBound).join(', ')})`)
    return {
      runs: out.length,
      unitMs,
      lowerBoundMs,
      lowerBound: bound,
      makespanMs: summary(makespans),
      ratioToLowerBound: { p50: Math.round(quantile(out.map(o => o.ratioToLowerBound), 0.5) * 1000) / 1000, samples: out.map(o => o.ratioToLowerBound) },
      perRun: out,
      how: `the instance of bench/placement-workload.ts (${PLACEMENT_TASKS.length} tasks, ${PLACEMENT_PEERS.length} peers), one dask-worker per peer with --nthreads <cpu> --resources CPU=<cpu>,MEM=<memoryMB>,GPU=<gpu>; each task client.submit(sleeper, …, resources={'CPU','MEM','GPU'}) sleeping units × ${unitMs} ms, its dependencies passed as futures; makespan = time.time() before the first submit → the last result arriving (as_completed); worker = get_worker().name inside the task; ${runs} run(s) on one cluster`
    }
  } finally {
    await cluster.stop()
  }
}

async function recoveryKills (quick: boolean, startups: Startups): Promise<Record<string, unknown>> {
  const kills = quick ? 3 : 20
  const cluster = new DaskCluster()
  try {
    const up = await cluster.start(plainWorkers(4))
    startups.scheduler.push(up.schedulerMs)
    cluster.replaceDeadWorkers = true
    const r = await cluster.run<{ killToStartMs: number[], victims: unknown[] }>('recovery', { kills, dir: cluster.dir, workers: 4, maxS: 60 })
    startups.worker.push(...cluster.workerStartups)
    const s = summary(r.killToStartMs)
    log(`recovery: kill -9 → task running elsewhere p50 ${s.p50} ms, max ${s.max} ms (n=${s.n})`)
    return {
      kills,
      killToRunningElsewhereMs: { ...s, how: 'a task (logs its start, then sleeps until told to stop, ≤ 60 s) on a cluster of 4 one-thread workers without nanny: the client sends SIGKILL to the pid the task logged (time.time() just before os.kill) → the same task’s next start logged on another worker (its own time.time()); the bench starts a replacement worker after each kill and the next round waits for it' },
      victims: r.victims
    }
  } finally {
    await cluster.stop()
  }
}

function round2 (x: number): number {
  return Math.round(x * 100) / 100
}

function countBy (xs: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of xs) out[x] = (out[x] ?? 0) + 1
  return out
}
