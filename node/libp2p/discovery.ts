/**
 * Finding the mesh. libp2p's own bootstrap module dials its list once, after a
 * 1 s delay, and never again (notes/libp2p-v3.md §6), so a seed that starts
 * late or restarts is lost. `BootstrapKeeper` dials each bootstrap address at
 * once and re-dials it, with backoff, whenever it is not connected. mDNS
 * announces but never dials; `dialMdnsDiscoveries` dials what it finds, from
 * the lower peer id only, so two peers do not open two connections.
 */
import type { PeerId, PeerInfo } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../../src/logger.ts'
import type { MeshLibp2p } from './create.ts'
import { parseMultiaddr } from './transport.ts'

export interface BootstrapKeeperInit {
  /** First retry delay; doubles per failure up to `maxDelayMs`. @default 250 */
  minDelayMs?: number
  /** @default 5000 */
  maxDelayMs?: number
  /** How often a connected bootstrap peer is checked. @default 1000 */
  checkMs?: number
}

export class BootstrapKeeper {
  readonly #node: MeshLibp2p
  readonly #log: Logger
  readonly #targets: Array<{ addr: Multiaddr, peer: string | undefined }>
  readonly #init: Required<BootstrapKeeperInit>
  readonly #timers = new Set<NodeJS.Timeout>()
  #running = false

  constructor (node: MeshLibp2p, addrs: string[], log: Logger, init: BootstrapKeeperInit = {}) {
    this.#node = node
    this.#log = log
    this.#init = { minDelayMs: 250, maxDelayMs: 5000, checkMs: 1000, ...init }
    const self = node.peerId.toString()
    this.#targets = addrs
      .map(parseMultiaddr)
      .filter((a): a is Multiaddr => a !== undefined)
      .map(addr => ({ addr, peer: addr.getComponents().find(c => c.name === 'p2p')?.value }))
      // A shared bootstrap list may name this peer too; never dial ourselves.
      .filter(t => t.peer !== self)
  }

  start (): void {
    this.#running = true
    for (const t of this.#targets) this.#keep(t, this.#init.minDelayMs)
  }

  stop (): void {
    this.#running = false
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }

  #keep (target: { addr: Multiaddr, peer: string | undefined }, backoff: number): void {
    if (!this.#running) return
    const connected = target.peer !== undefined &&
      this.#node.getConnections().some(c => c.remotePeer.toString() === target.peer)
    if (connected) {
      this.#later(() => { this.#keep(target, this.#init.minDelayMs) }, this.#init.checkMs)
      return
    }
    this.#node.dial(target.addr, { signal: AbortSignal.timeout(5000) }).then(conn => {
      target.peer = conn.remotePeer.toString()
      this.#log.debug({ addr: target.addr.toString() }, 'bootstrap peer connected')
      this.#later(() => { this.#keep(target, this.#init.minDelayMs) }, this.#init.checkMs)
    }, (err: Error) => {
      this.#log.debug({ addr: target.addr.toString(), err: err.message, retryInMs: backoff }, 'bootstrap dial failed')
      this.#later(() => { this.#keep(target, Math.min(backoff * 2, this.#init.maxDelayMs)) }, backoff)
    })
  }

  #later (fn: () => void, ms: number): void {
    const t = setTimeout(() => { this.#timers.delete(t); fn() }, ms)
    // The keeper alone must not keep an embedding app's process alive.
    t.unref()
    this.#timers.add(t)
  }
}

/** Dial peers that mDNS finds (it does not dial by itself). Returns a function that stops listening. */
export function dialMdnsDiscoveries (node: MeshLibp2p, log: Logger): () => void {
  const self = node.peerId.toString()
  const onDiscovery = (e: CustomEvent<PeerInfo>): void => {
    const id: PeerId = e.detail.id
    if (node.getConnections(id).length > 0 || !(self < id.toString())) return
    node.dial(id, { signal: AbortSignal.timeout(5000) }).catch((err: Error) => {
      log.debug({ peer: id.toString(), err: err.message }, 'mdns dial failed')
    })
  }
  node.addEventListener('peer:discovery', onDiscovery)
  return () => { node.removeEventListener('peer:discovery', onDiscovery) }
}
