/**
 * The rules a round's close applies beyond each task's best bid
 * (docs/ARCHITECTURE.md §6, §17): how much one bidder may win, who is shunned,
 * when excluded peers are asked again, and where a verified task's replicas go.
 */
import { better, type ReceivedBid, type WinnerLimits } from '../auction/award.ts'
import { whyNot } from '../auction/feasibility.ts'
import { queueDepthFor, toUnits, type Units } from '../resources/ledger.ts'
import { liveAttempts, type JobRecord, type TaskRecord } from './job-record.ts'
import type { OriginContext } from './origin-context.ts'
import { missing } from './replicas.ts'
import { FAULTS_BEFORE_SHUNNED, SHUNNED_BELOW_RELIABILITY } from './reputation.ts'
import type { Round } from './rounds.ts'
import type { VerifySpec } from './spec.ts'
import { award } from './task-transitions.ts'
import { workKnown } from './task-messages.ts'

/**
 * No bidder wins more than twice what its advertised capacity and queue can
 * run, less what this job already has out there; a peer this job has seen fail a few times,
 * or whose record is bad across jobs, wins only what no other live peer could run.
 */
export function winnerLimits (job: JobRecord, r: Round, ctx: OriginContext): WinnerLimits {
  const works = [...r.tasks.values()].map(o => o.workMs).sort((a, b) => a - b)
  const depth = queueDepthFor(works[Math.floor(works.length / 2)] ?? 100, ctx.init.queueDepth, 2 * r.windowMs)
  const now = ctx.now()
  const shunned = (peer: string): boolean => job.faultsOf(peer) >= FAULTS_BEFORE_SHUNNED || ctx.reputation.reliability(peer, now) < SHUNNED_BELOW_RELIABILITY
  return {
    roomOf: peer => {
      const p = r.bidders.get(peer)
      if (p === undefined) return undefined
      const room: Units = new Map()
      const out = job.liveDemandOn(peer)
      // Twice what its capacity and queue hold: what the origin counts out there lags what the
      // peer has already finished (results in flight), and an honest bidder never bids past its
      // real room, so a tight cap refused honest bids (the trivial-task bench lost 20 %).
      for (const [k, v] of toUnits(p.capacity)) room.set(k, 2 * v * (1 + depth) - (out.get(k) ?? 0))
      return room
    },
    demandOf: taskId => toUnits(r.tasks.get(taskId)!.demand),
    shunned,
    othersCanRun: taskId => {
      const open = r.tasks.get(taskId)!
      return [...r.bidders.values()].some(p => !shunned(p.id) && whyNot(p, open, ctx.self) === undefined)
    }
  }
}

/** Rounds in a row a task may go without a bid before the peers it was kept off are asked again. */
const UNBID_ROUNDS_BEFORE_UNEXCLUDING = 2

/**
 * Exclusions are a preference ("preferably on another peer"), and must never
 * leave a task with no one to ask: a peer that can run it but never bids (a
 * busy one, or one that keeps its ads up and answers nothing) would otherwise
 * hold it forever once every other capable peer had been excluded. After a few
 * rounds in a row without a bid, the excluded peers may bid again.
 */
export function keepAskingSomeone (t: TaskRecord): void {
  t.unbidRounds = (t.unbidRounds ?? 0) + 1
  if (t.exclude.length > 0 && t.unbidRounds >= UNBID_ROUNDS_BEFORE_UNEXCLUDING) {
    t.exclude = []
    t.unbidRounds = 0
  }
}

/** Up to `n` more bids for the task, best first, each from a different peer not in `taken`. */
function moreBids (r: Round, taskId: string, taken: ReadonlySet<string>, n: number): ReceivedBid[] {
  if (n <= 0) return []
  const out: ReceivedBid[] = []
  const seen = new Set(taken)
  for (const b of r.bids.filter(x => x.taskId === taskId).sort((a, b) => better(a, b) ? -1 : better(b, a) ? 1 : 0)) {
    if (seen.has(b.peer)) continue
    seen.add(b.peer)
    out.push(b)
    if (out.length === n) break
  }
  return out
}

/**
 * Adaptive replication: is `peer` trusted to run this verified task alone? Only
 * when its last `after` checked results all agreed, and then not at random
 * `rate` of the time (the origin's own draw, which no peer can predict).
 */
export function trustedAlone (verify: VerifySpec, peer: string, ctx: OriginContext): string | undefined {
  if (verify.adaptive === undefined) return undefined
  if (ctx.reputation.agreedInARow(peer) < verify.adaptive.after) return undefined
  return ctx.random() < verify.adaptive.rate ? undefined : peer
}

/**
 * Award a verified task's missing replicas: to `first` (bids already chosen),
 * then to the round's next best bidders, each a peer with no attempt of it yet.
 */
export function awardReplicas (job: JobRecord, t: TaskRecord, r: Round, first: ReceivedBid[], ctx: OriginContext, give: (peer: string, t: TaskRecord) => void): void {
  const state = t.replica!
  const now = ctx.now()
  const taken = new Set([...liveAttempts(t).map(a => a.peer), ...state.results.map(x => x.peer)])
  const n = missing(state, liveAttempts(t).length)
  const chosen = first.filter(b => !taken.has(b.peer)).slice(0, n)
  for (const b of chosen) taken.add(b.peer)
  for (const b of [...chosen, ...moreBids(r, t.id, taken, n - chosen.length)]) {
    const at = award(job, t, b.peer, t.attempt + 1, { kind: 'won', at: now, peer: b.peer, detail: `replica, round ${r.round}` }, true)
    if (workKnown(job, t.inst.name, ctx.work)) at.promisedMs = b.promiseMs
    give(b.peer, t)
  }
}
