/**
 * An independent check of a schedule: whatever produced it (the MIP, list
 * scheduling, a test), it is valid only if every task runs once, on a peer able
 * to run it, for its duration there, after everything it waits for, and no peer
 * ever holds more than its capacity of any resource.
 */
import { fitsIn, type Units } from '../resources/ledger.ts'
import { indexProblem, type IndexedProblem, type PlanProblem, type Schedule } from './problem.ts'

/** Rounding slack on times (ms): durations are `workMs / speed`, sums of them are floats. */
const EPS = 1e-6

/** Every way `schedule` breaks the rules of `problem`; empty when it is valid. */
export function checkSchedule (problem: PlanProblem | IndexedProblem, schedule: Schedule): string[] {
  const ix = 'order' in problem ? problem : indexProblem(problem)
  const out: string[] = []
  const placed = new Map<number, { k: number, start: number, end: number }>()
  for (const p of schedule.placements) {
    const t = ix.taskIndex.get(p.task)
    const k = ix.peerIndex.get(p.peer)
    if (t === undefined) { out.push(`unknown task "${p.task}"`); continue }
    if (k === undefined) { out.push(`${p.task}: unknown peer "${p.peer}"`); continue }
    if (placed.has(t)) { out.push(`${p.task}: placed more than once`); continue }
    placed.set(t, { k, start: p.startMs, end: p.endMs })
    if (!ix.eligible[t]!.includes(k)) out.push(`${p.task}: peer ${p.peer} cannot run it`)
    if (!(p.startMs >= -EPS)) out.push(`${p.task}: starts before 0 (${p.startMs})`)
    const want = ix.duration[t]![k]!
    if (Number.isFinite(want) && Math.abs(p.endMs - p.startMs - want) > EPS * Math.max(1, want)) {
      out.push(`${p.task}: runs ${p.endMs - p.startMs} ms on ${p.peer}, needs ${want} ms`)
    }
  }
  ix.problem.tasks.forEach((task, t) => { if (!placed.has(t)) out.push(`${task.id}: not placed`) })

  for (const [t, at] of placed) {
    for (const u of ix.preds[t]!) {
      const up = placed.get(u)
      if (up !== undefined && at.start < up.end - EPS) {
        out.push(`${ix.problem.tasks[t]!.id}: starts at ${at.start} before ${ix.problem.tasks[u]!.id} ends at ${up.end}`)
      }
    }
  }

  // Capacity: the load on a peer changes only when a task starts, so checking at every start suffices.
  const byPeer = new Map<number, number[]>()
  for (const [t, at] of placed) byPeer.set(at.k, [...(byPeer.get(at.k) ?? []), t])
  for (const [k, tasks] of byPeer) {
    for (const t of tasks) {
      const s = placed.get(t)!.start
      const load: Units = new Map()
      for (const o of tasks) {
        const at = placed.get(o)!
        if (at.start <= s + EPS && s < at.end - EPS) for (const [key, v] of ix.demand[o]!) load.set(key, (load.get(key) ?? 0) + v)
      }
      if (!fitsIn(load, ix.capacity[k]!)) {
        const over = [...load].filter(([key, v]) => v > (ix.capacity[k]!.get(key) ?? 0)).map(([key, v]) => `${key} ${v / 1000} > ${(ix.capacity[k]!.get(key) ?? 0) / 1000}`)
        out.push(`peer ${ix.problem.peers[k]!.id} at ${s} ms: over capacity (${over.join(', ')})`)
      }
    }
  }

  const end = schedule.placements.reduce((m, p) => Math.max(m, p.endMs), 0)
  if (Math.abs(end - schedule.makespanMs) > EPS * Math.max(1, end)) out.push(`makespan says ${schedule.makespanMs} ms, the last task ends at ${end} ms`)
  return [...new Set(out)]
}
