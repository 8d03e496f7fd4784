/**
 * Peers that misbehave on gossip are cut off for a while (docs/ARCHITECTURE.md
 * §17). Gossipsub scores every peer: invalid messages on Meshwork's topics cost
 * it (squared), and so does a poor record as an executor (the origin's
 * reputation, through `appSpecificScore`). Below the graylist threshold
 * gossipsub already ignores what the peer sends; this goes further: the peer
 * is hung up on and its connections refused (the connection gater) for a
 * cool-off that doubles with each offence, from 30 s up to 10 minutes, so a
 * flooding peer costs nothing but the check that refuses it. Every quarantine
 * is logged and counted.
 */
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../../src/logger.ts'
import type { MeshLibp2p } from './create.ts'

/** Below this score a peer is cut off (gossipsub's own graylist threshold). */
export const GRAYLIST_THRESHOLD = -80
const FIRST_COOL_OFF_MS = 30_000
const MAX_COOL_OFF_MS = 600_000
const CHECK_EVERY_MS = 1000
/** Offenders remembered at most (each identity costs an entry). */
const MAX_REMEMBERED = 4096

interface Offender { until: number, coolOffMs: number, offences: number }

/** Who is refused now; the connection gater asks it for every dial and inbound connection. */
export class Quarantine {
  readonly #offenders = new Map<string, Offender>()
  #timer: NodeJS.Timeout | undefined
  /** Called on each new quarantine (metrics). */
  onQuarantine: ((peer: string, score: number) => void) | undefined

  isRefused (peer: PeerId | string, now = Date.now()): boolean {
    const o = this.#offenders.get(peer.toString())
    return o !== undefined && o.until > now
  }

  /** Peers refused now, with when they may come back and how often they offended. */
  list (now = Date.now()): Array<{ peer: string, until: number, offences: number }> {
    return [...this.#offenders].filter(([, o]) => o.until > now).map(([peer, o]) => ({ peer, until: o.until, offences: o.offences }))
  }

  /** Cut `peer` off: for 30 s the first time, twice as long each time after. */
  refuse (peer: string, now = Date.now()): number {
    const prev = this.#offenders.get(peer)
    const coolOffMs = prev === undefined ? FIRST_COOL_OFF_MS : Math.min(MAX_COOL_OFF_MS, prev.coolOffMs * 2)
    this.#offenders.delete(peer)
    this.#offenders.set(peer, { until: now + coolOffMs, coolOffMs, offences: (prev?.offences ?? 0) + 1 })
    if (this.#offenders.size > MAX_REMEMBERED) this.#offenders.delete(this.#offenders.keys().next().value!)
    return coolOffMs
  }

  /** Check every connected peer's gossip score once a second; hang up on those below the threshold. */
  start (node: MeshLibp2p, log: Logger): void {
    this.#timer = setInterval(() => {
      // The implementation scores peers; its exported interface leaves `getScore` out.
      const pubsub = node.services.pubsub as unknown as { getScore: (peer: string) => number }
      for (const conn of node.getConnections()) {
        const peer = conn.remotePeer.toString()
        if (this.isRefused(peer)) { void conn.close().catch(() => {}); continue }
        const score = pubsub.getScore(peer)
        if (score >= GRAYLIST_THRESHOLD) continue
        const ms = this.refuse(peer)
        log.warn({ peer, score: Math.round(score), coolOffMs: ms }, 'peer quarantined: its gossip score fell below the graylist threshold (invalid messages, or work it failed); connections refused for a while')
        this.onQuarantine?.(peer, score)
        void node.hangUp(conn.remotePeer).catch(() => {})
      }
    }, CHECK_EVERY_MS)
    this.#timer.unref()
  }

  stop (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
  }
}
