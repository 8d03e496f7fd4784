/**
 * The bidder: which open tasks this peer bids for, and with what ETA
 * (docs/ARCHITECTURE.md §5). A pipeline, read top to bottom:
 *
 *   capable      drop tasks this peer can never run (the reason is kept)
 *   now          LP over free capacity: tasks that would start at once
 *   queue        LP over the bounded queue room: tasks that would wait, their wait in the ETA
 *
 * Each LP maximizes Σ (w_t − λ·eta_t)·x_t under the capacity left, and the peer
 * bids for tasks with x_t ≥ ½ that still fit when rounded. Pure: the caller
 * places the holds for the bids returned.
 */
import type { OpenTask } from '../../protocols/auction.ts'
import { fitCount, fitsIn, toUnits, type Units } from '../resources/ledger.ts'
import { whyNot, type PeerAbility } from './feasibility.ts'
import type { LpSolver } from './lp.ts'

export interface BidderView {
  self: PeerAbility
  /** Calibrated speed score (1.0 = reference machine). */
  speed: number
  freeNow: Units
  queueRoom: Units
  /**
   * Expected wait (ms) before queued work starts: time until running work frees
   * capacity. Undefined before this peer has finished anything: then each task
   * is assumed to wait about its own duration (it queues behind work like it).
   */
  queueWaitMs: number | undefined
  /** Time for what is already queued here to drain (ms): a newly queued task waits behind it. */
  queueAheadMs?: number
  /** As `queueAheadMs`, for a task of this rank: queued work of lower rank starts after it. */
  queueAheadFor?: (rankMs: number) => number
  /**
   * What this peer must do before the task can start, in ms: fetch the
   * artifacts it lacks (bytes ÷ its measured throughput), load a model that
   * is not warm here. Absent: only `inputBytes` at an assumed LAN rate.
   */
  setupMs?: (t: OpenTask) => number
  /**
   * This peer's GPU devices as they are now (a copy the bidder may take from):
   * a GPU task bids to start now only if a device has room for it — whole
   * devices, or free memory on one for a share — not just the ledger's totals.
   */
  gpus?: { take: (n: number, memoryMB: number) => number[] | undefined }
}

export interface TaskBid { task: OpenTask, etaMs: number, slot: 'now' | 'queue', demand: Units }
export interface BidDecision { bids: TaskBid[], skipped: Array<{ taskId: string, reason: string }> }

/** λ: value per ms of ETA. With w below, a peer at half the reference speed and no wait still bids. */
export const LAMBDA = 1
/** Assumed transfer rate for inputs (bytes per ms ≈ 100 MB/s, a LAN). */
const BYTES_PER_MS = 100_000

/**
 * A task's value: proportional to its upward rank — its work plus the work
 * waiting on it downstream — so long tasks stay worth bidding on and the
 * critical path goes first; scaled by priority and by scarcity (below), plus
 * its age.
 */
export function taskValue (t: OpenTask): number {
  const scarcity = t.alternatives === undefined ? 1 : 1 + SCARCITY / t.alternatives
  return 2 * ((t.rankMs ?? t.workMs) + 50) * Math.pow(2, t.priority / 100) * scarcity + t.ageMs
}

/**
 * How much more a task is worth to a peer when few peers can run it: ×(1 + 16/n)
 * for n capable peers, close to 1/n: what the mesh loses if this peer does not
 * run it is all of its value when no other peer can, little when many can. A
 * GPU box or a big-memory box then spends its cores on the tasks only it can
 * run before work any peer could do. 16 was chosen on the placement study's
 * seeds 1–100, origins varied (auction ÷ bound, mean: 1.162 with 2, 1.151
 * with 4, 1.152 with 8, 1.145 with 16) and checked on seeds 101–200, which it
 * was not chosen on (1.176, 1.158, 1.153, 1.152).
 */
const SCARCITY = 16

export function etaMs (t: OpenTask, speed: number, waitMs: number, setupMs = 0): number {
  return waitMs + t.workMs / Math.max(speed, 0.01) + t.inputBytes / BYTES_PER_MS + setupMs
}

export function decideBids (tasks: OpenTask[], view: BidderView, solver: LpSolver): BidDecision {
  const skipped: BidDecision['skipped'] = []
  // capable: the same rule the origin uses to decide whose answer to wait for.
  const capable: OpenTask[] = []
  for (const t of tasks) {
    const reason = whyNot(view.self, t)
    if (reason === undefined) capable.push(t)
    else skipped.push({ taskId: t.id, reason })
  }
  const setup = (t: OpenTask): number => view.setupMs?.(t) ?? 0
  // now: work that can start at once.
  const now = onDevices(choose(capable, view.freeNow, t => etaMs(t, view.speed, 0, setup(t)), solver, view.self.id, toUnits(view.self.capacity), setup), view.gpus)
  const taken = new Set(now.map(b => b.task))
  // queue: what is left, behind running work.
  const rest = capable.filter(t => !taken.has(t))
  const ahead = (t: OpenTask): number => view.queueAheadFor?.(t.rankMs ?? t.workMs) ?? view.queueAheadMs ?? 0
  const waitMs = (t: OpenTask): number => (view.queueWaitMs ?? t.workMs / Math.max(view.speed, 0.01)) + ahead(t)
  const queued = choose(rest, view.queueRoom, t => etaMs(t, view.speed, waitMs(t), setup(t)), solver, view.self.id, toUnits(view.self.capacity), setup)
  // Each queued task also waits for the ones chosen before it, spread over the cores: deep
  // queues of short tasks then bid honest, rising ETAs, and the origin spreads them over peers.
  const cores = (view.self.capacity.cpu > 0 ? view.self.capacity.cpu : 1) * Math.max(view.speed, 0.01)
  let aheadMs = 0
  for (const b of queued) {
    b.etaMs += aheadMs
    aheadMs += b.task.workMs * b.task.demand.cpu / cores
  }
  return {
    bids: [...now.map(b => ({ ...b, slot: 'now' as const })), ...queued.map(b => ({ ...b, slot: 'queue' as const }))],
    skipped
  }
}

/** The bids for GPU tasks that some device has room for now, placed in turn; the rest can still queue. */
function onDevices<B extends { task: OpenTask }> (bids: B[], gpus: BidderView['gpus']): B[] {
  if (gpus === undefined) return bids
  return bids.filter(b => {
    const n = Math.max(0, Math.ceil(b.task.demand.gpu))
    const m = b.task.demand.gpuMemoryMB ?? 0
    return (n === 0 && m <= 0) || gpus.take(n, m) !== undefined
  })
}

/** The median expected work of a call's tasks: what sizes the queue for them. */
export function medianWorkMs (tasks: OpenTask[]): number {
  if (tasks.length === 0) return 0
  const w = tasks.map(t => t.workMs).sort((a, b) => a - b)
  return w[Math.floor(w.length / 2)]!
}

/** The demand every item shares, or undefined when they differ. */
function sameDemand (items: Array<{ demand: Units }>): Units | undefined {
  const first = items[0]?.demand
  if (first === undefined) return undefined
  for (const i of items) {
    if (i.demand.size !== first.size) return undefined
    for (const [k, v] of first) if (i.demand.get(k) !== v) return undefined
  }
  return first
}

/**
 * A tie-break in (0, 1) that differs per peer and task. Fan-out tasks have equal
 * values, and without it every bidder's LP would pick the same few of them and
 * all but one bidder would lose: with it, bidders pick different subsets, so one
 * round fills the whole mesh.
 */
export function tieBreak (peer: string, taskId: string): number {
  let h = 2166136261
  for (const s of [peer, taskId]) for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return ((h >>> 0) + 1) / 4294967297
}

/**
 * Packing: a task that takes a large share of this peer (most of its memory,
 * all its cores) is worth ×(1 + 2 × that share) here. It fits few places, and
 * once small tasks have taken the peer it is stranded with room for it nowhere
 * (bin packing's fragmentation; first-fit decreasing places big items first).
 * 2 was chosen on the placement study's seeds 1–100, origins varied (auction
 * ÷ bound, mean: 1.171 without the term, 1.160 with 2, 1.165 with 4) and
 * checked on seeds 101–200 (1.210 → 1.174, worst 2.17 → 1.80).
 */
const FIT = 2

/** The largest share of `capacity` that `demand` takes, over the resources this peer has. */
function largestShare (demand: Units, capacity: Units): number {
  let share = 0
  for (const [k, v] of demand) {
    const c = capacity.get(k) ?? 0
    if (c > 0) share = Math.max(share, v / c)
  }
  return Math.min(1, share)
}

function choose (tasks: OpenTask[], room: Units, eta: (t: OpenTask) => number, solver: LpSolver, peer: string, capacity?: Units, setup: (t: OpenTask) => number = () => 0): Array<Omit<TaskBid, 'slot'>> {
  if (tasks.length === 0 || ![...room.values()].some(v => v > 0)) return []
  // Worth doing at all: value above λ·ETA. Among those, the LP also weighs how well each fits here.
  // Setup (fetching a model) counts in the ETA the origin compares across peers, but does
  // not make a task worthless here: if no peer holds the model, someone must fetch it.
  const worth = (t: OpenTask): number => taskValue(t) + LAMBDA * setup(t)
  const items = tasks.filter(t => worth(t) - LAMBDA * eta(t) > 0).map(t => {
    const e = eta(t)
    const demand = toUnits(t.demand)
    const fit = capacity === undefined ? 1 : 1 + FIT * largestShare(demand, capacity)
    // The tie-break is worth at most a thousandth of a ms of ETA: it only orders equals.
    return { task: t, etaMs: e, demand, value: taskValue(t) * fit + LAMBDA * setup(t) - LAMBDA * e + 1e-3 * tieBreak(peer, t.id) }
  })
  if (items.length === 0) return []

  // Shortcut, exact: when everything worth doing fits at once, the LP optimum is all of it.
  const total = new Map<string, number>()
  for (const i of items) for (const [k, v] of i.demand) total.set(k, (total.get(k) ?? 0) + v)
  let x: number[]
  const same = sameDemand(items)
  if (fitsIn(total, room)) {
    x = items.map(() => 1)
  } else if (same !== undefined) {
    // Shortcut, exact: with one demand vector for all (a fan-out), the LP takes the k best
    // (k = how many fit) whole, and the next one's fraction never fits when rounded.
    const k = fitCount(same, room)
    const best = new Set(items.map((item, idx) => ({ v: item.value, idx })).sort((a, b) => b.v - a.v).slice(0, k).map(c => c.idx))
    x = items.map((_, idx) => best.has(idx) ? 1 : 0)
  } else {
    const keys = [...room.keys()]
    x = solver.solve({
      values: items.map(i => i.value),
      demands: items.map(i => keys.map(k => i.demand.get(k) ?? 0)),
      capacity: keys.map(k => Math.max(0, room.get(k) ?? 0))
    })
  }
  // Round: x ≥ ½, best first, and only while it still fits (a fractional LP can overfill when rounded up).
  const left = new Map(room)
  const chosen: Array<Omit<TaskBid, 'slot'>> = []
  const order = items.map((item, idx) => ({ item, x: x[idx] ?? 0 })).filter(c => c.x >= 0.5).sort((a, b) => b.x - a.x || b.item.value - a.item.value)
  for (const { item } of order) {
    if (!fitsIn(item.demand, left)) continue
    for (const [k, v] of item.demand) left.set(k, (left.get(k) ?? 0) - v)
    chosen.push({ task: item.task, etaMs: item.etaMs, demand: item.demand })
  }
  return chosen
}
