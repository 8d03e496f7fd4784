/**
 * Auction rounds at the origin (docs/ARCHITECTURE.md §6): which ready tasks a
 * round announces and how many, when it may close early, and what its close
 * decides (winners, deferrals, the job's next bid window and idle backoff).
 * Functions over a job's record; every task change goes through
 * `task-transitions.ts`, every outside action is returned as an effect.
 */
import { AUCTION_LIMITS, auctionMsg, type Bid, type CallForBids, type OpenTask } from '../../protocols/auction.ts'
import type { AwardedTask } from '../../protocols/task.ts'
import { better, chooseWinners, type ReceivedBid } from '../auction/award.ts'
import { etaMs } from '../auction/bidder.ts'
import { whyNobody, whyNot } from '../auction/feasibility.ts'
import { fitCount, fitsIn, queueDepthFor, toUnits, type Units } from '../resources/ledger.ts'
import { liveAttempts, type JobRecord, type TaskRecord } from './job-record.ts'
import type { OriginContext } from './origin-context.ts'
import { announce, award, unannounce } from './task-transitions.ts'
import { awardedTask, openTask, workKnown, workMsOf } from './task-messages.ts'
import { missing, replicaState } from './replicas.ts'
import { awardReplicas, keepAskingSomeone, trustedAlone, winnerLimits } from './round-awards.ts'
import { upwardRanks } from './expand.ts'
import { requirementsOf } from '../auction/requirements.ts'
import type { LivePeer, RoundOutcome } from './why.ts'

export interface Round {
  jobId: string
  round: number
  tasks: Map<string, OpenTask>
  /** Tasks in this round that already run and are auctioned for a backup attempt (stragglers). */
  backups: Set<string>
  openedAt: number
  windowMs: number
  /** When the round closes unless it closes early: its window after the call went out to the mesh. */
  deadline: number
  /** The call for bids; `published` once it went out on the mesh (a local-first round holds it back). */
  call: CallForBids
  published: boolean
  /** The expected bidders as the origin knows them: what each can run, and its advertised speed. */
  bidders: Map<string, LivePeer>
  /** Each bidder that answered, with the reason it gave for what it did not bid for ('' if none). */
  answered: Map<string, string>
  bids: ReceivedBid[]
  /** The best bid so far for each task (the award rule's order). */
  best: Map<string, ReceivedBid>
}

/** Above this many (task, unanswered peer) pairs a round does not look for an early outcome: it waits. */
const EARLY_CLOSE_MAX_PAIRS = 4096
/** The widest a job's bid window grows when capable peers keep answering late. */
const MAX_BID_WINDOW_MS = AUCTION_LIMITS.maxBidWindowMs
/** Backoff for tasks that found no bidder: doubles from 100 ms to 5 s, cut short when capacity appears. */
const NO_BID_BACKOFF = { minMs: 100, maxMs: 5000 }
const FINISHED = new Set(['done', 'failed', 'cancelled'])

/**
 * Open the job's next round with the tasks ready now, or return undefined when
 * none is (asking `ctx` to pump again when a retry falls due).
 */
export function openRound (job: JobRecord, ctx: OriginContext): Round | undefined {
  const now = ctx.now()
  const peers = ctx.livePeers()
  const ready: TaskRecord[] = []
  let nextTry = Infinity
  // Scan from the first unfinished task, and only a bounded stretch of it: a round of a
  // 100,000-task job must not cost a pass over all of it.
  while (job.scanFrom < job.order.length && FINISHED.has(job.order[job.scanFrom]!.status)) job.scanFrom++
  // What each task's value sees of the whole job: the work waiting on it downstream.
  const ranks = upwardRanks(job.spec, name => workMsOf(job, name, ctx.work))
  // The open task of each candidate, with what the bidders see of the whole job (rank, scarcity).
  const opens = new Map<string, OpenTask>()
  // Each kind of task gets as many places in the round as the peers that can run it have
  // room for, and they go to the tasks of that kind with the most work waiting on them:
  // tasks only a busy GPU box can run do not crowd out work that idle peers could start,
  // and that box is offered its most urgent work first (both found by the placement study).
  const kinds = new Map<string, { room: number, picked: Array<{ t: TaskRecord, rankMs: number }> }>()
  let scanned = 0
  for (let i = job.scanFrom; i < job.order.length && scanned < MAX_SCAN; i++) {
    const t = job.order[i]!
    if (t.status === 'running' && t.backup === 'wanted') { ready.push(t); continue }
    // A verified task out on fewer peers than its verdict needs: auction the replicas missing,
    // unless no live peer that has none could run one (then it waits, saying so, for one to join).
    if (t.replica !== undefined && t.backup === undefined && t.status !== 'pending' && missing(t.replica, liveAttempts(t).length) > 0) {
      const nobody = whyNobody(peers, openTask(job, t, now, ctx.work), ctx.self)
      if (nobody === undefined) { ready.push(t); continue }
      const reason = `verify needs ${t.replica.of} replicas on distinct peers: ${nobody}`
      if (t.waiting !== reason) {
        t.waiting = reason
        ctx.out({ type: 'emit', jobId: job.id, event: { type: 'task-waiting', jobId: job.id, taskId: t.id, reason, at: now } })
      }
      continue
    }
    if (t.status !== 'pending') continue
    if (t.nextTryAt > now) { nextTry = Math.min(nextTry, t.nextTryAt); continue }
    scanned++
    const kind = kindOf(t.inst.spec)
    const rankMs = ranks.get(t.inst.name) ?? 0
    const places = kinds.get(kind)
    // Its kind's places are taken by tasks at least as urgent: nothing to look at.
    if (places !== undefined && places.picked.length >= places.room && (places.room === 0 || places.picked.at(-1)!.rankMs >= rankMs)) continue
    const open = openTask(job, t, now, ctx.work)
    // Exclusions are a preference ("preferably on another peer"): when only excluded
    // peers could run the task, allow them again rather than wait forever.
    if (t.exclude.length > 0 && whyNobody(peers, open, ctx.self) !== undefined && whyNobody(peers, open, ctx.self, true) === undefined) {
      t.exclude = []
      open.exclude = []
    }
    // A task no live peer can run waits with the reason, and is not announced until that changes.
    const nobody = whyNobody(peers, open, ctx.self)
    if (nobody !== undefined) {
      if (t.waiting !== nobody) {
        t.waiting = nobody
        ctx.out({ type: 'emit', jobId: job.id, event: { type: 'task-waiting', jobId: job.id, taskId: t.id, reason: nobody, at: now } })
      }
      continue
    }
    t.waiting = undefined
    const capable = peers.filter(p => whyNot(p, open, ctx.self) === undefined)
    const entry = places ?? { room: Math.min(AUCTION_LIMITS.maxTasksPerCall, roundSize(job, ctx, capable, t, open.workMs)), picked: [] }
    kinds.set(kind, entry)
    // Keep the kind's picks ordered by rank (ties: spec order), the least urgent dropped beyond its room.
    let at = entry.picked.length
    while (at > 0 && entry.picked[at - 1]!.rankMs < rankMs) at--
    entry.picked.splice(at, 0, { t, rankMs })
    if (entry.picked.length > entry.room) entry.picked.pop()
    opens.set(t.id, { ...open, ...(rankMs > open.workMs ? { rankMs } : {}), alternatives: capable.length })
  }
  // Most urgent first across kinds, within what one call carries.
  const picked = [...kinds.values()].flatMap(k => k.picked).sort((a, b) => b.rankMs - a.rankMs)
  for (const { t } of picked.slice(0, Math.max(0, AUCTION_LIMITS.maxTasksPerCall - ready.length))) ready.push(t)
  // Tasks waiting for a retry get their turn when it falls due.
  if (nextTry < Infinity) ctx.armRetry(nextTry)
  if (ready.length === 0) return undefined

  const tasks = new Map(ready.map(t => [t.id, opens.get(t.id) ?? openTask(job, t, now, ctx.work)]))
  // Tasks already out (a straggler's backup, a verified task's missing replicas): another attempt beside those running.
  const backups = new Set(ready.filter(t => t.status !== 'pending').map(t => t.id))
  const bidders = new Map(peers.filter(p => [...tasks.values()].some(o => whyNot(p, o, ctx.self) === undefined)).map(p => [p.id, p]))
  if (job.windowMs === 0) job.windowMs = ctx.init.bidWindowMs
  const round = job.nextRound++
  const call = auctionMsg.callForBids({ jobId: job.id, round, origin: ctx.self, windowMs: job.windowMs, tasks: [...tasks.values()] })
  const self = bidders.get(ctx.self)
  const remote = bidders.size - (self !== undefined ? 1 : 0)
  // Local first: when this peer could start every task of the round now, it is asked alone,
  // and the call goes out to the mesh only if its bid does not settle the round (`outcomeKnown`):
  // a task that runs here costs no network hop, no signed gossip, and no bidding on every peer.
  const localFirst = self !== undefined && remote > 0 && backups.size === 0 && startsAllNow(self, tasks.values())
  const r: Round = { jobId: job.id, round, tasks, backups, bidders, answered: new Map(), bids: [], best: new Map(), openedAt: now, windowMs: job.windowMs, deadline: now + job.windowMs, call, published: false }
  for (const t of ready) announce(job, t, backups.has(t.id), now)
  if (remote > 0 && !localFirst) publishRound(r, ctx)
  // Else the timer closes a round only this peer bids in, or is a local-first round's safety
  // net: should the local bid not come, the call goes out then.
  else ctx.out({ type: 'set-timer', timer: { kind: 'round', jobId: job.id }, at: r.deadline })
  if (self !== undefined) ctx.out({ type: 'bid-locally', cfb: call })
  return r
}

/** Send the round's call to the mesh (now, or after a local-first bid did not settle it), with a full window from now. */
export function publishRound (r: Round, ctx: OriginContext): void {
  if (r.published) return
  r.published = true
  r.deadline = ctx.now() + r.windowMs
  ctx.out({ type: 'set-timer', timer: { kind: 'round', jobId: r.jobId }, at: r.deadline })
  ctx.out({ type: 'publish', msg: r.call })
}

/** Does the whole round's demand fit in what `peer` has free now? */
function startsAllNow (peer: LivePeer, tasks: Iterable<OpenTask>): boolean {
  const total: Units = new Map()
  for (const o of tasks) for (const [k, v] of toUnits(o.demand)) total.set(k, (total.get(k) ?? 0) + v)
  return fitsIn(total, toUnits(peer.free))
}

/** Pending tasks a round looks at, at most: past them, the rest wait for the next rounds. */
const MAX_SCAN = 4 * AUCTION_LIMITS.maxTasksPerCall

/** Tasks with the same requirements compete for the same places: one key per kind of task. */
const kindKeys = new WeakMap<object, string>()
function kindOf (spec: TaskRecord['inst']['spec']): string {
  let k = kindKeys.get(spec)
  if (k === undefined) kindKeys.set(spec, k = JSON.stringify(requirementsOf(spec)))
  return k
}

/**
 * About as many tasks of one kind as the peers able to run them have room
 * for now (free + queue), so huge jobs do not flood the mesh. Queues are as
 * deep as bidders make them for tasks of this length (`queueDepthFor`, the
 * same rule they use).
 */
function roundSize (job: JobRecord, ctx: OriginContext, peers: LivePeer[], sample: TaskRecord, workMs: number): number {
  const demand = toUnits(sample.inst.spec.resources)
  const depth = queueDepthFor(workMs, ctx.init.queueDepth, 2 * (job.windowMs || ctx.init.bidWindowMs))
  let slots = 0
  for (const p of peers) {
    if (p.caps.origins !== undefined && !p.caps.origins.includes(ctx.self)) continue
    slots += fitCount(demand, toUnits(p.free)) + (depth > 0 ? depth * fitCount(demand, toUnits(p.capacity)) : 0)
  }
  return Math.max(1, Math.min(AUCTION_LIMITS.maxTasksPerCall, slots))
}

/**
 * Count a bid in its round. A start-now bid's ETA is the bidder's plus what
 * using that peer costs this origin (`PeerLatency`: none for itself), so the
 * award rule compares when each result would be back here. Returns true when
 * the round can close now.
 */
export function addBid (r: Round, from: string, bid: Bid, ctx: OriginContext): boolean {
  const extraMs = ctx.latency.of(from)
  const speed = r.bidders.get(from)?.speed
  const now = ctx.now()
  for (const b of bid.bids) {
    const open = r.tasks.get(b.taskId)
    if (open === undefined || open.attempt !== b.attempt || open.exclude.includes(from)) continue
    // No bid promises less than the task's work at the bidder's own advertised speed: an ETA of 0
    // from a peer that says it runs at speed 1 is a lie, and is read as that bound.
    const floor = speed === undefined ? 0 : Math.round(etaMs(open, speed, 0) * 10) / 10
    // Only a start-now bid pays the latency: behind a queue, a few ms of network are noise, and
    // charging them would pile a job's queue onto its origin, whose CPU also runs the auction.
    const promiseMs = Math.max(b.etaMs, floor) + (b.queued === true ? 0 : extraMs)
    // Priced by what this origin saw the bidder do with earlier work (reputation.ts).
    const priced = ctx.reputation.adjustedEtaMs(from, promiseMs, ctx.init.leaseMs + open.workMs, now)
    const received = { peer: from, taskId: b.taskId, attempt: b.attempt, etaMs: priced, promiseMs, load: bid.load, queued: b.queued === true }
    r.bids.push(received)
    const best = r.best.get(b.taskId)
    if (best === undefined || better(received, best)) r.best.set(b.taskId, received)
  }
  r.answered.set(from, bid.declined ?? '')
  // Close as soon as every live capable peer has answered, or no answer still missing could change the outcome.
  return [...r.bidders.keys()].every(p => r.answered.has(p)) || outcomeKnown(r, ctx)
}

/**
 * Decide a closed round: award each task to its best bid (a straggler's backup
 * too), put back what found no bidder or was deferred, adapt the job's window
 * and no-bid backoff. Returns the awards per peer, to journal and then send.
 */
export function closeRound (job: JobRecord, r: Round, ctx: OriginContext): Map<string, AwardedTask[]> {
  const now = ctx.now()
  job.lastClosedAt = now
  const winners = chooseWinners(r.bids, winnerLimits(job, r, ctx))
  const awards = new Map<string, AwardedTask[]>()
  const give = (peer: string, t: TaskRecord): void => {
    const task = awardedTask(job, t, r.tasks.get(t.id))
    const list = awards.get(peer)
    if (list === undefined) awards.set(peer, [task])
    else list.push(task)
  }
  // A bidder whose start-now bid lost has room right now. While one does, a task whose best
  // bid is a queue slot waits for the next round (announced at once) rather than queue behind
  // work on a busy peer. Defer at most as many queued winners as there are such lost start-now
  // bids (the latest ETAs first): the rest of a deep queue of short tasks still goes out.
  const spareNow = r.bids.filter(b => b.queued !== true && winners.get(b.taskId)?.peer !== b.peer).length
  const toDefer = new Set([...winners.values()].filter(w => w.queued === true).sort((a, b) => b.etaMs - a.etaMs).slice(0, spareNow).map(w => w.taskId))
  let unbid = 0
  let deferred = 0
  let awarded = 0
  let outcome: RoundOutcome | undefined
  // Some capable peer did not answer in time: widen the window for this job's next rounds.
  // (A round decided early, or never sent to the mesh, does not widen it.)
  const timedOut = r.published && now >= r.deadline
  job.windowMs = timedOut && r.answered.size < r.bidders.size
    ? Math.min(MAX_BID_WINDOW_MS, job.windowMs * 2)
    : Math.max(ctx.init.bidWindowMs, Math.floor(job.windowMs / 2))
  ctx.out({ type: 'log', level: 'debug', fields: { jobId: job.id, round: r.round, tasks: r.tasks.size, bids: r.bids.length, winners: winners.size, answered: r.answered.size, expected: r.bidders.size, ms: now - r.openedAt }, msg: 'round closed' })
  for (const [taskId, open] of r.tasks) {
    const t = job.tasks.get(taskId)
    if (t === undefined) continue
    const w = winners.get(taskId)
    if (r.backups.has(taskId) && t.replica !== undefined) {
      // A verified task's missing replicas, each on a peer that has none of its attempts.
      t.backup = undefined
      if (w !== undefined && t.replica.accepted === undefined && !FINISHED.has(t.status)) awardReplicas(job, t, r, [w], ctx, give)
      continue
    }
    if (r.backups.has(taskId)) {
      // The straggler may have finished (or been lost) while its backup was auctioned.
      if (t.status !== 'running' || t.backup !== 'announced' || w === undefined) {
        if (t.backup === 'announced') t.backup = t.status === 'running' ? 'wanted' : undefined
        continue
      }
      const backup = award(job, t, w.peer, open.attempt, { kind: 'won', at: now, peer: w.peer, detail: `backup, round ${r.round}` })
      if (workKnown(job, t.inst.name, ctx.work)) backup.promisedMs = w.promiseMs
      ctx.out({ type: 'emit', jobId: job.id, event: { type: 'backup-started', jobId: job.id, taskId, attempt: t.attempt, peer: w.peer, reason: 'straggler: running far past the typical duration', at: now } })
      give(w.peer, t)
      continue
    }
    if (t.status !== 'announced') continue
    if (w === undefined && r.best.has(taskId)) {
      // Bid for, but every bid was past its bidder's cap or from a shunned peer: announced again
      // like a deferral, not backed off as if nobody had room.
      unannounce(job, t, { kind: 'deferred', at: now, detail: `round ${r.round}: its bids were over their bidders' caps, or from peers that failed this job` })
      deferred++
    } else if (w === undefined) {
      unannounce(job, t, { kind: 'no-bid', at: now, detail: `round ${r.round}` })
      outcome ??= roundOutcome(r, now)
      t.lastRound = outcome
      unbid++
      keepAskingSomeone(t)
    } else if (toDefer.has(taskId)) {
      unannounce(job, t, { kind: 'deferred', at: now, peer: w.peer, detail: `round ${r.round}: a queue slot won while a peer had room now` })
      deferred++
    } else {
      const at = award(job, t, w.peer, t.attempt, { kind: 'won', at: now, peer: w.peer, detail: `round ${r.round}, ETA ${w.promiseMs ?? w.etaMs} ms` })
      // A promise is held to only where the work was known when it was bid for (deadlines.ts).
      if (workKnown(job, t.inst.name, ctx.work)) at.promisedMs = w.promiseMs
      t.unbidRounds = 0
      give(w.peer, t)
      awarded++
      const verify = t.inst.spec.verify
      if (verify !== undefined) {
        // Verified: the first replica's peer may be trusted alone (adaptive); else the others go now, to the next best bidders.
        t.replica ??= replicaState(verify, trustedAlone(verify, w.peer, ctx))
        awardReplicas(job, t, r, [], ctx, give)
      }
    }
  }
  // Nobody had room for some tasks: wait until capacity appears (a result, an ad), or a backoff
  // passes. So too when a round only deferred: the same bids would come back at once and lose
  // the same way until the queued winner's peer frees a slot, which its result (a wake) says.
  // Announcing again at once polled: 40 rounds a second, each an LP on every peer (seen on the
  // dashboard's auction page, a 6-task job of 1 s sleeps on 3 peers taking 70 rounds).
  if ((unbid > 0 && deferred === 0) || (deferred > 0 && awarded === 0)) {
    job.idleBackoffMs = Math.min(Math.max(NO_BID_BACKOFF.minMs, job.idleBackoffMs * 2), NO_BID_BACKOFF.maxMs)
    job.idleUntil = now + job.idleBackoffMs
  } else {
    job.idleBackoffMs = 0
  }
  return awards
}

function roundOutcome (r: Round, now: number): RoundOutcome {
  const answers = new Map<string, string | null>()
  for (const p of r.bidders.keys()) answers.set(p, r.answered.get(p) ?? null)
  return { round: r.round, at: now, windowMs: r.windowMs, answers }
}

/**
 * Can no missing answer change who wins? A bidder's ETA for a task is at least
 * its work at the bidder's advertised speed (no wait), plus what using that
 * peer costs this origin (its learned latency), so once every task's
 * best bid is strictly below that bound for every capable peer still silent,
 * the award rule would pick the same winners after waiting. Strictly: on equal
 * ETAs the tie-break (load, then id) needs the missing bid. A round is decided
 * early when the fastest capable peer answers first — often the origin itself —
 * instead of waiting for the slowest.
 */
function outcomeKnown (r: Round, ctx: OriginContext): boolean {
  const silent = [...r.bidders.values()].filter(p => !r.answered.has(p.id))
  if (silent.length * r.tasks.size > EARLY_CLOSE_MAX_PAIRS) return false
  for (const [taskId, open] of r.tasks) {
    const best = r.best.get(taskId)
    if (best === undefined) return false
    for (const p of silent) {
      if (p.speed === undefined) return false
      if (whyNot(p, open) !== undefined) continue
      // Bids carry ETAs rounded to 0.1 ms: so does the bound (plus what using that peer costs).
      const bound = Math.round(etaMs(open, p.speed, 0) * 10) / 10 + ctx.latency.of(p.id)
      if (best.etaMs >= ctx.reputation.adjustedEtaMs(p.id, bound, ctx.init.leaseMs + open.workMs, ctx.now())) return false
    }
  }
  return true
}
