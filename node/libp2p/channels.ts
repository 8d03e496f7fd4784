/**
 * Direct messages over libp2p: one long-lived, length-prefixed stream per
 * (peer, protocol) and direction, reused for every message, because a new
 * stream per message costs ~2 ms and a reused one ~0.3 ms here
 * (notes/libp2p-v3.md §2). Writes to one stream are serialized so frames never
 * interleave; a broken stream is dropped and reopened on the next send.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../../src/logger.ts'
import type { InboundLimits } from '../../src/transport.ts'
import type { MeshLibp2p } from './create.ts'
import { FrameError, FrameReader, writeFrame, writeOnly, type FrameBudget } from './frames.ts'
import { parsePeerId } from './transport.ts'

/** Largest frame: the task protocol's 16 MiB cap plus envelope room. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024 + 64 * 1024
const OPEN_TIMEOUT_MS = 3000
const WRITE_TIMEOUT_MS = 10_000
/**
 * Inbound streams per protocol and connection. A sender keeps one stream per
 * protocol and opens a new one only when it broke; the few spare ones cover
 * a broken stream the other side has not noticed yet.
 */
const INBOUND_STREAMS = 8

interface Channel { stream: Stream, tail: Promise<unknown> }

export class Channels {
  readonly #node: MeshLibp2p
  readonly #log: Logger
  readonly #out = new Map<string, Promise<Channel | undefined>>()
  /** Memory every inbound frame of every protocol is counted against, per peer and in all. */
  readonly budget: FrameBudget

  constructor (node: MeshLibp2p, log: Logger, budget: FrameBudget) {
    this.#node = node
    this.#log = log
    this.budget = budget
  }

  async send (peer: string, protocol: string, data: Uint8Array): Promise<boolean> {
    if (data.byteLength > MAX_FRAME_BYTES) {
      this.#log.error({ peer, protocol, bytes: data.byteLength }, 'message larger than a frame; not sent')
      return false
    }
    const id = parsePeerId(peer)
    if (id === undefined) return false
    // Two tries: a stream that broke since its last use is replaced once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const key = `${peer}\n${protocol}`
      const ch = await this.#channel(key, id, protocol)
      if (ch === undefined) return false
      const write = ch.tail.then(async () => { await writeFrame(ch.stream, data, AbortSignal.timeout(WRITE_TIMEOUT_MS)) })
      ch.tail = write.catch(() => {})
      try {
        await write
        return true
      } catch (err) {
        this.#log.debug({ peer, protocol, err: (err as Error).message }, 'stream write failed; reopening')
        ch.stream.abort(err as Error)
        if (this.#out.get(key) !== undefined) this.#out.delete(key)
      }
    }
    return false
  }

  async #channel (key: string, id: PeerId, protocol: string): Promise<Channel | undefined> {
    let pending = this.#out.get(key)
    if (pending !== undefined) {
      const ch = await pending
      if (ch !== undefined && ch.stream.status === 'open' && ch.stream.writeStatus === 'writable') return ch
      if (this.#out.get(key) === pending) this.#out.delete(key)
    }
    pending = this.#open(id, protocol)
    this.#out.set(key, pending)
    const ch = await pending
    if (ch === undefined && this.#out.get(key) === pending) this.#out.delete(key)
    return ch
  }

  async #open (id: PeerId, protocol: string): Promise<Channel | undefined> {
    try {
      const stream = await this.#node.dialProtocol(id, protocol, { signal: AbortSignal.timeout(OPEN_TIMEOUT_MS) })
      // Messages flow one way on a channel; whatever comes back would only be buffered.
      writeOnly(stream, () => { this.#log.debug({ peer: id.toString(), protocol }, 'data on an outbound channel; closed') })
      return { stream, tail: Promise.resolve() }
    } catch (err) {
      this.#log.debug({ peer: id.toString(), protocol, err: (err as Error).message }, 'cannot open stream')
      return undefined
    }
  }

  /** Read every frame of every inbound stream of `protocol` and hand it to `handler`. */
  async handle (protocol: string, handler: (from: string, data: Uint8Array) => void, limits: InboundLimits): Promise<void> {
    await this.#node.handle(protocol, async (stream: Stream, connection: Connection) => {
      const from = connection.remotePeer.toString()
      const frames = new FrameReader(stream, { peer: from, maxFrameBytes: limits.maxBytes, budget: this.budget })
      try {
        for (let frame = await frames.read(); frame !== undefined; frame = await frames.read()) handler(from, frame)
      } catch (err) {
        // A refused frame ends its stream (whatever else it carried can no longer be framed) and
        // counts against the sender; anything else is a reset or the connection going away.
        if (err instanceof FrameError) {
          this.#log.debug({ peer: from, protocol, err: err.message }, 'inbound frame refused; stream closed')
          limits.onBad?.(from, err.problem, err.message)
          stream.abort(err)
        }
      } finally {
        frames.close()
        if (stream.status === 'open') await stream.close().catch(() => { stream.abort(new Error('close failed')) })
      }
    }, { maxInboundStreams: INBOUND_STREAMS, runOnLimitedConnection: false })
  }

  async unhandle (protocol: string): Promise<void> {
    await this.#node.unhandle(protocol)
  }

  /** Close every outbound stream (on stop). */
  async closeAll (): Promise<void> {
    const all = [...this.#out.values()]
    this.#out.clear()
    await Promise.all(all.map(async p => { const ch = await p; await ch?.stream.close().catch(() => {}) }))
  }
}
