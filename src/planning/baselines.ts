/**
 * The placements a user gets without a planner: round-robin and random over
 * the peers able to run each task. Both give an assignment only; the schedule
 * (and so the makespan) comes from `simulatePlacement`.
 */
import { assertPlaceable, indexProblem, type IndexedProblem, type PlanProblem } from './problem.ts'

/**
 * Tasks in problem order, each to the next peer in the rotation that is able
 * to run it (peers unable to are skipped, the rotation moves on past the one chosen).
 */
export function roundRobinAssignment (problem: PlanProblem | IndexedProblem): Map<string, string> {
  const ix = 'order' in problem ? problem : indexProblem(problem)
  assertPlaceable(ix)
  const n = ix.problem.peers.length
  const out = new Map<string, string>()
  let next = 0
  ix.problem.tasks.forEach((task, t) => {
    const able = new Set(ix.eligible[t])
    let k = next
    while (!able.has(k % n)) k++
    out.set(task.id, ix.problem.peers[k % n]!.id)
    next = (k + 1) % n
  })
  return out
}

/** Each task to a peer drawn uniformly among those able to run it, from a seeded generator. */
export function randomAssignment (problem: PlanProblem | IndexedProblem, seed: number): Map<string, string> {
  const ix = 'order' in problem ? problem : indexProblem(problem)
  assertPlaceable(ix)
  const random = mulberry32(seed)
  const out = new Map<string, string>()
  ix.problem.tasks.forEach((task, t) => {
    const able = ix.eligible[t]!
    out.set(task.id, ix.problem.peers[able[Math.floor(random() * able.length)]!]!.id)
  })
  return out
}

/** A small seeded generator (mulberry32): values in [0, 1), the same for the same seed everywhere. */
export function mulberry32 (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6D2B79F5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}
