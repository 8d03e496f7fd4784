/**
 * Schedules built by rules rather than by search:
 *  - `simulatePlacement`: what a fixed task → peer assignment gives when every
 *    peer starts its tasks in queue order as soon as they are ready and fit
 *    (the round-robin and random baselines);
 *  - `serialSchedule`: tasks placed one by one, each at the earliest time its
 *    peer has room for its whole run (it may fill a gap before tasks already
 *    placed) — used to compact the MIP's schedule and for `greedyPlan`;
 *  - `greedyPlan`: critical path first, each task on the peer where it would
 *    finish soonest; a quick upper bound (the MIP's horizon and first incumbent).
 */
import { fitsIn, type Units } from '../resources/ledger.ts'
import { chainTimes } from './bounds.ts'
import { mulberry32 } from './baselines.ts'
import { assertPlaceable, indexProblem, makespanOf, PlanError, type IndexedProblem, type PlanProblem, type Schedule } from './problem.ts'

const EPS = 1e-9

/**
 * List scheduling of a fixed assignment (task id → peer id). Each peer keeps
 * its tasks in problem order; whenever time moves (a task ends), it starts,
 * in that order, every task whose predecessors are done and whose demand fits
 * in what it has free. A task that cannot start yet does not hold back the
 * ones behind it, as the executor starts queued work that fits.
 */
export function simulatePlacement (problem: PlanProblem | IndexedProblem, assignment: ReadonlyMap<string, string> | Readonly<Record<string, string>>): Schedule {
  const ix = 'order' in problem ? problem : indexProblem(problem)
  const lookup = (id: string): string | undefined => assignment instanceof Map ? assignment.get(id) : (assignment as Record<string, string>)[id]
  const errors: string[] = []
  const peerOf = ix.problem.tasks.map((task, t) => {
    const id = lookup(task.id)
    const k = id === undefined ? undefined : ix.peerIndex.get(id)
    if (k === undefined) errors.push(`task "${task.id}" is ${id === undefined ? 'not assigned' : `assigned to unknown peer "${id}"`}`)
    else if (!ix.eligible[t]!.includes(k)) errors.push(`task "${task.id}" is assigned to ${id}, which cannot run it`)
    return k ?? -1
  })
  if (errors.length > 0) throw new PlanError(errors)

  const queues = ix.problem.peers.map((_, k) => peerOf.flatMap((p, t) => p === k ? [t] : []))
  const free: Units[] = ix.capacity.map(c => new Map(c))
  const waiting = ix.preds.map(p => p.length)
  const started = new Array<boolean>(peerOf.length).fill(false)
  const running: Array<{ t: number, end: number }> = []
  const placements: Schedule['placements'] = []
  let now = 0
  let done = 0
  while (done < peerOf.length) {
    queues.forEach((queue, k) => {
      for (const t of queue) {
        if (started[t]! || waiting[t]! > 0 || !fitsIn(ix.demand[t]!, free[k]!)) continue
        started[t] = true
        take(free[k]!, ix.demand[t]!, -1)
        const end = now + ix.duration[t]![k]!
        running.push({ t, end })
        placements.push({ task: ix.problem.tasks[t]!.id, peer: ix.problem.peers[k]!.id, startMs: now, endMs: end })
      }
    })
    if (running.length === 0) throw new PlanError(['no task can start (a task needs more than its peer has)'])
    now = Math.min(...running.map(r => r.end))
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i]!
      if (r.end > now + EPS) continue
      running.splice(i, 1)
      take(free[peerOf[r.t]!]!, ix.demand[r.t]!, 1)
      for (const s of ix.succs[r.t]!) waiting[s]!--
      done++
    }
  }
  return { placements, makespanMs: makespanOf(placements) }
}

function take (free: Units, demand: Units, sign: 1 | -1): void {
  for (const [k, v] of demand) free.set(k, (free.get(k) ?? 0) + sign * v)
}

/** A run already on a peer's timeline. */
interface Interval { start: number, end: number, demand: Units }

/** Earliest start ≥ `ready` at which `demand` fits on `timeline` for all of [start, start + dur). */
function earliestFit (timeline: Interval[], capacity: Units, demand: Units, ready: number, dur: number): number {
  const candidates = [ready, ...timeline.map(i => i.end).filter(e => e > ready)].sort((a, b) => a - b)
  for (const s of candidates) {
    // The load only rises where a run starts: check at s and at every start inside the window.
    const points = [s, ...timeline.map(i => i.start).filter(x => x > s && x < s + dur - EPS)]
    const fits = points.every(x => {
      const load: Units = new Map(demand)
      for (const i of timeline) if (i.start <= x + EPS && x < i.end - EPS) take(load, i.demand, 1)
      return fitsIn(load, capacity)
    })
    if (fits) return s
  }
  // Unreachable for a task that fits its peer at all: after the last end the peer is empty.
  return Math.max(ready, ...timeline.map(i => i.end))
}

/**
 * Place `sequence` (task, peer) one by one, each at the earliest time its
 * predecessors are done and its peer has room for its whole run. Every
 * predecessor must come earlier in the sequence. Given the tasks of a valid
 * schedule in order of their start, no task starts later than it did there.
 */
export function serialSchedule (ix: IndexedProblem, sequence: Array<{ t: number, k: number }>, dur: (t: number, k: number) => number = (t, k) => ix.duration[t]![k]!): { start: number[], end: number[], peer: number[] } {
  const timelines: Interval[][] = ix.problem.peers.map(() => [])
  const start = ix.problem.tasks.map(() => NaN)
  const end = ix.problem.tasks.map(() => NaN)
  const peer = ix.problem.tasks.map(() => -1)
  for (const { t, k } of sequence) {
    const ready = Math.max(0, ...ix.preds[t]!.map(u => end[u]!))
    if (Number.isNaN(ready)) throw new PlanError([`task "${ix.problem.tasks[t]!.id}" is placed before a task it waits for`])
    const d = dur(t, k)
    const s = earliestFit(timelines[k]!, ix.capacity[k]!, ix.demand[t]!, ready, d)
    timelines[k]!.push({ start: s, end: s + d, demand: ix.demand[t]! })
    start[t] = s
    end[t] = s + d
    peer[t] = k
  }
  return { start, end, peer }
}

/**
 * A good schedule, fast: among ready tasks, the one with the highest priority
 * first (by default the longest chain still ahead of it); each on the peer
 * where it would finish soonest.
 */
export function greedyPlan (ix: IndexedProblem, dur: (t: number, k: number) => number = (t, k) => ix.duration[t]![k]!, priority?: (t: number) => number): { start: number[], end: number[], peer: number[] } {
  assertPlaceable(ix)
  const short = ix.eligible.map((ks, t) => Math.min(...ks.map(k => dur(t, k))))
  const { tail } = chainTimes(ix, t => short[t]!)
  const rank = ix.problem.tasks.map((_, t) => priority?.(t) ?? tail[t]! + short[t]!)
  const timelines: Interval[][] = ix.problem.peers.map(() => [])
  const start = ix.problem.tasks.map(() => NaN)
  const end = ix.problem.tasks.map(() => NaN)
  const peer = ix.problem.tasks.map(() => -1)
  const waiting = ix.preds.map(p => p.length)
  const ready = waiting.flatMap((w, t) => w === 0 ? [t] : [])
  while (ready.length > 0) {
    // Highest priority first; ties in problem order.
    let pick = 0
    for (let i = 1; i < ready.length; i++) {
      const a = ready[i]!
      const b = ready[pick]!
      if (rank[a]! > rank[b]! + EPS || (Math.abs(rank[a]! - rank[b]!) <= EPS && a < b)) pick = i
    }
    const t = ready.splice(pick, 1)[0]!
    const at = Math.max(0, ...ix.preds[t]!.map(u => end[u]!))
    let best: { k: number, s: number, e: number } | undefined
    for (const k of ix.eligible[t]!) {
      const d = dur(t, k)
      const s = earliestFit(timelines[k]!, ix.capacity[k]!, ix.demand[t]!, at, d)
      if (best === undefined || s + d < best.e - EPS) best = { k, s, e: s + d }
    }
    timelines[best!.k]!.push({ start: best!.s, end: best!.e, demand: ix.demand[t]! })
    start[t] = best!.s
    end[t] = best!.e
    peer[t] = best!.k
    for (const s of ix.succs[t]!) if (--waiting[s]! === 0) ready.push(s)
  }
  return { start, end, peer }
}

/**
 * The best of several `greedyPlan` runs: the critical-path rule, the
 * fewest-capable-peers-first rule, then priorities perturbed by a seeded
 * generator. Each run costs about n² steps, so big problems get fewer runs.
 */
export function bestGreedyPlan (ix: IndexedProblem, dur: (t: number, k: number) => number = (t, k) => ix.duration[t]![k]!, seed = 1): { start: number[], end: number[], peer: number[] } {
  assertPlaceable(ix)
  const n = Math.max(1, ix.problem.tasks.length)
  const runs = Math.max(2, Math.min(64, Math.floor(1_000_000 / (n * n))))
  const short = ix.eligible.map((ks, t) => Math.min(...ks.map(k => dur(t, k))))
  const { tail } = chainTimes(ix, t => short[t]!)
  const chain = (t: number): number => tail[t]! + short[t]!
  const random = mulberry32(seed)
  let best = greedyPlan(ix, dur)
  const makespan = (r: { end: number[] }): number => Math.max(0, ...r.end)
  for (let i = 1; i < runs; i++) {
    const noise = ix.problem.tasks.map(() => random())
    const rule = i === 1
      ? (t: number) => chain(t) + 1e6 * (ix.problem.peers.length - ix.eligible[t]!.length)
      : (t: number) => chain(t) * (0.5 + noise[t]!) + (i % 2 === 0 ? 0 : short[t]! * noise[t]! * (ix.problem.peers.length - ix.eligible[t]!.length))
    const r = greedyPlan(ix, dur, rule)
    if (makespan(r) < makespan(best) - EPS) best = r
  }
  return best
}

/** A `Schedule` from per-task arrays (times already in ms). */
export function toSchedule (ix: IndexedProblem, r: { start: number[], end: number[], peer: number[] }): Schedule {
  const placements = ix.problem.tasks.map((task, t) => ({ task: task.id, peer: ix.problem.peers[r.peer[t]!]!.id, startMs: r.start[t]!, endMs: r.end[t]! }))
  return { placements, makespanMs: makespanOf(placements) }
}
