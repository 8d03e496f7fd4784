/**
 * What executors report to an origin (docs/ARCHITECTURE.md §4, §7): accepts
 * and rejections, progress (also the lease heartbeat), checkpoints, tasks
 * given back, and results. Fencing: only a live attempt's reports count, and a
 * task takes exactly one result — from its current attempt, after the result
 * is journaled. Part of the origin's state machine: it changes task state only
 * through `task-transitions.ts` and acts only through effects.
 */
import type { AttemptRef, ExecutorToOrigin, ProgressMsg, TaskResult } from '../../protocols/task.ts'
import { taskMsg } from '../../protocols/task.ts'
import type { AttemptRecord, JobEvent, JobRecord, TaskRecord } from './job-record.ts'
import { liveAttempts, markCheckpoint, outputTail } from './job-record.ts'
import type { FetchedResult, OriginContext, OriginEffect } from './origin-context.ts'
import { accepted, endAttempt, failTask, finish, started, type Cause } from './task-transitions.ts'
import { workKey } from './task-messages.ts'
import { heldReplica, isAcceptedReplica, settleReplicas, takeReplica } from './verification.ts'
import type { FaultKind } from './reputation.ts'

/** What reports need from the rest of the origin machine. */
export interface JobActions {
  emit: (job: JobRecord, event: JobEvent) => void
  send: (peer: string, msg: Extract<OriginEffect, { type: 'send' }>['msg']) => void
  ack: (peer: string, jobId: string, results: readonly AttemptRef[]) => void
  pump: (job: JobRecord) => void
  wake: (job: JobRecord) => void
  wakeAll: () => void
  unblock: (job: JobRecord) => void
  /** Returns whether any attempt was lost. */
  lose: (job: JobRecord, t: TaskRecord, cause: Cause, which: (a: AttemptRecord) => boolean) => boolean
  retry: (job: JobRecord, t: TaskRecord, cause: Cause, avoid: string | undefined, delayMs: number) => void
  endJob: (job: JobRecord, state: 'done' | 'failed' | 'cancelled', error?: string) => void
  /** The peer failed the work it was given (reputation.ts). */
  fault: (job: JobRecord, peer: string, kind: FaultKind) => void
}

export function onReport (job: JobRecord | undefined, from: string, msg: ExecutorToOrigin, ctx: OriginContext, act: JobActions): void {
  // A job we do not know (cancelled and forgotten) or that has ended takes no more news, but
  // executors still need their results acknowledged, and attempts still running stopped.
  if (job === undefined || job.state !== 'running') {
    if (msg.type === 'result') act.ack(from, msg.jobId, msg.results)
    if (msg.type === 'progress') stopStale(from, msg, act)
    return
  }
  const now = ctx.now()
  const cause = (kind: Cause['kind'], detail?: string): Cause => ({ kind, at: now, peer: from, ...(detail !== undefined ? { detail } : {}) })
  switch (msg.type) {
    case 'accept':
      for (const a of msg.accepted) {
        const at = job.currentAttempt(a.taskId, a.attempt, from)
        if (at !== undefined) accepted(job, job.tasks.get(a.taskId)!, at, cause('accepted'))
      }
      for (const a of msg.rejected) {
        const t = job.tasks.get(a.taskId)
        const at = job.currentAttempt(a.taskId, a.attempt, from)
        if (t === undefined || at === undefined) continue
        endAttempt(job, t, at, 'rejected', cause('rejected', a.reason), a.reason)
        act.fault(job, from, 'rejected')
        // A rejected backup leaves its straggler running; anything else goes back to be announced.
        if (liveAttempts(t).length === 0) act.retry(job, t, cause('rejected', a.reason), undefined, 0)
      }
      if (msg.rejected.length > 0) act.wake(job)
      return
    case 'progress': {
      const stale: AttemptRef[] = []
      for (const p of msg.items) {
        const t = job.tasks.get(p.taskId)
        const at = job.currentAttempt(p.taskId, p.attempt, from)
        // An attempt this origin no longer counts on (lost while its peer was frozen or cut
        // off, or superseded) is still running there: stop it, or it holds that peer's
        // capacity until it ends on its own.
        if (t !== undefined && at === undefined && p.running && t.attempts.some(a => a.attempt === p.attempt && a.peer === from && (a.state === 'lost' || a.state === 'cancelled'))) stale.push({ taskId: p.taskId, attempt: p.attempt })
        if (t === undefined || at === undefined || t.status === 'done') continue
        at.lastHeartbeat = now
        if (p.fraction !== undefined) t.fraction = p.fraction
        if (p.running && at.state !== 'running') {
          started(job, t, at, cause('started'))
          act.emit(job, { type: 'task-started', jobId: job.id, taskId: t.id, attempt: at.attempt, peer: from, at: now })
        }
      }
      if (stale.length > 0) act.send(from, taskMsg.cancel(job.id, 'this attempt was given up (its peer was unreachable); another runs or ran the task', stale))
      return
    }
    case 'checkpoint': {
      const t = job.tasks.get(msg.taskId)
      const a = t === undefined ? undefined : job.currentAttempt(msg.taskId, msg.attempt, from)
      if (t === undefined || a === undefined) return
      markCheckpoint(a, ctx.now())
      if (msg.stateBlob === undefined) t.checkpoint = msg.state
      else ctx.out({ type: 'fetch-checkpoint', from, jobId: job.id, taskId: t.id, ref: msg.stateBlob })
      return
    }
    case 'release':
      // The executor's machine got busy: run these elsewhere, now.
      for (const r of msg.tasks) {
        const t = job.tasks.get(r.taskId)
        if (t !== undefined && job.currentAttempt(r.taskId, r.attempt, from) !== undefined) act.lose(job, t, cause('released', r.reason), a => a.peer === from)
      }
      act.wake(job)
      return
    case 'result':
      for (const res of msg.results) takeResult(job, from, res, ctx, act)
      // The executor has room again: every job of ours may use it.
      act.wakeAll()
  }
}

/**
 * An executor still runs attempts of a job that has ended here (cancelled
 * while that peer was frozen or cut off, so the cancel never reached it): stop
 * them, or they hold its capacity until they end on their own.
 */
function stopStale (from: string, msg: ProgressMsg, act: JobActions): void {
  const running = msg.items.filter(p => p.running).map(p => ({ taskId: p.taskId, attempt: p.attempt }))
  if (running.length > 0) act.send(from, taskMsg.cancel(msg.jobId, 'the job has ended', running))
}

/** Is this the result the task is waiting for (its live attempt's, the task not finished)? */
function wanted (job: JobRecord, from: string, res: TaskResult): boolean {
  return attemptFor(job, from, res) !== undefined
}

/** The attempt whose result this may be: a live one, or the verified task's replica its verdict accepted. */
function attemptFor (job: JobRecord, from: string, res: TaskResult): AttemptRecord | undefined {
  const t = job.tasks.get(res.taskId)
  if (t === undefined || job.state !== 'running' || t.status === 'done' || t.status === 'failed') return undefined
  return job.currentAttempt(res.taskId, res.attempt, from) ?? (isAcceptedReplica(t, res.attempt, from) ? heldReplica(t, res.attempt, from) : undefined)
}

function takeResult (job: JobRecord, from: string, res: TaskResult, ctx: OriginContext, act: JobActions): void {
  const t = job.tasks.get(res.taskId)
  // A replica's result waits for the verdict unacknowledged: its resends wait too. The accepted
  // one's resend goes on as a result (its blobs could not be fetched the first time).
  if (t !== undefined && heldReplica(t, res.attempt, from) !== undefined) {
    if (res.ok && isAcceptedReplica(t, res.attempt, from) && job.state === 'running') bringHome(job, from, res, ctx, act)
    return
  }
  // Fencing: one result per task, from its current attempt. Stale or duplicate results are acknowledged and dropped.
  if (t === undefined || !wanted(job, from, res)) { act.ack(from, job.id, [res]); return }
  // A short task's start notice is left out of the flush that carries its result: the result says it ran.
  const at = job.currentAttempt(res.taskId, res.attempt, from)!
  if (res.artifactBytes !== undefined) at.artifactBytes = res.artifactBytes
  if (at.state !== 'running') {
    const startedAt = ctx.now() - res.durationMs
    started(job, t, at, { kind: 'started', at: startedAt, peer: from })
    act.emit(job, { type: 'task-started', jobId: job.id, taskId: t.id, attempt: at.attempt, peer: from, at: startedAt })
  }
  if (!res.ok) { takeFailure(job, from, res, ctx, act); return }
  if (t.inst.spec.verify !== undefined) { takeReplica(job, t, at, res, ctx, act, (peer, r) => { bringHome(job, peer, r, ctx, act) }); return }
  bringHome(job, from, res, ctx, act)
}

/** Bring the result's blobs home (before it is acknowledged: the executor may leave once it is), then journal it. */
function bringHome (job: JobRecord, from: string, res: Extract<TaskResult, { ok: true }>, ctx: OriginContext, act: JobActions): void {
  const hasBlobs = res.valueBlob !== undefined || Object.values(res.outputs ?? {}).some(d => 'blob' in d)
  if (hasBlobs) ctx.out({ type: 'fetch-result', from, jobId: job.id, result: res })
  else onResultFetched(job, { from, jobId: job.id, result: res, value: res.value, outputs: res.outputs ?? {} }, ctx, act)
}

/** The result's blobs are home: journal it (durable before it is acknowledged). */
export function onResultFetched (job: JobRecord | undefined, f: FetchedResult, ctx: OriginContext, act: JobActions): void {
  if (job === undefined) return
  // The status may have changed while blobs were fetched (a duplicate result finished first).
  if (!wanted(job, f.from, f.result)) { act.ack(f.from, job.id, [f.result]); return }
  ctx.out({ type: 'journal-result', fetched: f, record: { taskId: f.result.taskId, attempt: f.result.attempt, peer: f.from, value: f.value, outputs: f.outputs, durationMs: f.result.durationMs, at: ctx.now(), ...(f.result.artifactBytes !== undefined ? { artifactBytes: f.result.artifactBytes } : {}) } })
}

/** The result is journaled: the task is done, its other attempt stopped, its dependents unblocked. */
export function onResultJournaled (job: JobRecord | undefined, f: FetchedResult, error: string | undefined, ctx: OriginContext, act: JobActions): void {
  if (job === undefined) return
  if (error !== undefined) {
    // Not acknowledged: the executor resends it, and it is journaled then.
    ctx.out({ type: 'log', level: 'error', fields: { jobId: job.id, taskId: f.result.taskId, err: error }, msg: 'journal write failed; result not acknowledged' })
    return
  }
  const res = f.result
  const t = job.tasks.get(res.taskId)
  const at = attemptFor(job, f.from, res)
  if (t === undefined || at === undefined) { act.ack(f.from, job.id, [res]); return }
  const now = ctx.now()
  const others = finish(job, t, at, { value: f.value, outputs: f.outputs, durationMs: res.durationMs }, { kind: 'result', at: now, peer: f.from })
  ctx.reputation.delivered(f.from, now)
  settleReplicas(job, t, ctx, act)
  // An attempt far past its promise that its backup beat: it did not do the work it took.
  for (const other of others) if (other.overdue === true) act.fault(job, other.peer, 'deadline')
  // Teach later jobs what this work takes, as work at speed 1.0.
  ctx.work.record(workKey(t.inst.spec), res.durationMs * (ctx.speedOf(f.from) ?? 1))
  // First result wins: stop the other attempt (a straggler or its backup).
  for (const other of others) act.send(other.peer, taskMsg.cancel(job.id, 'another attempt finished first', [{ taskId: t.id, attempt: other.attempt }]))
  act.ack(f.from, job.id, [res])
  act.emit(job, { type: 'task-done', jobId: job.id, taskId: t.id, attempt: res.attempt, peer: f.from, durationMs: res.durationMs, at: now })
  // Dependents wait for every instance of a name: only the last one can unblock anything.
  if (job.nameDone(t.inst.name)) act.unblock(job)
  if (job.allDone()) act.endJob(job, 'done')
  else act.pump(job)
}

/**
 * Attempts whose peers could not fetch a task's inputs before it counts as the
 * task's failure: once peers this many could not, the data itself (or the
 * origin serving it) is the likelier cause, and retrying forever would hide it.
 */
export const MAX_TRANSFER_FAILURES = 3

function takeFailure (job: JobRecord, from: string, res: Extract<TaskResult, { ok: false }>, ctx: OriginContext, act: JobActions): void {
  const t = job.tasks.get(res.taskId)!
  const at = job.currentAttempt(res.taskId, res.attempt, from)!
  const now = ctx.now()
  act.ack(from, job.id, [res])
  // The peer could not fetch what the task needs: its trouble, not the task's. The attempt is
  // lost as if the peer had gone, and the task runs elsewhere without spending a retry.
  if (res.reason === 'transfer' && (t.transferFailures ?? 0) < MAX_TRANSFER_FAILURES) {
    t.transferFailures = (t.transferFailures ?? 0) + 1
    act.lose(job, t, { kind: 'transfer-failed', at: now, peer: from, detail: res.error }, a => a === at)
    return
  }
  const cause: Cause = { kind: 'failed', at: now, peer: from, detail: res.error }
  endAttempt(job, t, at, 'failed', cause, res.error)
  const output = outputTail(res.value)
  if (output !== undefined) job.keepOutput(at, output)
  // Every failed attempt spends a retry, a backup's too: `retries` bounds how many attempts of a
  // task may fail, however many ran at once. Past it the task fails, and any other attempt stops.
  const willRetry = res.retryable && t.retriesLeft > 0
  act.emit(job, { type: 'task-failed', jobId: job.id, taskId: t.id, attempt: res.attempt, peer: from, error: res.error, willRetry, at: now })
  if (willRetry) {
    t.retriesLeft--
    // Another attempt of the task still runs (a backup): let it finish.
    if (liveAttempts(t).length === 0) act.retry(job, t, cause, from, Math.min(1000 * 2 ** (t.attempt - 1), 30_000))
  } else {
    for (const other of liveAttempts(t)) {
      endAttempt(job, t, other, 'cancelled', cause, `attempt ${res.attempt} failed for good`)
      act.send(other.peer, taskMsg.cancel(job.id, 'another attempt of the task failed for good', [{ taskId: t.id, attempt: other.attempt }]))
    }
    failTask(job, t, res.error, cause)
    act.endJob(job, 'failed', `task ${t.id} failed: ${res.error}`)
  }
}
