/**
 * Job figures on real daemons (3 `mesh start` processes on 127.0.0.1, handlers
 * in worker threads), driven through the control API:
 *  - latency: for single-task jobs on an idle mesh, submit → the task's handler
 *    starting (its own Date.now(), same machine) and submit → the job done
 *    (its `job-done` event);
 *  - throughput: one job of N trivial handler tasks, tasks per second from
 *    submit to done, at two CPU demands per task.
 */
import { join } from 'node:path'
import type { JobEvent } from '../src/jobs/job-view.ts'
import { callDaemon, streamDaemon, type ControlTarget } from '../node/control/client.ts'
import { readControlFile } from '../node/control/control-file.ts'
import { createLocalMesh, ROOT } from '../node/local-mesh.ts'
import { machine, summary, writeResult } from './lib.ts'

const HANDLERS = join(ROOT, 'bench', 'handlers.ts')

export async function benchJobs ({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  const base = await measure({ quick, queueDepth: 1, latency: true })
  // The same throughput job with a deeper executor queue: fewer auction rounds per task.
  const deep = await measure({ quick, queueDepth: 8, latency: false })
  const result = { ...base, throughputQueueDepth8: deep.throughput }
  writeResult('jobs', result)
  return result
}

async function measure ({ quick, queueDepth, latency }: { quick: boolean, queueDepth: number, latency: boolean }): Promise<Record<string, unknown> & { throughput: unknown }> {
  const jobsN = latency ? (quick ? 30 : 100) : 0
  const tasksN = quick ? 500 : 2000
  const log = (s: string): void => { process.stderr.write(`[jobs queueDepth ${queueDepth}] ${s}\n`) }
  const mesh = await createLocalMesh(3, () => ({
    auction: { queueDepth },
    executor: { handlers: { stamp: `${HANDLERS}#stamp`, noop: `${HANDLERS}#noop` } }
  }))
  try {
    await Promise.all(mesh.daemons.map(async d => { await d.start() }))
    const target = (i: number): ControlTarget => ({ url: mesh.daemons[i]!.controlUrl, token: readControlFile(join(mesh.dir, `data${i + 1}`))?.token ?? '' })
    const origin = target(1)
    // Let the mesh form and every peer's ads arrive.
    await new Promise(resolve => setTimeout(resolve, 2500))

    const run = async (spec: unknown): Promise<{ t0: number, done: number, events: JobEvent[], id: string }> => {
      const t0 = Date.now()
      const { id } = await callDaemon<{ id: string }>(origin, '/v1/jobs', { method: 'POST', body: { spec } })
      const events: JobEvent[] = []
      await streamDaemon(origin, `/v1/jobs/${id}/events`, v => { events.push(v as JobEvent) })
      const end = events.find(e => e.type === 'job-done')
      if (end === undefined) throw new Error(`job ${id} did not finish: ${JSON.stringify(events.at(-1))}`)
      return { t0, done: end.at, events, id }
    }

    // Warm-up: worker threads start lazily, and the first run of anything is slow.
    for (let i = 0; i < 5; i++) await run({ name: 'warm', tasks: { t: { kind: 'handler', handler: 'stamp' } } })

    const toStart: number[] = []
    const toResult: number[] = []
    for (let i = 0; i < jobsN; i++) {
      const r = await run({ name: 'latency', tasks: { t: { kind: 'handler', handler: 'stamp', resources: { cpu: 1 } } } })
      const res = await callDaemon<{ results: { t: number } }>(origin, `/v1/jobs/${r.id}/results`)
      toStart.push(res.results.t - r.t0)
      toResult.push(r.done - r.t0)
    }
    if (jobsN > 0) log(`submit → task start p50 ${summary(toStart).p50} ms p99 ${summary(toStart).p99} ms; submit → done p50 ${summary(toResult).p50} ms p99 ${summary(toResult).p99} ms`)

    const throughput: Record<string, { tasks: number, seconds: number, tasksPerSecond: number, perPeer: Record<string, number> }> = {}
    for (const cpu of [1, 0.1]) {
      const r = await run({ name: 'throughput', tasks: { t: { kind: 'handler', handler: 'noop', count: tasksN, resources: { cpu } } } })
      const seconds = (r.done - r.t0) / 1000
      const perPeer: Record<string, number> = {}
      for (const e of r.events) if (e.type === 'task-done') perPeer[e.peer.slice(-8)] = (perPeer[e.peer.slice(-8)] ?? 0) + 1
      throughput[`cpu ${cpu}`] = { tasks: tasksN, seconds, tasksPerSecond: Math.round(tasksN / seconds), perPeer }
      log(`${tasksN} trivial tasks at cpu ${cpu}: ${seconds.toFixed(2)} s, ${Math.round(tasksN / seconds)} tasks/s, per peer ${JSON.stringify(perPeer)}`)
    }

    return {
      what: 'jobs on 3 real daemons (127.0.0.1), handlers in worker threads, driven through the control API of the second daemon',
      machine: machine(),
      latency: jobsN === 0 ? undefined : {
        jobs: jobsN,
        submitToStartMs: summary(toStart),
        submitToDoneMs: summary(toResult),
        how: 'single-task jobs one after another on an idle mesh: POST /v1/jobs → the handler’s own Date.now() at start; → the job-done event time (same machine clock)'
      },
      throughput: { ...throughput, how: `one job of N no-op handler tasks: POST /v1/jobs → job-done; queueDepth ${queueDepth}, bid window 50 ms` }
    }
  } finally {
    await mesh.destroy()
  }
}
