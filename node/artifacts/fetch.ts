/**
 * Fetching an artifact from every peer that holds it at once, chunk by chunk
 * (docs/ARCHITECTURE.md §8). Each holder gets its own stream; streams take
 * the next missing chunk from a shared queue, so a fast holder serves more.
 *
 * Trust: nothing a holder sends is believed until checked. The manifest (the
 * chunk digests) comes from one holder; every chunk from any holder must
 * match it, and the whole artifact, hashed in order as chunks arrive, must
 * match its name. A holder that sends a bad chunk or fails is dropped and
 * its chunks go to the others; a manifest that turns out wrong is refused and
 * the fetch starts over with another holder's.
 */
import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { ARTIFACT_CHUNK_BYTES, chunkCount, type ArtifactReply, type ArtifactRequest } from '../../protocols/artifact.ts'

/** A conversation with one holder: ask, get the answer (throws when the stream fails). */
export interface ArtifactChannel {
  ask: (req: ArtifactRequest) => Promise<ArtifactReply>
  close: () => void
}

export type OpenChannel = (peer: string) => Promise<ArtifactChannel>

export interface FetchPlan {
  sha256: string
  size: number
  /** Who may hold it, best first (the fetch asks them all). */
  holders: string[]
  /** Where to write the bytes (created or truncated). */
  dest: string
  /** Streams per holder (default 2): one waits on the network while the other's chunk is written. */
  streamsPerHolder?: number
  /** How many chunks may be fetched ahead of the first one not yet hashed (default 32). */
  window?: number
}

export interface FetchOutcome {
  manifest: Uint8Array
  /** Bytes received from each holder. */
  byHolder: Map<string, number>
  /** Holders dropped, with why. */
  dropped: Array<{ peer: string, why: string }>
}

export class ArtifactFetchError extends Error {}

/** Fetch `plan.sha256` into `plan.dest`, verified; throws ArtifactFetchError when no holder can supply it. */
export async function fetchArtifact (plan: FetchPlan, openChannel: OpenChannel, signal?: AbortSignal): Promise<FetchOutcome> {
  /** Holders not asked again: they failed, or their manifest proved wrong. */
  const bad: FetchOutcome['dropped'] = []
  const manifestTried = new Set<string>()
  for (;;) {
    const usable = plan.holders.filter(h => !bad.some(d => d.peer === h))
    const source = usable.find(h => !manifestTried.has(h))
    if (source === undefined) throw new ArtifactFetchError(`no peer could supply artifact ${plan.sha256.slice(0, 12)} (${describeDrops(bad, plan.holders)})`)
    manifestTried.add(source)
    let manifest: Uint8Array
    let first: ArtifactChannel
    try {
      first = await openChannel(source)
      manifest = await askManifest(first, plan)
    } catch (err) {
      bad.push({ peer: source, why: (err as Error).message })
      continue
    }
    const pass: Drop[] = []
    const got = await fetchWith(plan, manifest, usable, source, first, openChannel, pass, signal)
    if (got !== 'bad-manifest' && got !== 'incomplete') return { manifest, byHolder: got, dropped: [...bad, ...pass.map(({ peer, why }) => ({ peer, why }))] }
    // The manifest is suspect: a pass fails only when its own source failed too. Holders
    // that sent chunks not matching it may be honest, and get another pass with another's.
    const own = pass.find(d => d.peer === source)
    bad.push({ peer: source, why: got === 'bad-manifest' ? 'its manifest does not match the artifact' : own?.why ?? 'failed' })
    for (const d of pass) if (!d.badChunk && d.peer !== source) bad.push({ peer: d.peer, why: d.why })
  }
}

interface Drop { peer: string, why: string, badChunk: boolean }

class BadChunk extends Error {}

async function askManifest (ch: ArtifactChannel, plan: FetchPlan): Promise<Uint8Array> {
  const r = await ch.ask({ v: 1, op: 'manifest', sha256: plan.sha256 })
  if (!r.ok) throw new Error(r.error ?? 'refused')
  if (r.size !== plan.size) throw new Error(`says the artifact is ${String(r.size)} bytes, expected ${plan.size}`)
  if (r.chunks?.byteLength !== chunkCount(plan.size) * 32) throw new Error('sent a manifest of the wrong length')
  return r.chunks
}

/** One pass with one manifest: the bytes per holder; 'bad-manifest' when the whole does not match it; 'incomplete' when every holder failed. */
async function fetchWith (
  plan: FetchPlan, manifest: Uint8Array, holders: string[], source: string, first: ArtifactChannel,
  openChannel: OpenChannel, dropped: Drop[], signal?: AbortSignal
): Promise<Map<string, number> | 'bad-manifest' | 'incomplete'> {
  const n = chunkCount(plan.size)
  const window = plan.window ?? 32
  const queue: number[] = Array.from({ length: n }, (_, i) => i)
  const arrived = new Map<number, Uint8Array>()
  const whole = createHash('sha256')
  let hashed = 0
  const byHolder = new Map<string, number>()
  const file: FileHandle = await open(plan.dest, 'w')
  // Wakes workers waiting for the window to move or for a chunk to be given back.
  let wake: () => void = () => {}
  let moved = new Promise<void>(resolve => { wake = resolve })
  const kick = (): void => { const w = wake; moved = new Promise<void>(resolve => { wake = resolve }); w() }

  const worker = async (peer: string, channel: ArtifactChannel | undefined): Promise<void> => {
    let ch = channel
    try {
      ch ??= await openChannel(peer)
      while (hashed < n) {
        signal?.throwIfAborted()
        const pos = queue.findIndex(i => i < hashed + window)
        if (pos < 0) { await moved; continue }
        const index = queue.splice(pos, 1)[0]!
        let data: Uint8Array
        try {
          data = await askChunk(ch, plan, manifest, index)
        } catch (err) {
          queue.unshift(index)
          kick()
          throw err
        }
        await file.write(data, 0, data.byteLength, index * ARTIFACT_CHUNK_BYTES)
        byHolder.set(peer, (byHolder.get(peer) ?? 0) + data.byteLength)
        arrived.set(index, data)
        while (arrived.has(hashed)) { whole.update(arrived.get(hashed)!); arrived.delete(hashed); hashed++ }
        kick()
      }
    } catch (err) {
      if (!dropped.some(d => d.peer === peer)) dropped.push({ peer, why: (err as Error).message, badChunk: err instanceof BadChunk })
    } finally {
      ch?.close()
    }
  }

  try {
    const per = Math.max(1, plan.streamsPerHolder ?? 2)
    const workers: Array<Promise<void>> = []
    for (const h of holders) for (let s = 0; s < per; s++) workers.push(worker(h, h === source && s === 0 ? first : undefined))
    if (!holders.includes(source)) first.close()
    await Promise.all(workers)
    signal?.throwIfAborted()
    // No fsync: a cached file is hashed again before its first use after a restart.
    if (hashed < n) return 'incomplete'
  } finally {
    await file.close()
  }
  return whole.digest('hex') === plan.sha256 ? byHolder : 'bad-manifest'
}

async function askChunk (ch: ArtifactChannel, plan: FetchPlan, manifest: Uint8Array, index: number): Promise<Uint8Array> {
  const r = await ch.ask({ v: 1, op: 'chunk', sha256: plan.sha256, index })
  if (!r.ok || r.data === undefined) throw new Error(r.error ?? 'sent no data')
  const expected = Math.min(ARTIFACT_CHUNK_BYTES, plan.size - index * ARTIFACT_CHUNK_BYTES)
  if (r.data.byteLength !== expected) throw new Error(`sent chunk ${index} of ${r.data.byteLength} bytes, expected ${expected}`)
  const digest = createHash('sha256').update(r.data).digest()
  if (!digest.equals(manifest.subarray(index * 32, index * 32 + 32))) throw new BadChunk(`sent chunk ${index} that fails its sha-256`)
  return r.data
}

function describeDrops (dropped: Array<{ peer: string, why: string }>, holders: string[]): string {
  if (holders.length === 0) return 'no peer holds it'
  return dropped.map(d => `${d.peer.slice(-8)}: ${d.why}`).join('; ')
}
