/**
 * The placement problem a central planner solves (issue 5, `mesh plan`): peers
 * with capacities and speeds, tasks with demands, work and a DAG. Every planner
 * here (the MIP optimum, list scheduling, the baselines) reads it through
 * `indexProblem`, which checks it once and precomputes what they all need.
 *
 * Times are in ms. A task's work is given at speed 1.0 (as `estimateMs` is), so
 * it takes `workMs / speed` on a peer. Amounts are compared as integer
 * milli-units (`toUnits`), so fractional cores never drift.
 */
import type { Resources } from '../../protocols/resources.ts'
import { fitsIn, toUnits, type Units } from '../resources/ledger.ts'

export interface PlanPeer {
  id: string
  capacity: Resources
  /** Speed score (1.0 = the reference machine). @default 1 */
  speed?: number
}

export interface PlanTask {
  id: string
  demand: Resources
  /** Work in ms at speed 1.0. */
  workMs: number
  /** Ids of the tasks that must finish before this one starts. */
  after: string[]
  /**
   * The peers able to run it for reasons other than capacity (handlers, tags,
   * allowed programs). Absent: every peer; either way a peer must also hold the
   * demand in its capacity.
   */
  peers?: string[]
}

export interface PlanProblem { peers: PlanPeer[], tasks: PlanTask[] }

/** One task placed: where, and when (ms from the start). */
export interface Placement { task: string, peer: string, startMs: number, endMs: number }

export interface Schedule { placements: Placement[], makespanMs: number }

/** A task no peer can run, and why. */
export interface Unplaceable { task: string, reason: string }

export class PlanError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`bad placement problem: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` … and ${problems.length - 10} more` : ''}`)
    this.name = 'PlanError'
    this.problems = problems
  }
}

/** The problem by index: what every planner needs, computed once. */
export interface IndexedProblem {
  problem: PlanProblem
  peerIndex: Map<string, number>
  taskIndex: Map<string, number>
  demand: Units[]
  capacity: Units[]
  /** Resource keys any task demands (`cpu`, `memoryMB`, `gpu`, `custom:…`). */
  keys: string[]
  /** duration[t][k]: ms task t takes on peer k (Infinity where it cannot run). */
  duration: number[][]
  /** Peers able to run task t, ascending. */
  eligible: number[][]
  preds: number[][]
  succs: number[][]
  /** Task indices, each after all its predecessors. */
  order: number[]
  /** Tasks no peer can run. */
  unplaceable: Unplaceable[]
}

/**
 * Check the problem (unique ids, known dependencies, no cycle, sane numbers)
 * and index it. Throws `PlanError` listing every structural problem; tasks no
 * peer can run are not an error here but are listed in `unplaceable`.
 */
export function indexProblem (problem: PlanProblem): IndexedProblem {
  const errors: string[] = []
  const peerIndex = new Map<string, number>()
  problem.peers.forEach((p, k) => {
    if (peerIndex.has(p.id)) errors.push(`peer "${p.id}" listed twice`)
    peerIndex.set(p.id, k)
    if (!(p.speed === undefined || (Number.isFinite(p.speed) && p.speed > 0))) errors.push(`peer "${p.id}": speed must be > 0`)
  })
  const taskIndex = new Map<string, number>()
  problem.tasks.forEach((t, i) => {
    if (taskIndex.has(t.id)) errors.push(`task "${t.id}" listed twice`)
    taskIndex.set(t.id, i)
    if (!(Number.isFinite(t.workMs) && t.workMs > 0)) errors.push(`task "${t.id}": workMs must be > 0`)
  })
  const preds = problem.tasks.map(t => [...new Set(t.after)].flatMap(a => {
    const u = taskIndex.get(a)
    if (u === undefined) { errors.push(`task "${t.id}" waits for unknown task "${a}"`); return [] }
    if (a === t.id) { errors.push(`task "${t.id}" waits for itself`); return [] }
    return [u]
  }))
  const succs: number[][] = problem.tasks.map(() => [])
  preds.forEach((ps, t) => { for (const u of ps) succs[u]!.push(t) })
  const order = topological(preds, succs)
  if (order.length < problem.tasks.length) {
    const sorted = new Set(order)
    const stuck = problem.tasks.filter((_, i) => !sorted.has(i)).map(t => t.id)
    errors.push(`dependency cycle among ${stuck.slice(0, 8).join(', ')}${stuck.length > 8 ? ', …' : ''}`)
  }
  if (errors.length > 0) throw new PlanError(errors)

  const demand = problem.tasks.map(t => toUnits(t.demand))
  const capacity = problem.peers.map(p => toUnits(p.capacity))
  const keys = [...new Set(demand.flatMap(d => [...d].filter(([, v]) => v > 0).map(([k]) => k)))]
  const unplaceable: Unplaceable[] = []
  const eligible = problem.tasks.map((t, i) => {
    const allowed = t.peers === undefined ? undefined : new Set(t.peers)
    const ks = problem.peers.flatMap((p, k) => (allowed === undefined || allowed.has(p.id)) && fitsIn(demand[i]!, capacity[k]!) ? [k] : [])
    if (ks.length === 0) unplaceable.push({ task: t.id, reason: whyUnplaceable(problem, t, demand[i]!, capacity, allowed) })
    return ks
  })
  const duration = problem.tasks.map((t, i) => {
    const row = problem.peers.map(() => Infinity)
    for (const k of eligible[i]!) row[k] = t.workMs / (problem.peers[k]!.speed ?? 1)
    return row
  })
  return { problem, peerIndex, taskIndex, demand, capacity, keys, duration, eligible, preds, succs, order, unplaceable }
}

function whyUnplaceable (problem: PlanProblem, t: PlanTask, demand: Units, capacity: Units[], allowed: Set<string> | undefined): string {
  if (problem.peers.length === 0) return 'no peers'
  const candidates = problem.peers.flatMap((p, k) => allowed === undefined || allowed.has(p.id) ? [k] : [])
  if (candidates.length === 0) return 'no peer is able to run it (handler, program or tags)'
  // The resource that no capable peer has enough of, named as the user wrote it.
  for (const [key, need] of demand) {
    if (need > 0 && candidates.every(k => (capacity[k]!.get(key) ?? 0) < need)) {
      const name = key.startsWith('custom:') ? key.slice(7) : key
      return `no capable peer offers ${name} ≥ ${need / 1000}`
    }
  }
  return 'no capable peer holds its whole demand at once'
}

/** Kahn's algorithm, first-in first-out from problem order. Tasks on a cycle are left out. */
function topological (preds: number[][], succs: number[][]): number[] {
  const waiting = preds.map(p => p.length)
  const order = waiting.flatMap((w, i) => w === 0 ? [i] : [])
  for (let i = 0; i < order.length; i++) {
    for (const s of succs[order[i]!]!) if (--waiting[s]! === 0) order.push(s)
  }
  return order
}

/** Refuse to schedule a problem with tasks no peer can run. */
export function assertPlaceable (ix: IndexedProblem): void {
  if (ix.unplaceable.length > 0) throw new PlanError(ix.unplaceable.map(u => `task "${u.task}" cannot run anywhere: ${u.reason}`))
}

/** The largest finish time over a schedule's placements (0 when empty). */
export function makespanOf (placements: Placement[]): number {
  return placements.reduce((m, p) => Math.max(m, p.endMs), 0)
}
