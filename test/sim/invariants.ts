/**
 * What must hold in every simulated run (docs/ARCHITECTURE.md §1.5, §5, §7, §12).
 *
 * Every step (`checkStep`):
 *  - capacity: no live peer has promised more than it has — the ledger's
 *    reserved + held-for-now amounts, the demand of the attempts its executor
 *    runs, and the demand of the handlers actually in progress are each within
 *    capacity in every resource (cpu, memory, gpu, custom); its queue within
 *    queueDepth × capacity;
 *  - one-result: at most one `task-done` per task, only for an attempt that
 *    really completed on that peer with the right value (checked as the event
 *    is emitted, in `Sim`), and a done task stays done;
 *  - lost-task: every task of a running job is somewhere it can progress from:
 *    blocked only behind an unfinished upstream, never cancelled or failed while
 *    its job runs, and an attempt out on a peer is either heard from within the
 *    lease (leaseMs + one lease-check period) or already taken back;
 *  - a job whose every task is done has ended.
 *
 * At the end (`checkEnd`, after faults stop, every job ends and a quiet period
 * passes): every job is `done` — except a job holding a task planned to fail
 * every attempt, which must be `failed` after exactly retries + 1 failures —
 * with one correct result per task and no more failures than planned; and
 * nothing leaked: no attempts, reservations, holds, handlers or unacknowledged
 * results on any peer, and every peer sees every other (alive, or at worst
 * suspect after a couple of lost ads) at its newest epoch.
 */
import { fitsIn, toUnits, type Units } from '../../src/resources/ledger.ts'
import { liveAttempts } from '../../src/jobs/job-record.ts'
import { failUntil, expectedValue } from './workload.ts'
import { START, type JobRecord, type Sim, type SimPeer } from './harness.ts'

export interface Violation {
  kind: 'capacity' | 'one-result' | 'result' | 'lost-task' | 'idle-queue' | 'leak' | 'membership'
  message: string
}

/** How long a queued attempt may fit in free capacity without starting (promise callbacks may lag a step). */
const IDLE_QUEUE_MS = 200

function over (used: Units, cap: Units): string | undefined {
  for (const [k, v] of used) {
    if (v > 0 && v > (cap.get(k) ?? 0)) return `${k} ${v / 1000} > ${(cap.get(k) ?? 0) / 1000}`
  }
  return undefined
}

function sum (list: Iterable<Units>): Units {
  const out: Units = new Map()
  for (const u of list) for (const [k, v] of u) out.set(k, (out.get(k) ?? 0) + v)
  return out
}

function jobsById (sim: Sim): Map<string, JobRecord> {
  return new Map(sim.jobs.map(j => [j.view.id, j]))
}

export function checkCapacity (sim: Sim, p: SimPeer, byId: Map<string, JobRecord>, idle: Map<string, number>): Violation[] {
  const out: Violation[] = []
  const { executor } = p.inc.mesh
  const cap = executor.ledger.capacity
  const ledger = over(executor.ledger.usedNow(), cap)
  if (ledger !== undefined) out.push({ kind: 'capacity', message: `${p.id}: ledger reserved + held now exceeds capacity: ${ledger}` })
  for (const [k, v] of executor.ledger.queueRoom()) {
    if (v < 0) out.push({ kind: 'capacity', message: `${p.id}: queue over queueDepth × capacity in ${k} by ${-v / 1000}` })
  }
  const running = executor.attempts().filter(a => a.state === 'running').map(a => {
    const spec = byId.get(a.jobId)?.view.tasks.get(a.taskId)?.inst.spec
    return spec === undefined ? new Map() : toUnits(spec.resources)
  })
  const runningOver = over(sum(running), cap)
  if (runningOver !== undefined) out.push({ kind: 'capacity', message: `${p.id}: running attempts' demand exceeds capacity: ${runningOver} (${running.length} running)` })
  // Work-conserving: a queued attempt that fits in what is free now should have started.
  if (p.status === 'up') {
    const free = executor.ledger.freeNow()
    for (const a of executor.attempts()) {
      if (a.state !== 'queued') continue
      const spec = byId.get(a.jobId)?.view.tasks.get(a.taskId)?.inst.spec
      const key = `${a.jobId}\n${a.taskId}\n${a.attempt}\n${p.id}`
      if (spec === undefined || !fitsIn(toUnits(spec.resources), free)) continue
      const since = sim.idleQueued.get(key) ?? sim.now
      idle.set(key, since)
      if (sim.now - since > IDLE_QUEUE_MS) {
        out.push({ kind: 'idle-queue', message: `${p.id}: queued attempt ${a.jobId}/${a.taskId}#${a.attempt} fits in free capacity (${[...free].map(([k, v]) => `${k}=${v / 1000}`).join(', ')}) but has not started for ${sim.now - since} ms` })
      }
    }
  }
  const inflight = over(sum(p.inc.inflight.values()), cap)
  if (inflight !== undefined) out.push({ kind: 'capacity', message: `${p.id}: handlers in progress exceed capacity: ${inflight} (${p.inc.inflight.size} in progress: ${[...p.inc.inflight.keys()].map(k => k.replaceAll('\n', '/')).join(', ')})` })
  return out
}

export function checkStep (sim: Sim): Violation[] {
  const out: Violation[] = []
  const byId = jobsById(sim)
  const idle = new Map<string, number>()
  for (const p of sim.peers.values()) {
    if (p.status !== 'crashed') out.push(...checkCapacity(sim, p, byId, idle))
  }
  sim.idleQueued = idle
  const { leaseMs, heartbeatMs } = sim.peers.values().next().value!.config.failure
  const now = sim.clock.now()
  for (const j of sim.jobs) {
    const { view, plan } = j
    for (const [taskId, n] of j.doneEvents) {
      const t = view.tasks.get(taskId)
      if (n > 0 && t?.status !== 'done') out.push({ kind: 'one-result', message: `${plan.name}/${taskId}: was done, now ${t?.status ?? 'missing'}` })
    }
    if (view.state !== 'running') continue
    const origin = sim.peer(plan.origin)
    // A frozen origin's lease checks wait for it to run again.
    const leaseApplies = origin.status === 'up' && sim.now - origin.thawedAt > heartbeatMs
    let done = 0
    for (const t of view.tasks.values()) {
      switch (t.status) {
        case 'done': done++; break
        case 'blocked':
          if (t.inst.after.every(n => view.nameDone(n))) out.push({ kind: 'lost-task', message: `${plan.name}/${t.id}: blocked though every upstream task is done` })
          break
        case 'cancelled':
        case 'failed':
          out.push({ kind: 'lost-task', message: `${plan.name}/${t.id}: ${t.status} while its job is running` })
          break
        case 'awarded':
        case 'queued':
        case 'running': {
          // Out on peers: at least one live attempt (two while a backup runs), each heard from within its lease.
          const live = liveAttempts(t)
          if (live.length === 0) {
            const a = t.attempts.at(-1)
            out.push({ kind: 'lost-task', message: `${plan.name}/${t.id}: ${t.status} with no live attempt (last: ${a === undefined ? 'none' : `#${a.attempt} on ${a.peer} ${a.state}`})` })
          }
          for (const a of live) {
            if (leaseApplies && now - a.lastHeartbeat > leaseMs + heartbeatMs) {
              const holder = sim.peers.get(a.peer)
              out.push({ kind: 'lost-task', message: `${plan.name}/${t.id}: attempt ${a.attempt} on ${a.peer} [${holder?.status ?? '?'}] silent for ${now - a.lastHeartbeat} ms, past the lease (${leaseMs} ms) and not taken back` })
            }
          }
          break
        }
        default: break
      }
    }
    if (done === view.tasks.size) out.push({ kind: 'lost-task', message: `${plan.name}: every task is done but the job is still running` })
  }
  return out
}

export function checkEnd (sim: Sim): Violation[] {
  const out: Violation[] = []
  const seed = sim.opts.seed
  if (sim.jobs.length !== sim.plans.length) out.push({ kind: 'lost-task', message: `${sim.plans.length - sim.jobs.length} planned jobs were never submitted` })
  for (const j of sim.jobs) {
    const { view, plan } = j
    if (plan.doomedTask !== undefined) {
      const doomed = plan.tasks.get(plan.doomedTask)!
      const fails = j.failedEvents.get(plan.doomedTask) ?? []
      if (view.state !== 'failed') out.push({ kind: 'result', message: `${plan.name}: holds a task that always fails, yet ended ${view.state}` })
      else if (!(view.error ?? '').includes(`task ${plan.doomedTask} failed`)) out.push({ kind: 'result', message: `${plan.name}: failed for the wrong reason: ${view.error ?? '?'}` })
      // Retries count within one life of the origin: a restored job starts them afresh.
      if (j.doomedFailuresAtEnd !== doomed.retries + 1 || fails.at(-1)?.willRetry !== false || fails.slice(0, -1).some(f => !f.willRetry)) {
        out.push({ kind: 'result', message: `${plan.name}/${plan.doomedTask}: want ${doomed.retries + 1} failures in the origin's last life (the last final), got ${j.doomedFailuresAtEnd ?? 0} (${fails.map(f => `#${f.attempt}${f.willRetry ? '' : ' final'}`).join(', ')}; ${j.restores} restores)` })
      }
    } else if (view.state !== 'done') {
      out.push({ kind: 'lost-task', message: `${plan.name}: ended ${view.state}${view.error === undefined ? '' : `: ${view.error}`}` })
    }
    for (const t of view.tasks.values()) {
      const task = plan.tasks.get(t.inst.name)!
      const fails = j.failedEvents.get(t.id) ?? []
      if (task.doomed) continue
      const allowed = failUntil(seed, plan.name, task, t.id)
      // Failures are outcomes delivered at least once: an origin that restarts after taking a failure
      // but before journaling the retry re-attaches that attempt, and the executor resends its failure.
      // What must hold is that no attempt fails beyond the plan: count distinct failed attempts.
      const failedAttempts = new Set(fails.map(f => f.attempt)).size
      if (failedAttempts > allowed) out.push({ kind: 'result', message: `${plan.name}/${t.id}: ${failedAttempts} failed attempts, planned at most ${allowed}` })
      if (fails.some(f => !f.willRetry)) out.push({ kind: 'result', message: `${plan.name}/${t.id}: a planned failure was final (retries ${task.retries}, fails until attempt ${allowed})` })
      if (view.state !== 'done') continue
      const n = j.doneEvents.get(t.id) ?? 0
      if (n !== 1) out.push({ kind: 'one-result', message: `${plan.name}/${t.id}: ${n} accepted results` })
      const v = (t.result as { v?: unknown } | undefined)?.v
      if (v !== expectedValue(seed, plan.name, t.id)) out.push({ kind: 'result', message: `${plan.name}/${t.id}: result ${JSON.stringify(t.result)}` })
    }
  }
  // Nothing leaked once every job has ended and the mesh has been quiet a while.
  const ups = sim.upPeers()
  for (const p of sim.peers.values()) {
    if (p.status !== 'up') { out.push({ kind: 'leak', message: `${p.id} is ${p.status} after the faults ended` }); continue }
    const { executor, membership } = p.inc.mesh
    const attempts = executor.attempts()
    if (attempts.length > 0) out.push({ kind: 'leak', message: `${p.id}: still holds ${attempts.length} attempts of ended jobs (${attempts.slice(0, 3).map(a => `${a.jobId}/${a.taskId}#${a.attempt} ${a.state}`).join(', ')})` })
    const used = [...executor.ledger.usedNow()].filter(([, v]) => v !== 0)
    if (used.length > 0) out.push({ kind: 'leak', message: `${p.id}: ledger still reserves ${used.map(([k, v]) => `${k}=${v / 1000}`).join(', ')}` })
    const queue = [...executor.ledger.queueRoom()].filter(([k, v]) => v !== (executor.ledger.queueCapacity.get(k) ?? 0))
    if (queue.length > 0) out.push({ kind: 'leak', message: `${p.id}: queue room not back to full: ${queue.map(([k, v]) => `${k}=${v / 1000}`).join(', ')}` })
    if (p.inc.inflight.size > 0) out.push({ kind: 'leak', message: `${p.id}: ${p.inc.inflight.size} handlers still running` })
    if (executor.outboxSize() > 0) out.push({ kind: 'leak', message: `${p.id}: ${executor.outboxSize()} results never acknowledged` })
    if (p.outbox.entries.size > 0) out.push({ kind: 'leak', message: `${p.id}: ${p.outbox.entries.size} results left in the durable outbox` })
    for (const o of ups) {
      if (o.id === p.id) continue
      const e = membership.table.get(o.id)
      const epoch = o.inc.mesh.membership.epoch
      // Suspect is allowed: with background loss, two ads in a row can go missing (and the next one revives it).
      if (e === undefined || e.state === 'gone' || e.ad.epoch !== epoch) {
        out.push({ kind: 'membership', message: `${p.id} sees ${o.id} as ${e === undefined ? 'unknown' : `${e.state} (${e.reason}) at epoch ${e.ad.epoch - START}`}, want alive at epoch ${epoch - START}` })
      }
    }
  }
  return out.slice(0, 200)
}
