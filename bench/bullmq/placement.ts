/**
 * Workload 3 through BullMQ: the placement instance of bench/placement-workload.ts
 * on one worker process per peer, tasks sleeping `units × unitMs`.
 *
 * BullMQ has no resource model. What can be encoded honestly: one queue per
 * set of peers a task fits on (cpu, memory and gpu all fit), consumed only by
 * those peers; each peer runs one BullMQ Worker per queue it can serve. Two
 * ways to size the Workers' `concurrency`, both measured:
 *  - `perQueue`: each Worker gets what its peer could hold of that queue's
 *    biggest task on its own (general queue: concurrency = cpu). Workers of one
 *    process do not share a limit, so a peer can run over its capacity: recorded.
 *  - `partitioned`: a static split so that all of a peer's Workers together can
 *    never exceed its cpu, memory or gpu: scarce queues (fewest peers) first, one
 *    slot each; the rest of the peer to the queue every peer serves.
 * The DAG: BullMQ Flows are trees (a job has one parent), so `prep → 24 maps`
 * is not a flow; the submitter adds each task when QueueEvents has reported
 * every one of its dependencies completed.
 */
import { Queue, QueueEvents } from 'bullmq'
import { PLACEMENT_PEERS, PLACEMENT_TASKS, placementLowerBound, type PlacementPeer, type PlacementTask } from '../placement-workload.ts'
import { poll } from '../lib.ts'
import { BULLMQ_DEFAULTS, workersRssMB, type WorkloadContext } from './context.ts'
import type { Consumer, WorkerConfig } from './worker-config.ts'
import { killWorkers, startWorkers } from './workers.ts'

type Sizing = 'perQueue' | 'partitioned'

const fits = (t: PlacementTask, p: PlacementPeer): boolean => p.cpu >= t.cpu && p.memoryMB >= t.memoryMB && p.gpu >= t.gpu

interface QueuePlan { name: string, peers: string[], tasks: PlacementTask[] }

/** One queue per distinct set of peers a task fits on. */
export function planQueues (tasks = PLACEMENT_TASKS, peers = PLACEMENT_PEERS): QueuePlan[] {
  const byPeers = new Map<string, QueuePlan>()
  for (const t of tasks) {
    const eligible = peers.filter(p => fits(t, p)).map(p => p.name)
    if (eligible.length === 0) throw new Error(`task ${t.name} fits on no peer`)
    const key = eligible.join('+')
    const plan = byPeers.get(key) ?? { name: eligible.length === peers.length ? 'any' : key, peers: eligible, tasks: [] }
    plan.tasks.push(t)
    byPeers.set(key, plan)
  }
  return [...byPeers.values()]
}

/** How many of the biggest task of `queue` fit in what `room` is left of a peer. */
function slots (queue: QueuePlan, room: { cpu: number, memoryMB: number, gpu: number }): number {
  const most = (f: (t: PlacementTask) => number): number => Math.max(...queue.tasks.map(f))
  const fit = (have: number, need: number): number => need === 0 ? Infinity : Math.floor(have / need)
  return Math.min(fit(room.cpu, most(t => t.cpu)), fit(room.memoryMB, most(t => t.memoryMB)), fit(room.gpu, most(t => t.gpu)))
}

export function consumersOf (peer: PlacementPeer, queues: QueuePlan[], sizing: Sizing, prefix: string): Consumer[] {
  const mine = queues.filter(q => q.peers.includes(peer.name)).sort((a, b) => a.peers.length - b.peers.length)
  const room = { cpu: peer.cpu, memoryMB: peer.memoryMB, gpu: peer.gpu }
  const out: Consumer[] = []
  for (const q of mine) {
    const general = q.peers.length === PLACEMENT_PEERS.length
    let n = slots(q, sizing === 'perQueue' ? peer : room)
    if (sizing === 'partitioned' && !general) n = Math.min(n, 1)
    if (n <= 0) continue
    if (sizing === 'partitioned') {
      const most = (f: (t: PlacementTask) => number): number => Math.max(...q.tasks.map(f))
      room.cpu -= n * most(t => t.cpu)
      room.memoryMB -= n * most(t => t.memoryMB)
      room.gpu -= n * most(t => t.gpu)
    }
    out.push({ queue: `${prefix}${q.name}`, concurrency: n, processor: 'sleep' })
  }
  return out
}

interface Ran { task: string, peer: string, startMs: number, endMs: number }

/** The largest cpu, memory and gpu each peer had in use at once, from the tasks' own start and end stamps. */
export function peakUse (ran: Ran[], tasks = PLACEMENT_TASKS, peers = PLACEMENT_PEERS): Record<string, { cpu: number, memoryMB: number, gpu: number, overCapacity: boolean }> {
  const byName = new Map(tasks.map(t => [t.name, t]))
  const out: Record<string, { cpu: number, memoryMB: number, gpu: number, overCapacity: boolean }> = {}
  for (const p of peers) {
    const mine = ran.filter(r => r.peer === p.name)
    // Ends before starts at the same instant: a slot freed and refilled is not overlap.
    const edges = mine.flatMap(r => [{ at: r.startMs, sign: 1, t: byName.get(r.task)! }, { at: r.endMs, sign: -1, t: byName.get(r.task)! }]).sort((a, b) => a.at - b.at || a.sign - b.sign)
    const use = { cpu: 0, memoryMB: 0, gpu: 0 }
    const peak = { cpu: 0, memoryMB: 0, gpu: 0 }
    for (const e of edges) {
      use.cpu += e.sign * e.t.cpu
      use.memoryMB += e.sign * e.t.memoryMB
      use.gpu += e.sign * e.t.gpu
      peak.cpu = Math.max(peak.cpu, use.cpu)
      peak.memoryMB = Math.max(peak.memoryMB, use.memoryMB)
      peak.gpu = Math.max(peak.gpu, use.gpu)
    }
    out[p.name] = { ...peak, overCapacity: peak.cpu > p.cpu || peak.memoryMB > p.memoryMB || peak.gpu > p.gpu }
  }
  return out
}

async function runOnce (ctx: WorkloadContext, queues: QueuePlan[], prefix: string, unitMs: number): Promise<{ makespanMs: number, ran: Ran[] }> {
  const queueOf = new Map(queues.flatMap(q => q.tasks.map(t => [t.name, q.name] as const)))
  const handles = new Map(queues.map(q => [q.name, new Queue(`${prefix}${q.name}`, { connection: ctx.connection })]))
  const events = queues.map(q => new QueueEvents(`${prefix}${q.name}`, { connection: ctx.connection }))
  try {
    await Promise.all([...[...handles.values()].map(async q => { await q.waitUntilReady() }), ...events.map(async e => { await e.waitUntilReady() })])
    const done = new Set<string>()
    const added = new Set<string>()
    const failures: string[] = []
    const add = async (t: PlacementTask): Promise<void> => {
      added.add(t.name)
      await handles.get(queueOf.get(t.name)!)!.add(t.name, { ms: t.units * unitMs }, { jobId: t.name })
    }
    const addReady = async (): Promise<void> => {
      const ready = PLACEMENT_TASKS.filter(t => !added.has(t.name) && t.after.every(a => done.has(a)))
      await Promise.all(ready.map(add))
    }
    for (const e of events) {
      e.on('completed', ({ jobId }) => { done.add(jobId); addReady().catch(err => { failures.push(String(err)) }) })
      e.on('failed', ({ jobId, failedReason }) => { failures.push(`${jobId}: ${failedReason}`) })
    }
    const t0 = Date.now()
    await addReady()
    await poll(async () => {
      if (failures.length > 0) throw new Error(`placement: ${failures.join('; ')}`)
      return done.size === PLACEMENT_TASKS.length
    }, 10 * 60_000, 20)
    const ran: Ran[] = []
    let last = 0
    for (const t of PLACEMENT_TASKS) {
      const job = await handles.get(queueOf.get(t.name)!)!.getJob(t.name)
      const r = job?.returnvalue as { peer: string, start: number, end: number } | undefined
      if (job === undefined || r === undefined) throw new Error(`placement: no result for ${t.name}`)
      last = Math.max(last, job.finishedOn ?? NaN)
      ran.push({ task: t.name, peer: r.peer, startMs: r.start - t0, endMs: r.end - t0 })
    }
    return { makespanMs: last - t0, ran }
  } finally {
    await Promise.allSettled(events.map(async e => { await e.close() }))
    await Promise.allSettled([...handles.values()].map(async q => { await q.obliterate({ force: true }); await q.close() }))
  }
}

export async function placementWorkload (ctx: WorkloadContext): Promise<Record<string, unknown>> {
  const unitMs = ctx.quick ? 250 : 1000
  const runs = ctx.quick ? 1 : 3
  const queues = planQueues()
  const bound = placementLowerBound()
  const out: Record<string, unknown> = {}
  for (const sizing of ['perQueue', 'partitioned'] as const) {
    const prefix = `placement-${sizing}-`
    const configs: WorkerConfig[] = PLACEMENT_PEERS.map(p => ({ port: ctx.port, peer: p.name, consumers: consumersOf(p, queues, sizing, prefix) }))
    const workers = await startWorkers(configs)
    try {
      const results = []
      for (let i = 0; i < runs; i++) {
        const r = await runOnce(ctx, queues, prefix, unitMs)
        const peak = peakUse(r.ran)
        const over = Object.entries(peak).filter(([, p]) => p.overCapacity).map(([name]) => name)
        ctx.log(`placement ${sizing} run ${i + 1}: makespan ${(r.makespanMs / 1000).toFixed(2)} s (lower bound ${(bound.units * unitMs / 1000).toFixed(1)} s); over capacity: ${over.join(', ') || 'none'}`)
        results.push({ makespanMs: r.makespanMs, overCapacity: over, peakUse: peak, ran: r.ran })
      }
      const makespans = results.map(r => r.makespanMs)
      out[sizing] = {
        workers: Object.fromEntries(configs.map(c => [c.peer, c.consumers.map(k => ({ queue: k.queue.slice(prefix.length), concurrency: k.concurrency }))])),
        makespanMs: { mean: Math.round(makespans.reduce((s, x) => s + x, 0) / runs), min: Math.min(...makespans), max: Math.max(...makespans), runs: makespans },
        makespanOverLowerBound: Math.round(makespans.reduce((s, x) => s + x, 0) / runs / (bound.units * unitMs) * 1000) / 1000,
        workerRssMB: workersRssMB(workers),
        runs: results
      }
    } finally {
      await killWorkers(workers)
    }
  }
  return {
    unitMs,
    runsPerSizing: runs,
    lowerBound: { units: bound.units, ms: bound.units * unitMs },
    queues: queues.map(q => ({ name: q.name, peers: q.peers, tasks: q.tasks.map(t => t.name) })),
    settings: BULLMQ_DEFAULTS,
    ...out,
    how: `the 34-task instance of bench/placement-workload.ts, sleeping units × ${unitMs} ms, on ${PLACEMENT_PEERS.length} worker processes (one per peer). One queue per set of peers a task fits on (cpu, memory, gpu), consumed only by those peers; FIFO, no priorities. The submitter adds roots at once and each other task when QueueEvents has reported all its dependencies completed. makespan = Date.now() before the first add → the last job's finishedOn; ran = each task's peer and its handler's start/end (ms after the first add); peakUse = the most cpu/memoryMB/gpu a peer had in use at once, from those stamps, against its declared capacity. perQueue: each Worker sized to its peer's capacity for that queue alone (general queue: concurrency = cpu); partitioned: a static split that can never exceed a peer's capacity. Mean over ${runs} run(s)`
  }
}
