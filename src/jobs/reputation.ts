/**
 * What an origin has seen each peer do with the work it was given
 * (docs/ARCHITECTURE.md §17): results delivered, against awards lost, deadlines
 * missed, attempts overtaken by a backup, transfers failed, awards rejected and
 * results that disagreed with other replicas. Every origin keeps its own
 * record from its own observations (no peer's word about another is taken),
 * across jobs, with old observations fading (half-life an hour), so a peer
 * that failed the last job is priced out of the next one, and one that then
 * behaves earns its place back. Pure: times come with the calls.
 *
 * Reliability is (delivered + 1) / (delivered + faults + 1): 1 for a peer never
 * seen (a newcomer is not punished), 1/17 for one that lost 16 attempts and
 * delivered none. `adjustedEtaMs` prices a bid by it: the expected time to a
 * result when each failure costs the time to notice it and to redo the work.
 */

/** What counts against a peer, and how much (per attempt; a crash, per crash). */
export const FAULT_WEIGHTS = {
  /** The attempt's lease lapsed: no heartbeat, no result (a black hole, or a frozen peer). */
  'lease-expired': 1,
  /** The peer went away holding attempts (a crash: honest, but the work is lost); once per departure. */
  'peer-gone': 0.5,
  /** Ran past its deadline: the task's timeout, or far past its own promise, overtaken by a backup. */
  deadline: 1,
  /** Never started (or, a replica, never finished) long after its own promise: given up. */
  stalled: 1,
  /** Could not fetch the task's inputs. */
  transfer: 0.5,
  /** Won the round, then refused the award (honest races happen: little weight). */
  rejected: 0.25,
  /** Its result disagreed with the majority of the task's replicas. */
  'wrong-result': 4
} as const

export type FaultKind = keyof typeof FAULT_WEIGHTS

/**
 * Faults only a peer that is alive and answering can commit: it heartbeats
 * work it does not finish, or sends results that disagree. A crash, a freeze or
 * a network cut can explain every other kind; these feed the gossip score.
 */
const MISCONDUCT: ReadonlySet<FaultKind> = new Set(['deadline', 'wrong-result'])

/** Observations fade with this half-life. */
const HALF_LIFE_MS = 3_600_000
/** Peers remembered at most; the least recently seen are forgotten first. */
const MAX_PEERS = 10_000
/** Below this many recent faults a peer is not shunned in a job (see `JobRecord.faultsOf`). */
export const FAULTS_BEFORE_SHUNNED = 2
/**
 * Below this reliability (three times more weighted faults than deliveries,
 * lately) a peer is shunned in every job: given only work no other live peer
 * could run, until its record fades (half-life an hour) or it earns it back.
 * Pricing alone does not keep it out: where it is the only bidder, even a
 * badly priced bid would win.
 */
export const SHUNNED_BELOW_RELIABILITY = 0.25

export interface PeerRecord {
  /** Results delivered (decayed). */
  delivered: number
  /** Weighted faults (decayed). */
  faults: number
  /** The weighted faults that are misconduct (decayed). */
  misconduct: number
  /** Each kind of fault, counted (not decayed), for operators. */
  byKind: Partial<Record<FaultKind, number>>
  /** Results that agreed with the majority in a row, for adaptive replication (reset by a disagreement). */
  agreedInARow: number
  at: number
}

export class Reputation {
  readonly #peers = new Map<string, PeerRecord>()

  /** A result from `peer` was accepted. */
  delivered (peer: string, now: number): void {
    this.#touch(peer, now).delivered += 1
  }

  fault (peer: string, kind: FaultKind, now: number): void {
    const r = this.#touch(peer, now)
    r.faults += FAULT_WEIGHTS[kind]
    if (MISCONDUCT.has(kind)) r.misconduct += FAULT_WEIGHTS[kind]
    r.byKind[kind] = (r.byKind[kind] ?? 0) + 1
    if (kind === 'wrong-result') r.agreedInARow = 0
  }

  /** `peer`'s result agreed with the majority of its task's replicas. */
  agreed (peer: string, now: number): void {
    this.#touch(peer, now).agreedInARow += 1
  }

  /** Between 0 and 1: how likely work given to `peer` comes back, from what this origin saw. */
  reliability (peer: string, now: number): number {
    const r = this.#peers.get(peer)
    if (r === undefined) return 1
    const f = decay(now - r.at)
    return (r.delivered * f + 1) / (r.delivered * f + r.faults * f + 1)
  }

  /** Like `reliability`, counting misconduct only: what the gossip score follows. */
  conduct (peer: string, now: number): number {
    const r = this.#peers.get(peer)
    if (r === undefined) return 1
    const f = decay(now - r.at)
    return (r.delivered * f + 1) / (r.delivered * f + r.misconduct * f + 1)
  }

  /**
   * What a bid's ETA is worth from `peer`: with reliability r, a result takes
   * about eta, plus (1/r − 1) tries that fail, each costing the time to notice
   * (`failMs`: the lease, the work) and the ETA again.
   */
  adjustedEtaMs (peer: string, etaMs: number, failMs: number, now: number): number {
    const r = this.reliability(peer, now)
    return r >= 1 ? etaMs : etaMs + (1 / r - 1) * (etaMs + failMs)
  }

  agreedInARow (peer: string): number { return this.#peers.get(peer)?.agreedInARow ?? 0 }

  /** Every peer's record as of `now`, for `mesh peers`, the dashboard and metrics. */
  view (now: number): Array<{ peer: string, delivered: number, faults: number, byKind: Partial<Record<FaultKind, number>>, reliability: number, agreedInARow: number }> {
    return [...this.#peers].map(([peer, r]) => {
      const f = decay(now - r.at)
      return { peer, delivered: round(r.delivered * f), faults: round(r.faults * f), byKind: { ...r.byKind }, reliability: round(this.reliability(peer, now)), agreedInARow: r.agreedInARow }
    })
  }

  #touch (peer: string, now: number): PeerRecord {
    let r = this.#peers.get(peer)
    if (r === undefined) {
      r = { delivered: 0, faults: 0, misconduct: 0, byKind: {}, agreedInARow: 0, at: now }
    } else {
      // Bring it up to now, and to the end of the map (most recently seen).
      const f = decay(now - r.at)
      r.delivered *= f
      r.faults *= f
      r.misconduct *= f
      r.at = now
      this.#peers.delete(peer)
    }
    this.#peers.set(peer, r)
    if (this.#peers.size > MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value!)
    return r
  }
}

/**
 * The gossip score a peer's conduct is worth (gossipsub's `appSpecificScore`):
 * 0 down to ½, then falling to −100 at 0. A peer that heartbeat 16 attempts
 * it never finished, or lied in results, and delivered nothing, is at −88,
 * under the graylist threshold (−80): its gossip is ignored and it is cut off
 * for a while. Crashes and lost leases only price its bids (`reliability`):
 * an honest peer that froze is not banished.
 */
export function gossipScore (conduct: number): number {
  return conduct >= 0.5 ? 0 : -100 * (1 - 2 * conduct)
}

function decay (ms: number): number {
  return ms <= 0 ? 1 : 2 ** (-ms / HALF_LIFE_MS)
}

function round (x: number): number { return Math.round(x * 1000) / 1000 }
