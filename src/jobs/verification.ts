/**
 * Results of verified tasks at their origin (docs/ARCHITECTURE.md §17; the
 * rules are in replicas.ts). A replica's result is held, unacknowledged, until
 * the verdict: its executor keeps it (and its blobs) meanwhile, so the result
 * accepted can still be fetched, and a resend is simply ignored. The verdict
 * then takes one of three ways: a digest a majority agrees on is accepted
 * through the same fetch-journal-finish path as any result; a split asks for
 * one replica more; past `max` the task fails naming each digest's peers.
 * Peers that agreed earn an agreement (adaptive replication counts them);
 * peers that disagreed with an accepted majority are charged a wrong result.
 */
import type { TaskResult } from '../../protocols/task.ts'
import { taskMsg } from '../../protocols/task.ts'
import { liveAttempts, type AttemptRecord, type JobRecord, type TaskRecord } from './job-record.ts'
import type { OriginContext } from './origin-context.ts'
import { byDigest, decide, replicaState, resultDigest, type ReplicaState } from './replicas.ts'
import type { JobActions } from './reports.ts'
import { endAttempt, failTask, judge, reported, type Cause } from './task-transitions.ts'
import { openTask } from './task-messages.ts'
import { whyNobody } from '../auction/feasibility.ts'

/** The replica of `t` on `peer` with this attempt number, when its result is in and waits for the verdict. */
export function heldReplica (t: TaskRecord, attempt: number, peer: string): AttemptRecord | undefined {
  if (t.replica === undefined) return undefined
  return t.attempts.find(a => a.attempt === attempt && a.peer === peer && a.state === 'reported')
}

/** Is this the replica the verdict accepted (its result is on its way to the journal)? */
export function isAcceptedReplica (t: TaskRecord, attempt: number, peer: string): boolean {
  return t.replica?.accepted?.attempt === attempt && heldReplica(t, attempt, peer) !== undefined
}

/**
 * A verified task's replica reported a good result: hold it, and see what the
 * results in say. `accept` is how the accepted result goes on (fetch, journal,
 * finish): the same path as any result.
 */
export function takeReplica (job: JobRecord, t: TaskRecord, at: AttemptRecord, res: Extract<TaskResult, { ok: true }>, ctx: OriginContext, act: JobActions, accept: (from: string, res: Extract<TaskResult, { ok: true }>) => void): void {
  const now = ctx.now()
  const state = t.replica ??= replicaState(t.inst.spec.verify!)
  reported(job, t, at, { kind: 'result', at: now, peer: at.peer, detail: 'replica: waiting for the verdict' })
  state.results.push({ attempt: at.attempt, peer: at.peer, digest: resultDigest(res), result: res })
  const d = decide(state, liveAttempts(t).length)
  switch (d.kind) {
    case 'accept':
      state.accepted = { attempt: d.replica.attempt, digest: d.replica.digest, verdict: d.verdict }
      // Replicas still running are not needed any more.
      for (const other of liveAttempts(t)) {
        endAttempt(job, t, other, 'cancelled', { kind: 'result', at: now, detail: 'the verdict is in' }, 'the verdict is in')
        act.send(other.peer, taskMsg.cancel(job.id, 'the verdict on this task is in', [{ taskId: t.id, attempt: other.attempt }]))
      }
      accept(d.replica.peer, d.replica.result)
      return
    case 'more': {
      // One replica more, if some live peer that has none could run it; else the verdict is in: no majority.
      const open = openTask(job, t, now, ctx.work)
      if (whyNobody(ctx.livePeers(), open, ctx.self) !== undefined) {
        failVerification(job, t, state, ctx, act, 'no other live peer can run another replica')
        return
      }
      state.of++
      act.pump(job)
      return
    }
    case 'wait':
      act.pump(job)
      return
    case 'fail': failVerification(job, t, state, ctx, act)
  }
}

/**
 * The accepted replica's result is journaled and its task done: judge every
 * other replica whose result is in (agreed: done; disagreed: failed, and
 * charged), acknowledge them all, and say what the verdict was.
 */
export function settleReplicas (job: JobRecord, t: TaskRecord, ctx: OriginContext, act: JobActions): void {
  const state = t.replica
  if (state?.accepted === undefined) return
  const now = ctx.now()
  const cause: Cause = { kind: 'result', at: now, detail: 'verdict' }
  const agreeing: string[] = []
  const disagreeing: string[] = []
  for (const r of state.results) {
    const at = heldReplica(t, r.attempt, r.peer)
    const agreed = r.digest === state.accepted.digest
    if (agreed) agreeing.push(r.peer)
    else disagreeing.push(r.peer)
    if (at !== undefined) judge(job, t, at, agreed ? 'done' : 'failed', cause, agreed ? undefined : `its result disagreed with the majority (digest ${r.digest.slice(0, 12)}, accepted ${state.accepted.digest.slice(0, 12)})`)
    if (r.attempt !== state.accepted.attempt) act.ack(r.peer, job.id, [{ taskId: t.id, attempt: r.attempt }])
    if (state.accepted.verdict === 'trusted') continue
    if (agreed) {
      if (r.attempt !== state.accepted.attempt) ctx.reputation.delivered(r.peer, now)
      ctx.reputation.agreed(r.peer, now)
    } else {
      act.fault(job, r.peer, 'wrong-result')
    }
  }
  ctx.metrics.inc('meshwork_verifications_total', { verdict: state.accepted.verdict })
  act.emit(job, { type: 'task-verified', jobId: job.id, taskId: t.id, verdict: state.accepted.verdict, agreeing, disagreeing, at: now })
}

/** No digest won a majority of the most replicas allowed (or that could run): the task fails, naming who reported what. */
function failVerification (job: JobRecord, t: TaskRecord, state: ReplicaState, ctx: OriginContext, act: JobActions, why = `verify.max ${state.max}`): void {
  const now = ctx.now()
  const groups = [...byDigest(state.results)].map(([digest, g]) => ({ digest, peers: g.map(r => r.peer) }))
  const cause: Cause = { kind: 'failed', at: now, detail: 'replicas disagree' }
  for (const r of state.results) {
    const at = heldReplica(t, r.attempt, r.peer)
    if (at !== undefined) judge(job, t, at, 'failed', cause, 'no majority of replicas agreed')
    act.ack(r.peer, job.id, [{ taskId: t.id, attempt: r.attempt }])
  }
  const error = `replicas disagree after ${state.results.length} results (${why}): ${groups.map(g => `${g.digest.slice(0, 12)} from ${g.peers.join(', ')}`).join('; ')}`
  ctx.metrics.inc('meshwork_verifications_total', { verdict: 'failed' })
  act.emit(job, { type: 'task-verified', jobId: job.id, taskId: t.id, verdict: 'failed', agreeing: [], disagreeing: groups.flatMap(g => g.peers), at: now })
  failTask(job, t, error, cause)
  act.endJob(job, 'failed', `task ${t.id} failed: ${error}`)
}
