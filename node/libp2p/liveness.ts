/**
 * Connection liveness with yamux ping frames, in place of libp2p's connection
 * monitor. A peer that has sent nothing, on any of its connections, for
 * `intervalMs` is pinged, and a ping not answered within an adaptive timeout
 * (the moving average of recent pings × 1.2, clamped to min..max) aborts its
 * connections: a frozen peer's connections close within `intervalMs` + the
 * timeout of the last frame it sent.
 *
 * Only silence is pinged. Anything that arrives from the peer (an ad, a bid,
 * its own ping, our ping's answer) proves it alive as well as a ping would,
 * and one ping and its answer prove each end alive to the other. So the two
 * ends take turns: after our ping is answered we wait `TURN_MS` longer than
 * the interval, and the peer, which counts from our ping, pings first. An
 * idle pair exchanges one ping per interval, fewer when ads flow, where
 * every connection (two per pair, when both ends dialled) used to carry two
 * pings and two answers per interval. Each frame costs
 * its encryption, a write and a read at both ends: those pings were a third
 * of an idle peer's CPU (3-peer mesh, measured: 1 % of a core of about 3 %).
 *
 * An unanswered ping is remembered (`unanswered`): the transport's liveness
 * probe, which the core runs when a connection closes, answers from it at
 * once instead of dialling a frozen peer and waiting out a second timeout.
 *
 * A late answer is judged only after this process has read what arrived
 * while it was not running (see `settleWithin`): on a saturated machine the
 * reply is often already in the socket when the timeout fires, and blaming
 * the peer for our own stall aborted connections mesh-wide, whose
 * re-handshakes cost more CPU, which stalled every peer more.
 *
 * Why not libp2p's monitor: it opens a new stream per ping (stream open and
 * close frames, a multistream-select negotiation, a peer-store write at both
 * ends), and it started a ping on a connection whose last ping was still
 * outstanding, which on a loaded machine exceeded the ping protocol's stream
 * limit and aborted healthy connections; here a connection has one ping
 * outstanding at most.
 */
import type { ComponentLogger, Connection, Logger, Startable } from '@libp2p/interface'
import { AdaptiveTimeout } from '@libp2p/utils'

export interface LivenessInit {
  intervalMs: number
  minTimeoutMs: number
  maxTimeoutMs: number
}

/** What the transport asks of the liveness service. */
export interface Liveness {
  /** Whether a ping to `peer` went unanswered (and its connection was aborted) within the last `withinMs`. */
  unanswered: (peer: string, withinMs: number) => boolean
}

interface LivenessComponents {
  connectionManager: { getConnections: () => Connection[] }
  logger: ComponentLogger
}

/** What this needs of a connection's stream muxer (yamux has it; other muxers are skipped). */
interface PingingMuxer {
  ping: (options?: { signal?: AbortSignal }) => Promise<number>
  /** The connection under the muxer: every frame from the peer arrives on it as a 'message' event. */
  maConn?: { addEventListener: (type: 'message', listener: () => void) => void }
}

/**
 * How much longer than the interval an end waits after its own ping was
 * answered, so the other end's turn comes first: far more than a one-way
 * delay plus timer jitter, and a small part of the detection time it adds
 * (a frozen peer's silence is noticed within `intervalMs` + this).
 */
const TURN_MS = 25

class MuxerLiveness implements Startable, Liveness {
  readonly #components: LivenessComponents
  readonly #init: LivenessInit
  readonly #log: Logger
  readonly #timeout: AdaptiveTimeout
  /** Connections whose frames are watched. */
  readonly #watched = new WeakSet<Connection>()
  /** When anything last arrived from each peer, on any of its connections (performance.now()). */
  readonly #heard = new Map<string, number>()
  /** Peers with a ping outstanding. */
  readonly #pinging = new Set<string>()
  /** Peers whose last frame was the answer to our ping: the next ping is their turn. */
  readonly #answered = new Set<string>()
  /** Peers whose ping went unanswered, and when. */
  readonly #unanswered = new Map<string, number>()
  #timer: NodeJS.Timeout | undefined
  /** When the armed wake-up fires (performance.now()). */
  #wakeAt = Infinity
  #stopping = new AbortController()

  constructor (components: LivenessComponents, init: LivenessInit) {
    this.#components = components
    this.#init = init
    this.#log = components.logger.forComponent('meshwork:liveness')
    this.#timeout = new AdaptiveTimeout({ minTimeout: init.minTimeoutMs, maxTimeout: init.maxTimeoutMs })
  }

  readonly [Symbol.toStringTag] = 'meshwork-liveness'

  start (): void {
    this.#stopping = new AbortController()
    this.#arm(this.#init.intervalMs)
  }

  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#stopping.abort()
  }

  unanswered (peer: string, withinMs: number): boolean {
    const at = this.#unanswered.get(peer)
    return at !== undefined && performance.now() - at <= withinMs
  }

  #arm (ms: number): void {
    if (this.#stopping.signal.aborted) return
    clearTimeout(this.#timer)
    const delay = Math.max(ms, 1)
    this.#wakeAt = performance.now() + delay
    this.#timer = setTimeout(() => { this.#check() }, delay)
  }

  /** Wake up within `ms` at the latest. */
  #armWithin (ms: number): void {
    if (performance.now() + ms < this.#wakeAt) this.#arm(ms)
  }

  /**
   * Ping every peer silent for an interval; wake again when the next one
   * will be. A peer is judged as a whole: two peers that dialled each other
   * at once share two connections, and a frame on either proves it alive.
   */
  #check (): void {
    const now = performance.now()
    const byPeer = new Map<string, Connection[]>()
    for (const conn of this.#components.connectionManager.getConnections()) {
      if (conn.status !== 'open' || typeof muxerOf(conn)?.ping !== 'function') continue
      const peer = conn.remotePeer.toString()
      byPeer.set(peer, [...(byPeer.get(peer) ?? []), conn])
      this.#watch(conn, peer, now)
    }
    for (const peer of this.#heard.keys()) if (!byPeer.has(peer)) this.#forget(peer)
    let next = this.#init.intervalMs
    for (const [peer, conns] of byPeer) {
      if (this.#pinging.has(peer)) continue
      const dueIn = (this.#heard.get(peer) ?? now) + this.#init.intervalMs + (this.#answered.has(peer) ? TURN_MS : 0) - now
      if (dueIn <= 0) this.#ping(peer, conns)
      else next = Math.min(next, dueIn)
    }
    for (const [peer, at] of this.#unanswered) if (now - at > 60_000) this.#unanswered.delete(peer)
    this.#arm(next)
  }

  /** Start counting a new connection's frames; a peer first seen now counts its silence from now. */
  #watch (conn: Connection, peer: string, now: number): void {
    if (this.#watched.has(conn)) return
    this.#watched.add(conn)
    if (!this.#heard.has(peer)) this.#heard.set(peer, now)
    muxerOf(conn)?.maConn?.addEventListener('message', () => {
      this.#heard.set(peer, performance.now())
      this.#answered.delete(peer)
    })
  }

  #forget (peer: string): void {
    this.#heard.delete(peer)
    this.#answered.delete(peer)
  }

  /** Ping the peer on its busiest connection; no answer in time aborts all of them. */
  #ping (peer: string, conns: Connection[]): void {
    const conn = conns.reduce((a, b) => b.streams.length > a.streams.length ? b : a)
    this.#pinging.add(peer)
    // The timeout signal only feeds the adaptive timeout's statistics; the
    // ping itself gets no signal, because yamux forgets an aborted ping and
    // then treats its late answer as a protocol error.
    const signal = this.#timeout.getTimeoutSignal()
    const timeoutMs = (signal as { timeout?: number }).timeout ?? this.#init.maxTimeoutMs
    settleWithin((muxerOf(conn) as PingingMuxer).ping(), timeoutMs).then(rtt => {
      conn.rtt = rtt
      // The answer was the last frame heard (the 'message' listener ran just before).
      this.#answered.add(peer)
    }, (err: Error) => {
      if (this.#stopping.signal.aborted) return
      this.#log.error('ping of %p failed, aborting its connections - %e', conn.remotePeer, err)
      this.#unanswered.set(peer, performance.now())
      this.#forget(peer)
      for (const c of conns) c.abort(err)
    }).finally(() => {
      this.#timeout.cleanUp(signal)
      this.#pinging.delete(peer)
      // Its next ping is due an interval after the answer; make sure a wake-up comes by then.
      if (conn.status === 'open') this.#armWithin(this.#init.intervalMs + TURN_MS)
    })
  }
}

function muxerOf (conn: Connection): Partial<PingingMuxer> | undefined {
  return (conn as unknown as { muxer?: Partial<PingingMuxer> }).muxer
}

/**
 * `promise`, or a TimeoutError if it has not settled `ms` after the call. The
 * verdict waits for one turn of the event loop's I/O phase after the timer:
 * when this process has been stalled (a busy loop, or no CPU), due timers run
 * before the socket reads that were waiting, so an answer that arrived in time
 * would otherwise count as late.
 */
export async function settleWithin<T> (promise: Promise<T>, ms: number): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return
        settled = true
        reject(new DOMException(`no answer within ${ms} ms`, 'TimeoutError'))
      })
    }, ms)
    promise.then(value => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(value)
    }, (err: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(err instanceof Error ? err : new Error(String(err)))
    })
  })
}

/** A libp2p service: `services: { liveness: muxerLiveness({...}) }`, with `connectionMonitor: { enabled: false }`. */
export function muxerLiveness (init: LivenessInit): (components: LivenessComponents) => Startable & Liveness {
  return components => new MuxerLiveness(components, init)
}
