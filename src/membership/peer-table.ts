/**
 * The peer table: what this peer knows of every other peer, and the liveness
 * rules. Pure: every method takes `now` and returns what changed; nothing here
 * reads a clock, sets a timer or touches the network (`Membership` does that).
 *
 *   new ──ad──▶ alive ──no ad for suspectMs──▶ suspect ──goneMs more──▶ gone ──forgetMs──▶ forgotten
 *                 ▲  ▲                            │                      │
 *                 │  └──────────── newer ad ──────┘                      │
 *                 └──────────────── newer ad (after quarantine) ─────────┘
 *   alive|suspect ──connection closed + ping failed──▶ gone   (a crashed process)
 *   alive|suspect ──ad with leaving=true──▶ gone               (a clean shutdown)
 */
import type { ResourceAd } from '../../protocols/resources.ts'
import type { Verdict } from '../transport.ts'

export type PeerState = 'alive' | 'suspect' | 'gone'

export interface PeerEntry {
  readonly id: string
  /** The newest ad accepted from this peer (by epoch, then seq). */
  ad: ResourceAd
  state: PeerState
  /** Local time the newest ad arrived. Suspicion counts from here. */
  lastSeen: number
  /** Local time of the last state change, and why it changed. */
  since: number
  reason: string
  /** True while a liveness probe for a lost connection is outstanding: one loss, one probe. */
  probing: boolean
  /**
   * After a crash is detected, ads of the same epoch still in flight through
   * other peers must not revive the peer; until this time they are ignored.
   * A restarted process has a new epoch and is accepted at once.
   */
  quarantineUntil: number
}

export interface StateChange {
  peer: string
  from: PeerState | 'new'
  to: PeerState | 'forgotten'
  reason: string
  at: number
}

export interface PeerTableOptions {
  self: string
  suspectMs: number
  goneMs: number
  forgetMs: number
  /** How long same-epoch ads are ignored after a detected crash. */
  quarantineMs: number
}

export class PeerTable {
  readonly #opts: PeerTableOptions
  readonly #peers = new Map<string, PeerEntry>()

  constructor (opts: PeerTableOptions) {
    this.#opts = opts
  }

  get (peer: string): PeerEntry | undefined {
    return this.#peers.get(peer)
  }

  entries (): PeerEntry[] {
    return [...this.#peers.values()]
  }

  /** Peers currently believed alive (suspect peers are not offered work). */
  alive (): PeerEntry[] {
    const out: PeerEntry[] = []
    for (const e of this.#peers.values()) if (e.state === 'alive') out.push(e)
    return out
  }

  /** A decoded, signer-checked ad arrived. */
  receiveAd (ad: ResourceAd, now: number): { verdict: Verdict, change?: StateChange } {
    // Our own ads echoed back carry nothing new.
    if (ad.peerId === this.#opts.self) return { verdict: 'ignore' }
    const entry = this.#peers.get(ad.peerId)

    if (entry === undefined) {
      const fresh: PeerEntry = {
        id: ad.peerId, ad, state: 'alive', lastSeen: now, since: now, reason: 'first ad', probing: false, quarantineUntil: 0
      }
      this.#peers.set(ad.peerId, fresh)
      if (ad.leaving === true) return { verdict: 'accept', change: this.#move(fresh, 'gone', 'left the mesh (clean shutdown)', now, 'new') }
      return { verdict: 'accept', change: { peer: ad.peerId, from: 'new', to: 'alive', reason: 'first ad', at: now } }
    }

    // Ignore ads older than the newest we accepted (gossip may reorder or replay them).
    if (!isNewer(ad, entry.ad)) return { verdict: 'ignore' }
    // Ignore same-epoch stragglers right after a detected crash.
    if (entry.state === 'gone' && ad.epoch === entry.ad.epoch && now < entry.quarantineUntil) return { verdict: 'ignore' }

    const restarted = ad.epoch !== entry.ad.epoch
    entry.ad = ad
    entry.lastSeen = now
    if (ad.leaving === true) {
      return { verdict: 'accept', change: entry.state === 'gone' ? undefined : this.#move(entry, 'gone', 'left the mesh (clean shutdown)', now) }
    }
    if (entry.state !== 'alive') {
      const why = restarted ? 'ad received (restarted)' : 'ad received'
      return { verdict: 'accept', change: this.#move(entry, 'alive', why, now) }
    }
    return { verdict: 'accept' }
  }

  /**
   * The last connection to `peer` closed. Returns true when the caller should
   * probe it (ping); a closed connection alone proves nothing, since libp2p
   * prunes and replaces connections.
   */
  connectionLost (peer: string): boolean {
    const entry = this.#peers.get(peer)
    if (entry === undefined || entry.state === 'gone' || entry.probing) return false
    entry.probing = true
    return true
  }

  /** The probe started by `connectionLost` answered (`ok`) or did not. */
  probeResult (peer: string, ok: boolean, now: number): StateChange | undefined {
    const entry = this.#peers.get(peer)
    if (entry === undefined) return undefined
    entry.probing = false
    if (ok || entry.state === 'gone') return undefined
    entry.quarantineUntil = now + this.#opts.quarantineMs
    return this.#move(entry, 'gone', 'connection closed and ping failed', now)
  }

  /** Apply the timeout rules as of `now`. */
  tick (now: number): StateChange[] {
    const { suspectMs, goneMs, forgetMs } = this.#opts
    const changes: StateChange[] = []
    for (const entry of this.#peers.values()) {
      const silent = now - entry.lastSeen
      if (entry.state === 'alive' && silent >= suspectMs) {
        changes.push(this.#move(entry, 'suspect', `no ad for ${silent} ms`, now))
      }
      // Not `else`: a clock that jumped past both deadlines moves straight through.
      if (entry.state === 'suspect' && silent >= suspectMs + goneMs) {
        changes.push(this.#move(entry, 'gone', `no ad for ${silent} ms`, now))
      }
      if (entry.state === 'gone' && now - entry.since >= forgetMs) {
        this.#peers.delete(entry.id)
        changes.push({ peer: entry.id, from: 'gone', to: 'forgotten', reason: `gone for ${now - entry.since} ms`, at: now })
      }
    }
    return changes
  }

  /** The earliest time at which `tick` would change something; undefined when nothing is pending. */
  nextDeadline (): number | undefined {
    let next: number | undefined
    for (const e of this.#peers.values()) {
      const at = this.#deadline(e)
      if (next === undefined || at < next) next = at
    }
    return next
  }

  /** When `tick` would next change `peer`'s entry; undefined when there is none. */
  deadlineOf (peer: string): number | undefined {
    const e = this.#peers.get(peer)
    return e === undefined ? undefined : this.#deadline(e)
  }

  #deadline (e: PeerEntry): number {
    const { suspectMs, goneMs, forgetMs } = this.#opts
    return e.state === 'alive'
      ? e.lastSeen + suspectMs
      : e.state === 'suspect' ? e.lastSeen + suspectMs + goneMs : e.since + forgetMs
  }

  #move (entry: PeerEntry, to: PeerState, reason: string, now: number, from: PeerState | 'new' = entry.state): StateChange {
    entry.state = to
    entry.since = now
    entry.reason = reason
    return { peer: entry.id, from, to, reason, at: now }
  }
}

/** Is `a` a later ad than `b` from the same peer? A restart (new epoch) always is. */
export function isNewer (a: ResourceAd, b: ResourceAd): boolean {
  return a.epoch !== b.epoch ? a.epoch > b.epoch : a.seq > b.seq
}
