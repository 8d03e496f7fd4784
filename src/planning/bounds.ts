/**
 * The lower bound on makespan (issue 5): no schedule finishes sooner than
 *  - for each resource, the total work (demand × the task's shortest duration on
 *    any peer able to run it) ÷ the mesh's total capacity of it, and
 *  - the longest chain of the DAG, each task at its shortest duration.
 * Cheap, and valid for every schedule; tasks no peer can run are left out.
 */
import { indexProblem, type IndexedProblem, type PlanProblem } from './problem.ts'

export interface LowerBound {
  ms: number
  /** Per resource (`cpu`, `memoryMB`, `gpu`, custom names): total work ÷ total capacity, ms. */
  byWork: Record<string, number>
  chainMs: number
  /** The longest chain, first task first. */
  chain: string[]
}

export function lowerBound (problem: PlanProblem | IndexedProblem): LowerBound {
  const ix = 'order' in problem ? problem : indexProblem(problem)
  const shortest = ix.duration.map(row => Math.min(...row))
  const byWork: Record<string, number> = {}
  for (const key of ix.keys) {
    const total = ix.capacity.reduce((s, c) => s + (c.get(key) ?? 0), 0)
    let work = 0
    ix.demand.forEach((d, t) => { if (Number.isFinite(shortest[t]!)) work += (d.get(key) ?? 0) * shortest[t]! })
    if (work > 0) byWork[key.startsWith('custom:') ? key.slice(7) : key] = total === 0 ? Infinity : work / total
  }
  const { head } = chainTimes(ix, t => Number.isFinite(shortest[t]!) ? shortest[t]! : 0)
  let last = -1
  let chainMs = 0
  ix.order.forEach(t => {
    const end = head[t]! + (Number.isFinite(shortest[t]!) ? shortest[t]! : 0)
    if (end > chainMs) { chainMs = end; last = t }
  })
  const chain: string[] = []
  for (let t = last; t >= 0;) {
    chain.unshift(ix.problem.tasks[t]!.id)
    // The predecessor that sets this task's earliest start.
    t = ix.preds[t]!.find(u => head[u]! + (Number.isFinite(shortest[u]!) ? shortest[u]! : 0) === head[t]!) ?? -1
  }
  return { ms: Math.max(chainMs, ...Object.values(byWork)), byWork, chainMs, chain }
}

/**
 * For durations `dur(t)`: `head[t]`, the earliest task t can start (its longest
 * chain of predecessors), and `tail[t]`, the least time the schedule runs on
 * after t ends (its longest chain of successors).
 */
export function chainTimes (ix: IndexedProblem, dur: (t: number) => number): { head: number[], tail: number[] } {
  const head = ix.problem.tasks.map(() => 0)
  const tail = ix.problem.tasks.map(() => 0)
  for (const t of ix.order) for (const u of ix.preds[t]!) head[t] = Math.max(head[t]!, head[u]! + dur(u))
  for (let i = ix.order.length - 1; i >= 0; i--) {
    const t = ix.order[i]!
    for (const s of ix.succs[t]!) tail[t] = Math.max(tail[t]!, dur(s) + tail[s]!)
  }
  return { head, tail }
}
