/**
 * Direct messages over libp2p: one long-lived, length-prefixed stream per
 * (peer, protocol) and direction, reused for every message, because a new
 * stream per message costs ~2 ms and a reused one ~0.3 ms here
 * (notes/libp2p-v3.md §2). Writes to one stream are serialized so frames never
 * interleave; a broken stream is dropped and reopened on the next send.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Logger } from '../../src/logger.ts'
import type { MeshLibp2p } from './create.ts'
import { parsePeerId } from './transport.ts'

/** Largest frame: the task protocol's 16 MiB cap plus envelope room. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024 + 64 * 1024
const LP_OPTS = { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: MAX_FRAME_BYTES + 64 }
const OPEN_TIMEOUT_MS = 3000
const WRITE_TIMEOUT_MS = 10_000

interface Channel { stream: Stream, lp: LengthPrefixedStream, tail: Promise<unknown> }

export class Channels {
  readonly #node: MeshLibp2p
  readonly #log: Logger
  readonly #out = new Map<string, Promise<Channel | undefined>>()

  constructor (node: MeshLibp2p, log: Logger) {
    this.#node = node
    this.#log = log
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
      const write = ch.tail.then(async () => { await ch.lp.write(data, { signal: AbortSignal.timeout(WRITE_TIMEOUT_MS) }) })
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
      return { stream, lp: lpStream(stream, LP_OPTS), tail: Promise.resolve() }
    } catch (err) {
      this.#log.debug({ peer: id.toString(), protocol, err: (err as Error).message }, 'cannot open stream')
      return undefined
    }
  }

  /** Read every frame of every inbound stream of `protocol` and hand it to `handler`. */
  async handle (protocol: string, handler: (from: string, data: Uint8Array) => void): Promise<void> {
    await this.#node.handle(protocol, async (stream: Stream, connection: Connection) => {
      const from = connection.remotePeer.toString()
      const lp = lpStream(stream, LP_OPTS)
      try {
        for (;;) {
          const frame = await lp.read()
          handler(from, frame.subarray())
        }
      } catch {
        // End of stream or a reset: the sender opens a new one when it needs to.
      } finally {
        if (stream.status === 'open') await stream.close().catch(() => { stream.abort(new Error('close failed')) })
      }
    }, { maxInboundStreams: 256, runOnLimitedConnection: false })
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
