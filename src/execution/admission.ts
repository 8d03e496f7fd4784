/**
 * Admission and the bounded queue (docs/ARCHITECTURE.md §5, §14): an award is
 * accepted only if this peer can still run the task for that origin (the same
 * requirement rule the bidder used) and the ledger has room for it now or in
 * the queue; queued attempts start as capacity frees, those with the most
 * work waiting on them first.
 */
import type { AttemptRef, AwardMsg, AwardedTask, BlobRef } from '../../protocols/task.ts'
import { attemptRefOf } from '../../protocols/task.ts'
import { describeShortfall, shortfall, type PeerAbility } from '../auction/feasibility.ts'
import { requirementsOfAward } from '../auction/requirements.ts'
import { attemptKey, type AttemptKey } from '../keys.ts'
import { gpuNeed, type GpuDevices } from './gpu-devices.ts'
import { toUnits, type Ledger } from '../resources/ledger.ts'

/** One attempt this peer has accepted: queued, or running. */
export interface Attempt {
  key: AttemptKey
  origin: string
  jobId: string
  task: AwardedTask
  state: 'queued' | 'running'
  abort: AbortController
  startedAt?: number
  fraction?: number
  message?: string
  /** The task has saved a checkpoint in this attempt, so it can be given back without losing its work. */
  checkpointed?: boolean
  /** Blobs holding the latest checkpoint (large ones), for the origin to fetch. */
  checkpointBlobs?: BlobRef[]
  /** The GPUs (device numbers on this peer) the attempt holds while it runs. */
  gpus?: number[]
  /** With `gpus`: MB of the one device's memory it holds as a share (it holds the devices whole when absent). */
  gpuShareMB?: number
  /** GPU memory (MB) the attempt may use on each of its devices: its share, or the least memory of its whole devices; absent when unknown. */
  gpuMemoryMB?: number
}

export interface AdmissionDeps {
  ledger: Ledger
  /** This peer's GPUs, handed out to attempts as they start. */
  gpus: GpuDevices
  /** Something that should never happen did (devices short of what the ledger allowed). */
  warn: (fields: Record<string, unknown>, msg: string) => void
  ability: () => PeerAbility
  /** Start an attempt that has room now. */
  start: (a: Attempt) => void
  /** Capacity went back to the ledger. */
  released: () => void
}

export class Admission {
  readonly #d: AdmissionDeps
  readonly #attempts = new Map<AttemptKey, Attempt>()
  readonly #queue: AttemptKey[] = []

  constructor (deps: AdmissionDeps) { this.#d = deps }

  get size (): number { return this.#attempts.size }
  has (key: AttemptKey): boolean { return this.#attempts.has(key) }
  values (): IterableIterator<Attempt> { return this.#attempts.values() }
  get queued (): readonly AttemptKey[] { return this.#queue }
  get (key: AttemptKey): Attempt | undefined { return this.#attempts.get(key) }

  /** Decide an award's tasks: accepted ones start now or queue; the rest are rejected with the reason. */
  admit (origin: string, msg: AwardMsg): { accepted: AttemptRef[], rejected: Array<AttemptRef & { reason: string }> } {
    const accepted: AttemptRef[] = []
    const rejected: Array<AttemptRef & { reason: string }> = []
    const ability = this.#d.ability()
    const { ledger } = this.#d
    for (const task of msg.tasks) {
      const key = attemptKey(origin, msg.jobId, task.taskId, task.attempt)
      if (this.#attempts.has(key)) { accepted.push(attemptRefOf(task)); continue } // a duplicate award: already ours
      const s = shortfall(ability, requirementsOfAward(task), { origin })
      if (s !== undefined) { ledger.release(key); rejected.push({ ...attemptRefOf(task), reason: describeShortfall(s) }); continue }
      const slot = ledger.reserve(key, toUnits(task.demand))
      if (slot === undefined) { rejected.push({ ...attemptRefOf(task), reason: 'capacity no longer free' }); continue }
      const attempt: Attempt = { key, origin, jobId: msg.jobId, task, state: 'queued', abort: new AbortController() }
      this.#attempts.set(key, attempt)
      accepted.push(attemptRefOf(task))
      if (slot === 'now' && this.#devicesFit(attempt)) this.#start(attempt)
      else {
        // Room in the totals but on no single GPU (shares spread over cards): it waits for a device.
        if (slot === 'now') ledger.demote(key)
        this.#enqueue(attempt)
      }
    }
    return { accepted, rejected }
  }

  /** The attempts of `origin`'s job `jobId` (all, or the listed ones). */
  select (origin: string, jobId: string, tasks?: readonly AttemptRef[]): Attempt[] {
    if (tasks === undefined) return [...this.#attempts.values()].filter(a => a.jobId === jobId && a.origin === origin)
    return tasks.map(t => this.#attempts.get(attemptKey(origin, jobId, t.taskId, t.attempt))).filter((a): a is Attempt => a !== undefined)
  }

  /** The attempt is over (finished, cancelled, given back): its capacity and devices go back. */
  finish (a: Attempt): void {
    this.#attempts.delete(a.key)
    this.#d.ledger.release(a.key)
    if (a.gpus !== undefined) this.#d.gpus.give(a.gpus, a.gpuShareMB)
    a.gpus = undefined
    a.gpuShareMB = undefined
    a.gpuMemoryMB = undefined
    const qi = this.#queue.indexOf(a.key)
    if (qi >= 0) this.#queue.splice(qi, 1)
    this.#d.released()
  }

  /** Do the GPU devices have room for the attempt now (whole devices, or a share of one)? */
  #devicesFit (a: Attempt): boolean {
    const { n, memoryMB } = gpuNeed(a.task.demand)
    return this.#d.gpus.fits(n, memoryMB)
  }

  /** Start an attempt the ledger and the devices have room for now, with its GPUs. */
  #start (a: Attempt): void {
    const { n, memoryMB } = gpuNeed(a.task.demand)
    if (n > 0 || memoryMB > 0) {
      a.gpus = this.#d.gpus.take(n, memoryMB)
      if (a.gpus === undefined) {
        // Checked just before: should never happen. Run without, and say so.
        this.#d.warn({ jobId: a.jobId, taskId: a.task.taskId, want: n, memoryMB, devices: this.#d.gpus.count, held: this.#d.gpus.held }, 'no free GPU device for an attempt the ledger admitted')
        a.gpus = []
      } else if (n === 0) {
        a.gpuShareMB = memoryMB
        a.gpuMemoryMB = memoryMB
      } else {
        const state = this.#d.gpus.state()
        const least = Math.min(...a.gpus.map(i => state[i]?.memoryMB ?? 0))
        if (least > 0) a.gpuMemoryMB = least
      }
    }
    this.#d.start(a)
  }

  /**
   * Queue an attempt behind those with at least its rank (more work waiting on
   * them downstream), ahead of the rest: the queue is a list schedule by
   * upward rank, arrival order among equals.
   */
  #enqueue (a: Attempt): void {
    const rank = a.task.rankMs ?? 0
    let lo = 0
    let hi = this.#queue.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((this.#attempts.get(this.#queue[mid]!)?.task.rankMs ?? 0) >= rank) lo = mid + 1
      else hi = mid
    }
    this.#queue.splice(lo, 0, a.key)
  }

  /** Start queued attempts, highest rank first, while they fit. */
  startQueued (): void {
    for (let i = 0; i < this.#queue.length;) {
      const a = this.#attempts.get(this.#queue[i]!)
      if (a === undefined) { this.#queue.splice(i, 1); continue }
      if (this.#d.ledger.promote(a.key)) {
        if (!this.#devicesFit(a)) {
          // The totals have room, no device does yet: stay queued, let smaller ones past.
          this.#d.ledger.demote(a.key)
          i++
          continue
        }
        this.#queue.splice(i, 1)
        this.#start(a)
      } else {
        i++
      }
    }
  }

  /**
   * Time for the work queued here ahead of a task of rank `rankMs` to drain:
   * each such attempt's typical length, spread over the cores.
   */
  queueAheadMs (typicalMs: number, rankMs = Infinity): number {
    const cores = (this.#d.ledger.capacity.get('cpu') ?? 0) / 1000
    if (cores <= 0 || this.#queue.length === 0) return 0
    let coreMs = 0
    for (const key of this.#queue) {
      const task = this.#attempts.get(key)?.task
      // A task of rank r starts ahead of queued ones of lower rank: only those of rank ≥ r wait before it.
      if ((task?.rankMs ?? 0) < rankMs) break
      coreMs += typicalMs * (task?.demand.cpu ?? 1)
    }
    return coreMs / cores
  }
}
