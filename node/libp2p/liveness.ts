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
      const signal = this.#timeout.getTimeoutSignal({ signal: this.#stopping.signal })
      muxer.ping({ signal }).then(rtt => {
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

/** A libp2p service: `services: { liveness: muxerLiveness({...}) }`, with `connectionMonitor: { enabled: false }`. */
export function muxerLiveness (init: LivenessInit): (components: LivenessComponents) => Startable {
  return components => new MuxerLiveness(components, init)
}
