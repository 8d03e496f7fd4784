/**
 * Workloads 1 and 2 (issue 5), Meshwork's side, on real daemons (`mesh start`
 * processes on 127.0.0.1, handlers in worker threads), driven through the
 * control API of one daemon (the origin):
 *  - latency: single trivial tasks on an idle 3-peer mesh, one job after
 *    another: submit → the handler starting (its own Date.now(), same machine)
 *    and submit → the job done (its `job-done` event);
 *  - throughput: on a 4-peer mesh, one job of N trivial handler tasks, and one
 *    of M tasks burning ~5 ms of CPU each: tasks/s from submit to done, the
 *    origin's CPU per task, and efficiency against the 2-core ideal.
 * Every peer runs with default resources (cpu "auto": both cores of this
 * machine) and tasks with the default demand (1 cpu).
 */
import { join } from 'node:path'
import type { JobEvent } from '../src/jobs/job-view.ts'
import type { ControlClient } from '../node/control/client.ts'
import { createLocalMesh, ROOT, type LocalMesh } from '../node/local-mesh.ts'
import { cpuMs, machine, runToDone, summary, writeResult } from './lib.ts'

const HANDLERS = join(ROOT, 'bench', 'handlers.ts')
const BURN_MS = 5
const CORES = 2

interface Run { t0: number, done: number, events: JobEvent[], id: string }

export async function benchJobs ({ quick, smoke = false }: { quick: boolean, smoke?: boolean }): Promise<Record<string, unknown>> {
  const latency = await measureLatency(smoke ? 5 : quick ? 30 : 200)
  const throughput = await measureThroughput(smoke ? 100 : quick ? 2000 : 10_000, smoke ? 20 : quick ? 300 : 1000)
  const result = {
    what: 'jobs on real daemons (127.0.0.1), handlers in worker threads, driven through the control API of the origin daemon',
    machine: machine(),
    latency,
    throughput
  }
  writeResult('jobs', result)
  return result
}

const log = (s: string): void => { process.stderr.write(`[jobs] ${s}\n`) }

async function withMesh<T> (n: number, body: (origin: ControlClient, mesh: LocalMesh) => Promise<T>): Promise<T> {
  const mesh = await createLocalMesh(n, () => ({
    executor: { handlers: { stamp: `${HANDLERS}#stamp`, noop: `${HANDLERS}#noop`, burn: `${HANDLERS}#burn` } }
  }))
  try {
    await Promise.all(mesh.daemons.map(async d => { await d.start() }))
    // Let the mesh form and every peer's ads arrive.
    await new Promise(resolve => setTimeout(resolve, 2500))
    const origin = mesh.daemons[0]!.client()
    return await body(origin, mesh)
  } finally {
    await mesh.destroy()
  }
}

async function run (origin: ControlClient, spec: unknown): Promise<Run> {
  const { t0, id, events, doneAt } = await runToDone(origin, spec)
  return { t0, done: doneAt, events, id }
}

async function measureLatency (jobs: number): Promise<Record<string, unknown>> {
  return await withMesh(3, async origin => {
    const one = { name: 'latency', tasks: { t: { kind: 'handler', handler: 'stamp' } } }
    // Warm-up: worker threads start lazily, and the first run of anything is slow.
    for (let i = 0; i < 10; i++) await run(origin, one)
    const toStart: number[] = []
    const toResult: number[] = []
    for (let i = 0; i < jobs; i++) {
      const r = await run(origin, one)
      const { results } = await origin.results(r.id)
      toStart.push((results.t as number) - r.t0)
      toResult.push(r.done - r.t0)
    }
    log(`submit → task start p50 ${summary(toStart).p50} ms p99 ${summary(toStart).p99} ms; submit → done p50 ${summary(toResult).p50} ms p99 ${summary(toResult).p99} ms`)
    return {
      peers: 3,
      jobs,
      submitToStartMs: summary(toStart),
      submitToDoneMs: summary(toResult),
      how: 'single-task jobs (one trivial handler task, 1 cpu) one after another on an idle 3-peer mesh, after 10 warm-up jobs: POST /v1/jobs → the handler’s own Date.now() at start; → the job-done event’s time (same machine clock)'
    }
  })
}

async function measureThroughput (trivialN: number, burnN: number): Promise<Record<string, unknown>> {
  return await withMesh(4, async (origin, mesh) => {
    const pids = mesh.daemons.map(d => d.pid!)
    await run(origin, { name: 'warm', tasks: { t: { kind: 'handler', handler: 'noop', count: 50 } } })
    const measure = async (name: string, task: Record<string, unknown>, n: number): Promise<Record<string, unknown> & { tasksPerSecond: number, seconds: number, id: string }> => {
      const cpu0 = pids.map(cpuMs)
      const r = await run(origin, { name, tasks: { t: { kind: 'handler', count: n, ...task } } })
      const cpu = pids.map((p, i) => cpuMs(p) - cpu0[i]!)
      const seconds = (r.done - r.t0) / 1000
      const perPeer: Record<string, number> = {}
      for (const e of r.events) if (e.type === 'task-done') perPeer[e.peer.slice(-8)] = (perPeer[e.peer.slice(-8)] ?? 0) + 1
      const out = {
        tasks: n,
        seconds: Math.round(seconds * 1000) / 1000,
        tasksPerSecond: Math.round(n / seconds),
        originCpuMsPerTask: Math.round(cpu[0]! / n * 1000) / 1000,
        meshCpuMsPerTask: Math.round(cpu.reduce((a, b) => a + b, 0) / n * 1000) / 1000,
        perPeer,
        id: r.id
      }
      log(`${name}: ${n} tasks in ${seconds.toFixed(2)} s = ${out.tasksPerSecond} tasks/s; origin CPU ${out.originCpuMsPerTask} ms/task, mesh ${out.meshCpuMsPerTask} ms/task`)
      return out
    }
    const trivial = await measure('trivial', { handler: 'noop' }, trivialN)
    const burn = await measure('burn', { handler: 'burn', input: { ms: BURN_MS } }, burnN)
    // Each burn returns the CPU it used: the ideal is what 2 cores do with exactly that work.
    const values = Object.values((await origin.results(burn.id)).results as Record<string, number>)
    const meanCpuMs = values.reduce((a, b) => a + b, 0) / values.length
    const ideal = Math.round(CORES * 1000 / meanCpuMs)
    return {
      peers: 4,
      trivial: { ...trivial, how: 'one job of N no-op handler tasks (1 cpu each) submitted to the first of 4 daemons: POST /v1/jobs → job-done; CPU from /proc/<pid>/stat (user+system, 10 ms ticks) of each daemon process over the run (worker threads included)' },
      cpu5ms: {
        ...burn,
        meanCpuMsPerTask: Math.round(meanCpuMs * 1000) / 1000,
        idealTasksPerSecond: ideal,
        efficiency: Math.round(burn.tasksPerSecond / ideal * 1000) / 1000,
        how: `one job of N handler tasks each burning ${BURN_MS} ms of its thread's CPU (process.threadCpuUsage), 1 cpu each; ideal = ${CORES} cores × 1000 ÷ the mean CPU ms a task actually used; efficiency = tasks/s ÷ ideal (the share of both cores spent in task work)`
      }
    }
  })
}
