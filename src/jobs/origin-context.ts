/**
 * What the origin's state machine and its helpers (rounds, reports) see of
 * the world: the time, the live peers, and a sink for effects. Events come in
 * through `OriginMachine.handle`; everything the machine wants done outside
 * itself leaves as an `OriginEffect`, performed by the driver (`origin.ts`).
 */
import type { MeshMetrics } from '../metrics.ts'
import type { AuctionMessage, CallForBids } from '../../protocols/auction.ts'
import type { BlobRef, ExecutorToOrigin, FileData, OriginToExecutor, TaskResult } from '../../protocols/task.ts'
import type { Bid } from '../../protocols/auction.ts'
import type { JobEvent } from './job-record.ts'
import type { JournalAttempt, JournalJob, JournalJobState, JournalResult, JournalSnapshot } from './journal.ts'
import type { LivePeer } from './why.ts'
import type { PeerLatency } from './peer-latency.ts'
import type { WorkEstimates } from './work-estimates.ts'
import type { Reputation } from './reputation.ts'

export interface OriginInit {
  bidWindowMs: number
  queueDepth: number
  heartbeatMs: number
  leaseMs: number
  /** An ended job is forgotten (memory and journal) this long after it ended; default: never. */
  keepEndedMs?: number
}

export type OriginTimer =
  | { kind: 'round', jobId: string }
  /** Acknowledgements are batched for a millisecond (they are not on any task's critical path). */
  | { kind: 'acks' }
  /** Leases and stragglers are checked once per heartbeat period. */
  | { kind: 'lease' }
  /** The earliest pending task's retry time (or idle backoff) fell due. */
  | { kind: 'retry' }

export function timerKey (t: OriginTimer): string {
  return t.kind === 'round' ? `round:${t.jobId}` : t.kind
}

/** A result with its blobs brought home: the value, and output files as local blobs or inline data. */
export interface FetchedResult { from: string, jobId: string, result: TaskResult, value: unknown, outputs: Record<string, FileData> }

export type OriginEvent =
  | { type: 'start' }
  | { type: 'stop' }
  /** A job was journaled by the driver: take it on. */
  | { type: 'submitted', job: JournalJob }
  | { type: 'restore', snapshot: JournalSnapshot }
  | { type: 'cancel', jobId: string, reason: string }
  | { type: 'bid', from: string, bid: Bid }
  | { type: 'report', from: string, msg: ExecutorToOrigin }
  | { type: 'peer-gone', peer: string }
  | { type: 'capacity-appeared' }
  | { type: 'timer', timer: OriginTimer }
  | { type: 'awards-journaled', jobId: string, error?: string }
  | { type: 'result-fetched', fetched: FetchedResult }
  | { type: 'result-fetch-failed', from: string, jobId: string, result: TaskResult, error: string }
  | { type: 'result-journaled', fetched: FetchedResult, error?: string }
  | { type: 'checkpoint-fetched', jobId: string, taskId: string, state: unknown }

export type OriginEffect =
  | { type: 'publish', msg: AuctionMessage }
  /** Hand our own call for bids to this peer's bidder (gossip does not echo our own messages). */
  | { type: 'bid-locally', cfb: CallForBids }
  | { type: 'send', peer: string, msg: OriginToExecutor }
  /** Journal these attempts, then feed back `awards-journaled`. */
  | { type: 'journal-attempts', jobId: string, attempts: JournalAttempt[] }
  /** Fetch a result's value and output blobs from the peer, then feed back `result-fetched` (or `result-fetch-failed`). */
  | { type: 'fetch-result', from: string, jobId: string, result: TaskResult }
  /** Make the result durable, then feed back `result-journaled`. */
  | { type: 'journal-result', fetched: FetchedResult, record: JournalResult }
  | { type: 'journal-job-state', jobId: string, state: JournalJobState }
  /** Fetch a large checkpoint now, while its peer is here, then feed back `checkpoint-fetched`. */
  | { type: 'fetch-checkpoint', from: string, jobId: string, taskId: string, ref: BlobRef }
  | { type: 'set-timer', timer: OriginTimer, at: number }
  | { type: 'clear-timer', timer: OriginTimer }
  | { type: 'emit', jobId: string, event: JobEvent }
  | { type: 'log', level: 'debug' | 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string }

export interface OriginContext {
  readonly self: string
  readonly init: OriginInit
  now: () => number
  /** Live peers, this one included (and peers that do not run our jobs, with their `caps.origins`). */
  livePeers: () => LivePeer[]
  /** A peer's advertised speed, if known: one lookup, for every result (not the whole live list). */
  speedOf: (peer: string) => number | undefined
  out: (effect: OriginEffect) => void
  /** Pump every job again at `at` (the earliest requested time wins). */
  armRetry: (at: number) => void
  /** What using each peer costs on top of its ETA, learned from bid arrival times. */
  latency: PeerLatency
  /** What each kind of work took in earlier jobs (ms at speed 1.0). */
  work: WorkEstimates
  /** Counts for operators (`/metrics`). */
  metrics: MeshMetrics
  /** What each peer did with the work this origin gave it, across jobs: prices its bids. */
  reputation: Reputation
  /** A draw in [0, 1) nobody else can predict (adaptive replication picks the results it checks with it). */
  random: () => number
}
