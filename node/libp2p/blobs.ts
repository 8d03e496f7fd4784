/**
 * The blob store of a real peer: blobs kept in memory by sha-256 and served
 * over `/meshwork/blob/1.0.0`; fetching verifies each chunk and the whole blob.
 */
import { createHash } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { BLOB_PROTOCOL, BLOB_VERSION, CHUNK_BYTES, decodeBlobChunk, decodeBlobHeader, decodeBlobRequest, encodeBlobMessage } from '../../protocols/blob.ts'
import type { BlobRef } from '../../protocols/task.ts'
import type { BlobStore } from '../../src/execution/executor.ts'
import type { Logger } from '../../src/logger.ts'
import type { MeshLibp2p } from './create.ts'
import { FrameReader, writeFrame, type FrameBudget } from './frames.ts'
import { parsePeerId } from './transport.ts'
import { MemoryBlobBackend, type BlobBackend } from '../storage/disk-blobs.ts'

/** The largest blob message: a chunk and its envelope. */
const MAX_CHUNK_FRAME = CHUNK_BYTES + 1024
/** A request names one blob by its sha-256: a few dozen bytes. */
const MAX_REQUEST_FRAME = 256
/** A request must arrive this soon after its stream opens. */
const REQUEST_TIMEOUT_MS = 10_000
/** Streams one connection may have open for requests at once. */
const INBOUND_STREAMS = 16
/**
 * A fetch waits this long for each frame to begin, and as long again (plus its
 * length at 256 KiB/s) for it to arrive: a holder that stops sending is given
 * up on, and the fetch fails.
 */
const CHUNK_GRACE_MS = 30_000

export function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export class Libp2pBlobStore implements BlobStore {
  readonly #node: MeshLibp2p
  readonly #log: Logger
  readonly #backend: BlobBackend
  readonly #refs = new Map<string, number>()
  #pending = new Set<Promise<void>>()

  readonly #budget: FrameBudget | undefined

  constructor (node: MeshLibp2p, log: Logger, backend: BlobBackend = new MemoryBlobBackend(), budget?: FrameBudget) {
    this.#node = node
    this.#log = log
    this.#backend = backend
    this.#budget = budget
  }

  async start (): Promise<void> {
    await this.#node.handle(BLOB_PROTOCOL, async (stream: Stream, connection) => { await this.#serve(stream, connection.remotePeer.toString()) }, { maxInboundStreams: INBOUND_STREAMS })
  }

  put (bytes: Uint8Array): BlobRef {
    const hash = sha256(bytes)
    const n = this.#refs.get(hash) ?? 0
    this.#refs.set(hash, n + 1)
    if (n === 0) this.#background(this.#backend.put(hash, bytes), hash)
    return { sha256: hash, size: bytes.byteLength }
  }

  drop (ref: BlobRef): void {
    const n = this.#refs.get(ref.sha256)
    if (n === undefined) return
    if (n > 1) { this.#refs.set(ref.sha256, n - 1); return }
    this.#refs.delete(ref.sha256)
    this.#background(this.#backend.delete(ref.sha256), ref.sha256)
  }

  /** Count a reference to a blob already stored (one a reloaded record names), so its drop deletes it. */
  retain (ref: BlobRef): void {
    this.#refs.set(ref.sha256, (this.#refs.get(ref.sha256) ?? 0) + 1)
  }

  /** Resolves once every blob put so far is durable (before writing a record that names one). */
  async flush (): Promise<void> {
    await Promise.all([...this.#pending])
    // The disk backend queues its writes itself: they are durable once its queue drains.
    await this.#backend.flush?.()
  }

  async get (hash: string): Promise<Uint8Array | undefined> { return await this.#backend.get(hash) }

  #background (op: void | Promise<void>, hash: string): void {
    if (!(op instanceof Promise)) return
    const tracked = op.catch((err: unknown) => { this.#log.warn({ err: (err as Error).message, blob: hash.slice(0, 12) }, 'blob backend failed') })
      .finally(() => { this.#pending.delete(tracked) })
    this.#pending.add(tracked)
  }

  async fetch (peer: string, ref: BlobRef): Promise<Uint8Array> {
    const local = await this.#backend.get(ref.sha256)
    if (local !== undefined) return local
    const id = parsePeerId(peer)
    if (id === undefined) throw new Error(`bad peer id ${peer}`)
    const stream = await this.#node.dialProtocol(id, BLOB_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    // The reply is read frame by frame with the stream paused between them: the holder
    // writes only as fast as this side takes chunks, whatever the blob's size.
    const frames = new FrameReader(stream, { peer, maxFrameBytes: MAX_CHUNK_FRAME, graceMs: CHUNK_GRACE_MS, idleMs: CHUNK_GRACE_MS })
    try {
      await writeFrame(stream, encodeBlobMessage({ v: BLOB_VERSION, sha256: ref.sha256 }), AbortSignal.timeout(10_000))
      const header = decodeBlobHeader(await next(frames))
      if (!header.ok) throw new Error(`blob header: ${header.detail}`)
      if (!header.value.ok) throw new Error(`peer has no blob ${ref.sha256.slice(0, 12)}: ${header.value.error ?? ''}`)
      if (header.value.size !== ref.size) throw new Error(`blob ${ref.sha256.slice(0, 12)} is ${header.value.size} bytes, expected ${ref.size}`)
      const out = new Uint8Array(ref.size)
      const whole = createHash('sha256')
      for (let off = 0; off < ref.size;) {
        const chunk = decodeBlobChunk(await next(frames))
        if (!chunk.ok) throw new Error(`blob chunk: ${chunk.detail}`)
        const { data, sha256: h } = chunk.value
        if (sha256(data) !== h) throw new Error(`blob chunk at ${off} fails its sha-256`)
        if (off + data.byteLength > ref.size) throw new Error('blob longer than announced')
        out.set(data, off)
        whole.update(data)
        off += data.byteLength
      }
      if (whole.digest('hex') !== ref.sha256) throw new Error(`blob ${ref.sha256.slice(0, 12)} fails its sha-256`)
      await stream.close({ signal: AbortSignal.timeout(5000) })
      return out
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      frames.close()
    }
  }

  async #serve (stream: Stream, peer: string): Promise<void> {
    const frames = new FrameReader(stream, { peer, maxFrameBytes: MAX_REQUEST_FRAME, graceMs: REQUEST_TIMEOUT_MS, idleMs: REQUEST_TIMEOUT_MS, ...(this.#budget !== undefined ? { budget: this.#budget } : {}) })
    try {
      const req = decodeBlobRequest(await next(frames))
      if (!req.ok) { stream.abort(new Error(req.detail)); return }
      const bytes = await this.#backend.get(req.value.sha256)
      if (bytes === undefined) {
        await writeFrame(stream, encodeBlobMessage({ v: BLOB_VERSION, ok: false, size: 0, error: 'unknown blob' }))
      } else {
        await writeFrame(stream, encodeBlobMessage({ v: BLOB_VERSION, ok: true, size: bytes.byteLength }))
        for (let off = 0; off < bytes.byteLength; off += CHUNK_BYTES) {
          const data = bytes.subarray(off, off + CHUNK_BYTES)
          // Waits while the fetcher's window is closed: it takes chunks as fast as it can hold them.
          await writeFrame(stream, encodeBlobMessage({ v: BLOB_VERSION, sha256: sha256(data), data }), AbortSignal.timeout(CHUNK_GRACE_MS))
        }
      }
      await stream.close()
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'blob request failed')
      stream.abort(err as Error)
    } finally {
      frames.close()
    }
  }
}

/** The next frame, or an error when the stream ended before it. */
async function next (frames: FrameReader): Promise<Uint8Array> {
  const frame = await frames.read()
  if (frame === undefined) throw new Error('stream ended early')
  return frame
}
