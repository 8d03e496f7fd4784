/**
 * What it costs the origin to use a remote peer, learned from its own rounds:
 * the time from opening a round to a peer's bid arriving — a round trip plus
 * the bidder's work — is about what an award and its result add on top of the
 * peer's ETA. The award rule adds it to remote bids (this peer's own bids
 * cost none), so a task whose result would be back sooner here runs here
 * without a network hop, and a round closes as soon as the local bid is
 * known to win (docs/ARCHITECTURE.md §6).
 */

/** Samples kept per peer; the median of them is the estimate. */
const SAMPLES = 9

export class PeerLatency {
  readonly #self: string
  readonly #samples = new Map<string, number[]>()
  readonly #estimate = new Map<string, number>()

  constructor (self: string) { this.#self = self }

  /** A bid from `peer` arrived `ms` after its round opened. */
  observe (peer: string, ms: number): void {
    if (peer === this.#self || !Number.isFinite(ms) || ms < 0) return
    let list = this.#samples.get(peer)
    if (list === undefined) this.#samples.set(peer, list = [])
    list.push(ms)
    if (list.length > SAMPLES) list.shift()
    this.#estimate.set(peer, [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!)
  }

  /** The extra ms a remote peer's result takes to come back (0 for this peer, and until measured). */
  of (peer: string): number {
    return this.#estimate.get(peer) ?? 0
  }

  /** A peer that left: its samples go with it. */
  forget (peer: string): void {
    this.#samples.delete(peer)
    this.#estimate.delete(peer)
  }
}
