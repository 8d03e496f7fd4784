/**
 * Connection liveness with yamux ping frames, in place of libp2p's connection
 * monitor. The rule is the monitor's: every `intervalMs` each open connection
 * is pinged, and a ping not answered within an adaptive timeout (the moving
 * average of recent pings × 1.2, clamped to min..max) aborts the connection,
 * which is how a frozen peer's connection closes within about a second.
 *
 * What differs is the cost. libp2p's monitor opens a new stream per ping:
 * stream open and close frames, a multistream-select negotiation, and a
 * peer-store write at both ends. A yamux ping is one 12-byte frame each way
 * inside the connection. Every peer is connected to every other and pings
 * each of them twice a second, so per-ping cost is what an idle mesh spends
 * its CPU on, n−1 times per interval in every peer. The monitor also started
 * a ping on a connection whose last ping was still outstanding, which on a
 * loaded machine exceeded the ping protocol's stream limit and aborted
 * healthy connections; here a connection has one ping outstanding at most.
 *
 * A late answer is judged only after this process has read what arrived
 * while it was not running (see `settleWithin`): on a saturated machine the
 * reply is often already in the socket when the timeout fires, and blaming
 * the peer for our own stall aborted connections mesh-wide, whose
 * re-handshakes cost more CPU, which stalled every peer more.
 */
import type { ComponentLogger, Connection, Logger, Startable } from '@libp2p/interface'
import { AdaptiveTimeout } from '@libp2p/utils'

export interface LivenessInit {
  intervalMs: number
  minTimeoutMs: number
  maxTimeoutMs: number
}

interface LivenessComponents {
  connectionManager: { getConnections: () => Connection[] }
  logger: ComponentLogger
}

/** What this needs of a connection's stream muxer (yamux has it; other muxers are skipped). */
interface PingingMuxer { ping: (options?: { signal?: AbortSignal }) => Promise<number> }

class MuxerLiveness implements Startable {
  readonly #components: LivenessComponents
  readonly #init: LivenessInit
  readonly #log: Logger
  readonly #timeout: AdaptiveTimeout
  readonly #pinging = new WeakSet<Connection>()
  #timer: NodeJS.Timeout | undefined
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
    this.#timer = setInterval(() => { this.#pingAll() }, this.#init.intervalMs)
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#stopping.abort()
  }

  #pingAll (): void {
    for (const conn of this.#components.connectionManager.getConnections()) {
      if (conn.status !== 'open' || this.#pinging.has(conn)) continue
      const muxer = (conn as unknown as { muxer?: Partial<PingingMuxer> }).muxer
      if (typeof muxer?.ping !== 'function') continue
      this.#pinging.add(conn)
      // The timeout signal only feeds the adaptive timeout's statistics; the
      // ping itself gets no signal, because yamux forgets an aborted ping and
      // then treats its late answer as a protocol error.
      const signal = this.#timeout.getTimeoutSignal()
      const timeoutMs = (signal as { timeout?: number }).timeout ?? this.#init.maxTimeoutMs
      settleWithin(muxer.ping(), timeoutMs).then(rtt => {
        conn.rtt = rtt
      }, (err: Error) => {
        if (this.#stopping.signal.aborted) return
        this.#log.error('ping of %p failed, aborting the connection - %e', conn.remotePeer, err)
        conn.abort(err)
      }).finally(() => {
        this.#timeout.cleanUp(signal)
        this.#pinging.delete(conn)
      })
    }
  }
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
export function muxerLiveness (init: LivenessInit): (components: LivenessComponents) => Startable {
  return components => new MuxerLiveness(components, init)
}
