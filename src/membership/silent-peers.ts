/**
 * Connected peers that subscribe to the ads topic but whose ads never reach us.
 *
 * Every peer publishes an ad at least once per period, so a connected peer
 * whose subscription we saw, and whose ads have still not arrived several
 * periods later, is not sending to us: its pub/sub does not know that we
 * subscribe. Gossipsub learns that from one message per connection, and it
 * drops every message of a peer whose score is under its graylist threshold.
 * A peer that restarts within a minute re-grafts during the backoff its
 * previous run left behind; each such graft costs it score, kept while it is
 * away. Then the announcement is dropped and the peer stays deaf to that
 * neighbour for as long as the connection lasts. A new connection sends the
 * announcement again, so the cure is to hang up and dial again: membership
 * does that for each peer this returns, waiting longer each time (up to
 * `maxMs`) for a peer that stays silent.
 */
export class SilentPeers {
  readonly #baseMs: number
  readonly #maxMs: number
  /** Peers whose subscription we saw and whose ads we have not heard since: when we began to wait. */
  readonly #waiting = new Map<string, number>()
  /** How long to wait for each peer's ads, doubled after each redial it needed; forgotten once it is heard. */
  readonly #patience = new Map<string, number>()

  constructor (baseMs: number, maxMs: number) {
    this.#baseMs = baseMs
    this.#maxMs = Math.max(baseMs, maxMs)
  }

  /** A connected peer subscribed to the ads topic: its ads should arrive within the patience. */
  subscribed (peer: string, now: number): void {
    if (!this.#waiting.has(peer)) this.#waiting.set(peer, now)
  }

  /** One of the peer's ads reached us (from it or forwarded): it is not silent. */
  heard (peer: string): void {
    this.#waiting.delete(peer)
    this.#patience.delete(peer)
  }

  /** No connection to the peer any more: nothing to wait for until it subscribes again. */
  disconnected (peer: string): void {
    this.#waiting.delete(peer)
  }

  /**
   * The peers waited on for longer than their patience. Each is expected to be
   * redialled: its wait starts again now, with twice the patience.
   */
  due (now: number): string[] {
    const out: string[] = []
    for (const [peer, since] of this.#waiting) {
      const patience = this.#patience.get(peer) ?? this.#baseMs
      if (now - since < patience) continue
      out.push(peer)
      this.#waiting.set(peer, now)
      this.#patience.set(peer, Math.min(this.#maxMs, patience * 2))
    }
    // Bounded by the peers that subscribed while connected; a churning open mesh
    // could still leave many patience entries behind: past this many, start over.
    if (this.#patience.size > 10_000) this.#patience.clear()
    return out
  }

  /** How many peers are waited on (for tests and stats). */
  get size (): number { return this.#waiting.size }
}
