/**
 * The award rule (docs/ARCHITECTURE.md §6, §17): each task goes to the bid with the lowest ETA;
 * ties go to the less loaded bidder, then to the lower peer id, so every origin
 * decides the same way from the same bids.
 *
 * With limits, no bidder wins more than it can run (its capacity and queue,
 * less what the job already has out there): a peer that bids ETA 0 for
 * everything cannot take a whole job. And a peer the job has seen fail
 * repeatedly (shunned) wins a task only when no other live peer could run it:
 * otherwise the task waits for them, a round or a few.
 */
import { fitsIn, type Units } from '../resources/ledger.ts'

export interface ReceivedBid {
  peer: string
  taskId: string
  attempt: number
  /** What the award rule compares: the bid's ETA, priced by what the origin knows of the bidder. */
  etaMs: number
  load: number
  queued?: boolean
  /** The ETA the bidder promised (with the network's cost), before pricing: what deadlines hold it to. */
  promiseMs?: number
}

export interface WinnerLimits {
  /** What `peer` can still take in this round; undefined: no limit known. */
  roomOf: (peer: string) => Units | undefined
  /** The demand of one instance of the task. */
  demandOf: (taskId: string) => Units
  /** Take bids from this peer only for tasks no other peer could run. */
  shunned: (peer: string) => boolean
  /** Can some live peer that is not shunned run this task (whether or not it bid this round)? */
  othersCanRun: (taskId: string) => boolean
}

export function chooseWinners (bids: ReceivedBid[], limits?: WinnerLimits): Map<string, ReceivedBid> {
  const best = new Map<string, ReceivedBid>()
  for (const b of bids) {
    const cur = best.get(b.taskId)
    if (cur === undefined || better(b, cur)) best.set(b.taskId, b)
  }
  // Most rounds: every best bid within its bidder's room and from a peer in good standing.
  if (limits === undefined || withinBounds(best, limits)) return best
  return withinLimits(bids, limits)
}

/** Do the plain winners keep to the limits: no shunned winner, none over its room? */
function withinBounds (best: Map<string, ReceivedBid>, limits: WinnerLimits): boolean {
  const won = new Map<string, Units>()
  for (const [taskId, w] of best) {
    if (limits.shunned(w.peer)) return false
    let total = won.get(w.peer)
    if (total === undefined) won.set(w.peer, total = new Map())
    for (const [k, v] of limits.demandOf(taskId)) total.set(k, (total.get(k) ?? 0) + v)
  }
  for (const [peer, total] of won) {
    const room = limits.roomOf(peer)
    if (room !== undefined && !fitsIn(total, room)) return false
  }
  return true
}

/**
 * Each task's bids best first; tasks taken in the order of their best bid, so
 * the strongest claims on a bidder's room are served first. A task goes to its
 * best unshunned bidder with room; to a shunned one only if no other peer could run it.
 */
function withinLimits (bids: ReceivedBid[], limits: WinnerLimits): Map<string, ReceivedBid> {
  const byTask = new Map<string, ReceivedBid[]>()
  for (const b of bids) {
    const list = byTask.get(b.taskId)
    if (list === undefined) byTask.set(b.taskId, [b])
    else list.push(b)
  }
  for (const list of byTask.values()) list.sort((a, b) => better(a, b) ? -1 : better(b, a) ? 1 : 0)
  const tasks = [...byTask.entries()].sort(([ta, a], [tb, b]) => better(a[0]!, b[0]!) ? -1 : better(b[0]!, a[0]!) ? 1 : ta < tb ? -1 : 1)
  const room = new Map<string, Units | undefined>()
  const roomOf = (peer: string): Units | undefined => {
    if (!room.has(peer)) room.set(peer, limits.roomOf(peer))
    return room.get(peer)
  }
  const winners = new Map<string, ReceivedBid>()
  for (const [taskId, list] of tasks) {
    const demand = limits.demandOf(taskId)
    const fits = (b: ReceivedBid): boolean => { const r = roomOf(b.peer); return r === undefined || fitsIn(demand, r) }
    const w = list.find(b => !limits.shunned(b.peer) && fits(b)) ?? (limits.othersCanRun(taskId) ? undefined : list.find(fits))
    if (w === undefined) continue
    winners.set(taskId, w)
    const r = roomOf(w.peer)
    if (r !== undefined) for (const [k, v] of demand) r.set(k, (r.get(k) ?? 0) - v)
  }
  return winners
}

export function better (a: ReceivedBid, b: ReceivedBid): boolean {
  if (a.etaMs !== b.etaMs) return a.etaMs < b.etaMs
  if (a.load !== b.load) return a.load < b.load
  return a.peer < b.peer
}
