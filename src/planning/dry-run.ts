/**
 * What the auction would do with a job, without running it: the real core —
 * one MeshPeer per peer, with its capacity, speed and abilities, membership,
 * bids, the LP, awards, leases — on a MemoryNetwork and a ManualClock. Tasks
 * "run" by waiting their `estimateMs ÷ speed` on the manual clock, so a job of
 * hours is played out in a fraction of a second and the same input always
 * gives the same placement.
 *
 * `mesh plan` puts this beside the optimum; the placement benchmark compares
 * it with the auction on real daemons.
 */
import type { Resources } from '../../protocols/resources.ts'
import { createHighsSolver } from '../auction/lp.ts'
import type { Clock } from '../clock.ts'
import { parseConfig, type MeshConfigInput } from '../config.ts'
import type { RunContext, RunOutcome, RunRequest, TaskRunner } from '../execution/runner.ts'
import type { JobEvent, JobState } from '../jobs/job-view.ts'
import { MemoryJournal } from '../jobs/journal.ts'
import type { JobSpec } from '../jobs/spec.ts'
import { expandJob } from '../jobs/expand.ts'
import { silentLogger } from '../logger.ts'
import { MeshPeer } from '../peer.ts'
import { ManualClock, flushMicrotasks } from '../testing/manual-clock.ts'
import { MemoryBlobRegistry } from '../testing/memory-blobs.ts'
import { MemoryNetwork } from '../testing/memory-network.ts'
import { makespanOf, PlanError, type Placement, type Schedule } from './problem.ts'

export interface DryRunPeer {
  id: string
  capacity: Resources
  /** @default 1 */
  speed?: number
  /** Handlers it runs. @default every handler the job names */
  handlers?: string[]
  /** Programs it runs for exec tasks (`executor.exec.allow`). @default every program the job names */
  commands?: string[]
  tags?: string[]
}

export interface DryRunOptions {
  /** The peer the job is submitted to. @default the first peer */
  origin?: string
  /** Config fields every peer gets (e.g. `auction`); resources, tags and yield are set here. */
  config?: MeshConfigInput
  /** One-way delay of every message, ms. @default 1 */
  latencyMs?: number
  /** Simulated time for membership to settle before the job is submitted, ms. @default 3 gossip intervals */
  warmupMs?: number
  /** Give up (state stays `running`) after this much simulated time from submission. @default 10 × the total work + 60 s */
  maxSimMs?: number
}

export interface DryRunResult {
  state: JobState
  /** Submission → the job-done event, simulated ms. */
  makespanMs: number
  /** Where and when each task's accepted attempt ran (ms from submission, on the executor). */
  schedule: Schedule
  /** Auction rounds the job took. */
  rounds: number
  /** Attempts started in all (more than the tasks when some were retried or backed up). */
  attempts: number
  error?: string
}

const START = 1_700_000_000_000

/** Play `spec` out on a simulated mesh of `peers`; every task needs `estimateMs`. */
export async function dryRunAuction (spec: JobSpec, peers: DryRunPeer[], options: DryRunOptions = {}): Promise<DryRunResult> {
  if (peers.length === 0) throw new PlanError(['no peers to run the job on'])
  const workMs = new Map<string, number>()
  for (const inst of expandJob(spec)) {
    if (inst.spec.estimateMs === undefined) throw new PlanError([`task "${inst.name}" has no estimateMs: the dry run needs every task's duration`])
    workMs.set(inst.id, inst.spec.estimateMs)
  }
  const handlers = [...new Set(Object.values(spec.tasks).flatMap(t => t.kind === 'handler' ? [t.handler] : []))]
  const commands = [...new Set(Object.values(spec.tasks).flatMap(t => t.kind === 'exec' ? [t.command[0]!] : []))]

  const clock = new ManualClock(START)
  const network = new MemoryNetwork(clock, { latency: options.latencyMs ?? 1 })
  const blobs = new MemoryBlobRegistry(network)
  const solver = await createHighsSolver()
  const ran = new Map<string, Placement>()
  let attempts = 0
  let submittedAt = 0

  const meshPeers = peers.map(p => {
    const speed = p.speed ?? 1
    const runner = new SleepRunner(clock, speed, id => workMs.get(id) ?? 0, (req, start, end) => {
      ran.set(`${req.taskId}\n${req.attempt}`, { task: req.taskId, peer: p.id, startMs: start - submittedAt, endMs: end - submittedAt })
    }, () => { attempts++ })
    const config = parseConfig({
      ...options.config,
      mdns: false,
      tags: p.tags ?? [],
      // The capacity is given whole: the machine is exactly it, nothing reserved.
      resources: { cpu: 'auto', memoryMB: 'auto', gpu: 'auto', reserve: { cpu: 0, memoryMB: 0 }, custom: p.capacity.custom, speed },
      executor: { exec: { allow: p.commands ?? commands } },
      yield: { policy: 'off' }
    })
    const names = p.handlers ?? handlers
    return new MeshPeer({
      transport: network.transport(p.id),
      clock,
      logger: silentLogger,
      probe: {
        machine: { cpuCores: p.capacity.cpu, cpuModel: 'dry run', memoryMB: p.capacity.memoryMB, gpus: Array.from({ length: p.capacity.gpu }, () => ({ model: 'dry run', memoryMB: Math.floor((p.capacity.gpuMemoryMB ?? 0) / p.capacity.gpu) })) },
        speed,
        load: () => ({ avg1: 0, cpuBusy: 0, eventLoopDelayMs: 0, memoryAvailableMB: p.capacity.memoryMB })
      },
      runner,
      solver,
      blobs: blobs.store(p.id),
      journal: new MemoryJournal(),
      handlerNames: () => names
    }, config)
  })
  const origin = meshPeers.find(m => m.id === (options.origin ?? peers[0]!.id))
  if (origin === undefined) throw new PlanError([`origin "${options.origin ?? ''}" is not one of the peers`])

  try {
    for (const m of meshPeers) m.start()
    for (let i = 0; i < peers.length; i++) for (let j = i + 1; j < peers.length; j++) network.link(peers[i]!.id, peers[j]!.id)
    await advance(clock, options.warmupMs ?? 3 * origin.config.gossip.intervalMs)

    submittedAt = clock.now()
    const job = await origin.submit(spec)
    const events: JobEvent[] = []
    job.onEvent(e => { events.push(e) })
    const totalWork = [...workMs.values()].reduce((a, b) => a + b, 0)
    const deadline = submittedAt + (options.maxSimMs ?? 10 * totalWork + 60_000)
    while (job.state === 'running' && clock.now() < deadline) await advance(clock, deadline - clock.now(), () => job.state !== 'running')

    const placements: Placement[] = []
    for (const e of events) {
      if (e.type !== 'task-done') continue
      const p = ran.get(`${e.taskId}\n${e.attempt}`)
      if (p !== undefined) placements.push(p)
    }
    const end = job.endedAt ?? clock.now()
    return {
      state: job.state,
      makespanMs: end - submittedAt,
      schedule: { placements, makespanMs: makespanOf(placements) },
      rounds: job.rounds,
      attempts,
      ...(job.error !== undefined ? { error: job.error } : job.state === 'running' ? { error: `not finished after ${end - submittedAt} simulated ms` } : {})
    }
  } finally {
    await Promise.all(meshPeers.map(async m => { await m.stop() }))
  }
}

/**
 * Fire timers group by group for `ms` (or until `done()`), letting promise
 * callbacks run after each group, so a chain of awaits costs no simulated time.
 */
async function advance (clock: ManualClock, ms: number, done: () => boolean = () => false): Promise<void> {
  const target = clock.now() + ms
  await flushMicrotasks(8)
  while (clock.now() < target && !done()) {
    const next = clock.nextAt()
    const to = next === undefined ? target : Math.min(Math.max(next, clock.now()), target)
    clock.advance(to - clock.now())
    await flushMicrotasks(8)
  }
}

/** Runs every task by waiting its work ÷ speed on the manual clock. */
class SleepRunner implements TaskRunner {
  readonly #clock: Clock
  readonly #speed: number
  readonly #workMs: (taskId: string) => number
  readonly #ran: (req: RunRequest, start: number, end: number) => void
  readonly #started: () => void

  constructor (clock: Clock, speed: number, workMs: (taskId: string) => number, ran: (req: RunRequest, start: number, end: number) => void, started: () => void) {
    this.#clock = clock
    this.#speed = speed
    this.#workMs = workMs
    this.#ran = ran
    this.#started = started
  }

  async run (req: RunRequest, ctx: RunContext): Promise<RunOutcome> {
    this.#started()
    const start = this.#clock.now()
    const ms = this.#workMs(req.taskId) / this.#speed
    await new Promise<void>(resolve => {
      const h = this.#clock.setTimeout(() => { ctx.signal.removeEventListener('abort', stop); resolve() }, ms)
      const stop = (): void => { this.#clock.clearTimeout(h); resolve() }
      ctx.signal.addEventListener('abort', stop, { once: true })
    })
    if (ctx.signal.aborted) return { ok: false, reason: 'cancelled', error: 'cancelled', retryable: false }
    this.#ran(req, start, this.#clock.now())
    return { ok: true, value: null }
  }
}
