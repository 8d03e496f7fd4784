/**
 * The origin's recent auction rounds, for the dashboard's auction page: each
 * closed round with its bids, who won each task and by what ETA, and what
 * went unbid. A ring of the last `capacity` rounds across this origin's jobs;
 * bids beyond `maxBids` per round are counted, not kept, so a round of a huge
 * job costs the log a bounded amount.
 */
import type { ReceivedBid } from '../auction/award.ts'

export interface LoggedBid { peer: string, taskId: string, etaMs: number, queued: boolean, won: boolean }

export interface RoundRecord {
  jobId: string
  jobName: string
  round: number
  openedAt: number
  closedAt: number
  windowMs: number
  /** Tasks announced, and how many of them were backups for stragglers. */
  tasks: number
  backups: number
  /** Peers expected to answer, and those that did. */
  expected: number
  answered: number
  /** How many bids came (all of them), and the first `maxBids` of them. */
  bidCount: number
  bids: LoggedBid[]
  /** Each awarded task with its winner and winning ETA. */
  winners: Array<{ taskId: string, peer: string, etaMs: number }>
  /** Tasks no peer bid for. */
  unbid: number
  /** Tasks whose best bid was a queue slot while a peer had room now: announced again. */
  deferred: number
}

export class RoundLog {
  readonly #ring: RoundRecord[] = []
  readonly #capacity: number
  readonly #maxBids: number

  constructor (capacity = 100, maxBids = 256) {
    this.#capacity = capacity
    this.#maxBids = maxBids
  }

  /** Record a closed round: its announced tasks, the bids it got and the winners the award rule chose. */
  add (r: { jobId: string, jobName: string, round: number, openedAt: number, closedAt: number, windowMs: number, tasks: number, backups: number, expected: number, answered: number, bids: readonly ReceivedBid[], awarded: ReadonlyMap<string, { peer: string, etaMs: number }> }): void {
    const winners = [...r.awarded].map(([taskId, w]) => ({ taskId, peer: w.peer, etaMs: w.etaMs }))
    const won = (b: ReceivedBid): boolean => r.awarded.get(b.taskId)?.peer === b.peer
    const bidTasks = new Set(r.bids.map(b => b.taskId))
    this.#ring.push({
      jobId: r.jobId,
      jobName: r.jobName,
      round: r.round,
      openedAt: r.openedAt,
      closedAt: r.closedAt,
      windowMs: r.windowMs,
      tasks: r.tasks,
      backups: r.backups,
      expected: r.expected,
      answered: r.answered,
      bidCount: r.bids.length,
      bids: r.bids.slice(0, this.#maxBids).map(b => ({ peer: b.peer, taskId: b.taskId, etaMs: b.etaMs, queued: b.queued === true, won: won(b) })),
      winners,
      unbid: Math.max(0, r.tasks - bidTasks.size),
      deferred: Math.max(0, bidTasks.size - winners.length)
    })
    if (this.#ring.length > this.#capacity) this.#ring.splice(0, this.#ring.length - this.#capacity)
  }

  /** The rounds kept, oldest first. */
  recent (): readonly RoundRecord[] { return this.#ring }
}
