/**
 * A lower bound on the makespan of a simulated instance: no placement, however
 * clever and however well informed, finishes the jobs sooner. It is the larger of
 *
 *  - area: tasks that only some peers can run (a GPU, a licence, a site tag, a
 *    large memory demand) must fit on those peers. For every such set of peers E
 *    and every resource r: Σ demand_r × work over the tasks that only E can run,
 *    ÷ Σ capacity_r × speed over E. Work is in ms at speed 1.0, so a task takes
 *    work ÷ speed on a peer and holds its demand that long.
 *  - chain: for every job, its arrival after the first job plus its longest
 *    chain of stages (every instance of a stage waits for every instance
 *    upstream), each instance at the fastest peer able to run it.
 *
 * Bids, rounds and message delays are not in it: it is what a central planner
 * with perfect knowledge could not beat, not what it would reach.
 */
import type { Resources } from '../../protocols/resources.ts'
import { taskIdOf, workMs, type JobPlan } from './workload.ts'

export interface BoundPeer { id: string, capacity: Resources, tags: string[], speed: number }

export interface MakespanBound {
  ms: number
  areaMs: number
  chainMs: number
  /** What sets the bound: "area cpu on 80 peers", "chain j3-tree". */
  binding: string
}

interface Demand { cpu: number, memoryMB: number, gpu: number, custom: Record<string, number> }

function canRun (p: BoundPeer, d: Demand, tags: string[]): boolean {
  if (d.cpu > p.capacity.cpu || d.memoryMB > p.capacity.memoryMB || d.gpu > p.capacity.gpu) return false
  for (const [k, v] of Object.entries(d.custom)) if (v > (p.capacity.custom[k] ?? 0)) return false
  return tags.every(t => p.tags.includes(t))
}

/** Resource amounts as [name, value] pairs, custom resources included. */
function amounts (r: Demand): Array<[string, number]> {
  return [['cpu', r.cpu], ['memoryMB', r.memoryMB], ['gpu', r.gpu], ...Object.entries(r.custom)]
}

export function makespanBound (seed: number, plans: JobPlan[], peers: BoundPeer[]): MakespanBound {
  // Tasks grouped by the set of peers able to run them (a handful of distinct sets).
  const groups = new Map<string, { eligible: Set<number>, area: Map<string, number> }>()
  let chainMs = 0
  let chainJob = ''
  const firstAt = Math.min(...plans.map(p => p.submitAt))
  for (const plan of plans) {
    const finish = new Map<string, number>()
    for (const [name, spec] of Object.entries(plan.spec.tasks)) {
      const task = plan.tasks.get(name)
      if (task === undefined) continue
      const d = spec.resources
      const eligible = peers.flatMap((p, i) => canRun(p, d, spec.tags) ? [i] : [])
      const key = eligible.join(',')
      let g = groups.get(key)
      if (g === undefined) groups.set(key, g = { eligible: new Set(eligible), area: new Map() })
      const fastest = Math.max(...eligible.map(i => peers[i]!.speed), 0)
      let longest = 0
      for (let i = 0; i < (task.count ?? 1); i++) {
        const w = workMs(seed, plan.name, task, taskIdOf(name, i, task.count))
        for (const [r, v] of amounts(d)) if (v > 0) g.area.set(r, (g.area.get(r) ?? 0) + v * w)
        longest = Math.max(longest, fastest > 0 ? w / fastest : Infinity)
      }
      finish.set(name, longest)
    }
    // Stage finish times in dependency order: a stage starts after its slowest upstream.
    const done = new Map<string, number>()
    const at = (name: string): number => {
      const known = done.get(name)
      if (known !== undefined) return known
      const start = Math.max(0, ...plan.spec.tasks[name]!.after.map(at))
      const end = start + (finish.get(name) ?? 0)
      done.set(name, end)
      return end
    }
    for (const name of Object.keys(plan.spec.tasks)) {
      const c = plan.submitAt - firstAt + at(name)
      if (c > chainMs) { chainMs = c; chainJob = plan.name }
    }
  }
  // Area: for each eligible set E, every task whose own set lies within E must run on E.
  let areaMs = 0
  let areaWhy = ''
  let areaPeers = Infinity
  const list = [...groups.values()]
  for (const e of list) {
    const need = new Map<string, number>()
    for (const g of list) {
      if (![...g.eligible].every(i => e.eligible.has(i))) continue
      for (const [r, v] of g.area) need.set(r, (need.get(r) ?? 0) + v)
    }
    for (const [r, v] of need) {
      let rate = 0
      let having = 0
      for (const i of e.eligible) {
        const p = peers[i]!
        const cap = r === 'cpu' ? p.capacity.cpu : r === 'memoryMB' ? p.capacity.memoryMB : r === 'gpu' ? p.capacity.gpu : (p.capacity.custom[r] ?? 0)
        rate += cap * p.speed
        if (cap > 0) having++
      }
      const ms = rate > 0 ? v / rate : Infinity
      // On a tie, name the smallest set of peers: the one that really binds.
      if (ms > areaMs * (1 + 1e-9) || (ms >= areaMs * (1 - 1e-9) && e.eligible.size < areaPeers)) {
        areaMs = ms
        areaPeers = e.eligible.size
        areaWhy = `area: ${r} of the tasks only ${e.eligible.size} peers can run, on the ${having} of them that have ${r}`
      }
    }
  }
  const ms = Math.max(areaMs, chainMs)
  return {
    ms: Math.round(ms),
    areaMs: Math.round(areaMs),
    chainMs: Math.round(chainMs),
    binding: areaMs >= chainMs ? areaWhy : `chain: job ${chainJob} (arrival + longest chain of stages at the fastest able peer)`
  }
}
