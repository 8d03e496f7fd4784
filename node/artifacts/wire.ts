/**
 * `/meshwork/artifact/1.0.0` over libp2p: serving the chunks this peer holds,
 * and the channels `fetchArtifact` asks other peers through. Requests on one
 * stream are answered in turn; a stream idle for `IDLE_MS` is closed.
 */
import type { Stream } from '@libp2p/interface'
import {
  ARTIFACT_CHUNK_BYTES, ARTIFACT_PROTOCOL, MAX_ARTIFACT_FRAME, chunkCount,
  decodeArtifactReply, decodeArtifactRequest, encodeArtifactMessage, type ArtifactReply
} from '../../protocols/artifact.ts'
import type { Logger } from '../../src/logger.ts'
import type { MeshLibp2p } from '../libp2p/create.ts'
import { FrameError, FrameReader, writeFrame, type FrameBudget } from '../libp2p/frames.ts'
import { parsePeerId } from '../libp2p/transport.ts'
import type { ArtifactChannel } from './fetch.ts'

/** A request names an artifact and a chunk index: a few dozen bytes. */
const MAX_REQUEST_FRAME = 256
/** Streams one connection may have open for requests at once (a fetcher keeps two per holder). */
const INBOUND_STREAMS = 16
const IDLE_MS = 30_000
/** One chunk may take this long to arrive before the holder counts as failed. */
const ASK_TIMEOUT_MS = 30_000

/** Where served bytes come from: the cache, or a file an origin could not cache. */
export interface ArtifactSource {
  manifest: (sha: string) => Promise<{ size: number, chunks: Uint8Array } | undefined>
  read: (sha: string, offset: number, length: number) => Promise<Uint8Array | undefined>
  /** Counts bytes served, for metrics and `mesh peers`. */
  served?: (bytes: number) => void
}

export async function serveArtifacts (node: MeshLibp2p, source: ArtifactSource, log: Logger, budget?: FrameBudget): Promise<void> {
  await node.handle(ARTIFACT_PROTOCOL, async (stream: Stream, connection) => {
    // Requests are tiny; one that is not, or a stream that sends nothing for IDLE_MS, ends the stream.
    const frames = new FrameReader(stream, { peer: connection.remotePeer.toString(), maxFrameBytes: MAX_REQUEST_FRAME, idleMs: IDLE_MS, ...(budget !== undefined ? { budget } : {}) })
    try {
      for (let raw = await frames.read(); raw !== undefined; raw = await frames.read()) {
        const req = decodeArtifactRequest(raw)
        if (!req.ok) { stream.abort(new Error(req.detail)); return }
        await writeFrame(stream, encodeArtifactMessage(await answer(source, req.value.sha256, req.value.op === 'chunk' ? req.value.index : undefined)), AbortSignal.timeout(ASK_TIMEOUT_MS))
      }
      await stream.close().catch(() => {})
    } catch (err) {
      if (!(err instanceof FrameError) && stream.status !== 'open') return // closed by the fetcher
      log.debug({ err: (err as Error).message }, 'artifact request failed')
      stream.abort(err as Error)
    } finally {
      frames.close()
    }
  }, { maxInboundStreams: INBOUND_STREAMS })
}

async function answer (source: ArtifactSource, sha: string, index: number | undefined): Promise<ArtifactReply> {
  const m = await source.manifest(sha)
  if (m === undefined) return { v: 1, ok: false, error: 'not held here' }
  if (index === undefined) return { v: 1, ok: true, size: m.size, chunks: m.chunks }
  if (index >= chunkCount(m.size)) return { v: 1, ok: false, error: `no chunk ${index}` }
  const offset = index * ARTIFACT_CHUNK_BYTES
  const data = await source.read(sha, offset, Math.min(ARTIFACT_CHUNK_BYTES, m.size - offset))
  if (data === undefined) return { v: 1, ok: false, error: 'not held here' }
  source.served?.(data.byteLength)
  return { v: 1, ok: true, data }
}

/** A channel to `peer` over a new stream. */
export async function openArtifactChannel (node: MeshLibp2p, peer: string): Promise<ArtifactChannel> {
  const id = parsePeerId(peer)
  if (id === undefined) throw new Error(`bad peer id ${peer}`)
  const stream = await node.dialProtocol(id, ARTIFACT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  // Replies are read with the stream paused between them: a holder cannot send more than was asked for.
  const frames = new FrameReader(stream, { peer, maxFrameBytes: MAX_ARTIFACT_FRAME, graceMs: ASK_TIMEOUT_MS, idleMs: ASK_TIMEOUT_MS })
  return {
    ask: async (req) => {
      await writeFrame(stream, encodeArtifactMessage(req), AbortSignal.timeout(ASK_TIMEOUT_MS))
      const raw = await frames.read()
      if (raw === undefined) throw new Error('stream ended before the reply')
      const reply = decodeArtifactReply(raw)
      if (!reply.ok) throw new Error(`bad reply: ${reply.detail}`)
      return reply.value
    },
    close: () => {
      frames.close()
      void stream.close().catch(() => { stream.abort(new Error('close failed')) })
    }
  }
}
