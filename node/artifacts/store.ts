/**
 * A daemon's artifacts (docs/ARCHITECTURE.md §8): the disk cache, the files
 * an origin could not cache, serving both to other peers, and fetching what
 * an attempt needs from every peer that advertises it. Implements the core's
 * `ArtifactStore`, and tells the bidder how long a task's missing artifacts
 * would take to arrive here.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { OpenTask } from '../../protocols/auction.ts'
import { adArtifactId } from '../../protocols/artifact.ts'
import type { ArtifactBytes } from '../../protocols/task.ts'
import type { ArtifactRef, ArtifactStore, HeldArtifacts } from '../../src/execution/artifact-store.ts'
import type { Logger } from '../../src/logger.ts'
import { readRange, type ArtifactCache } from './cache.ts'
import { fetchArtifact, type OpenChannel } from './fetch.ts'
import type { ArtifactSource } from './wire.ts'

/** Before any fetch has been timed: 100 MB/s, a gigabit LAN. */
const ASSUMED_BYTES_PER_MS = 100_000
/** Fetches shorter than this say more about latency than throughput: not used to learn it. */
const MIN_TIMED_BYTES = 4 * 1024 * 1024

export interface PeerArtifactsDeps {
  cache: ArtifactCache
  openChannel: OpenChannel
  /** Peers (other than this one) whose ads list the artifact id. */
  holders: (adId: string) => string[]
  self: string
  log: Logger
  /** Where artifacts the cache cannot take are written for one attempt (default: the OS temp dir). */
  spillDir?: string
}

/** `shared`: another attempt's fetch brought it (this attempt moved no bytes itself). */
interface Fetched { path: string, spilled: boolean, shared?: boolean }

export class PeerArtifacts implements ArtifactStore, ArtifactSource {
  readonly cache: ArtifactCache
  readonly #d: PeerArtifactsDeps
  /** Files an origin could not copy into its cache: served from where they are. */
  readonly #external = new Map<string, { path: string, size: number, manifest: Uint8Array }>()
  /** One fetch per artifact at a time; later askers wait for it. */
  readonly #inflight = new Map<string, Promise<Fetched>>()
  /** Files an origin took in, by path, size and mtime. */
  readonly #ingested = new Map<string, { sha256: string, size: number }>()
  #bytesPerMs = ASSUMED_BYTES_PER_MS
  #measured = false
  /** Bytes sent to other peers and fetched from them, since start. */
  readonly totals = { served: 0, fetched: 0 }

  constructor (deps: PeerArtifactsDeps) {
    this.cache = deps.cache
    this.#d = deps
  }

  /**
   * An origin takes in a file a job names by path: copied into the cache (or,
   * when the cache refuses, served from where it is), pinned while `pin` says.
   */
  async ingest (path: string): Promise<{ sha256: string, size: number }> {
    // A file submitted again unchanged (same size and mtime) is not read again.
    const s = await stat(path)
    const key = `${path}\0${s.size}\0${s.mtimeMs}`
    const known = this.#ingested.get(key)
    if (known !== undefined && (this.cache.has(known.sha256) || this.#external.has(known.sha256))) return known
    const r = await this.cache.ingest(path)
    this.#ingested.set(key, { sha256: r.sha256, size: r.size })
    if (!r.cached) this.#external.set(r.sha256, { path, size: r.size, manifest: r.manifest })
    return { sha256: r.sha256, size: r.size }
  }

  pin (sha: string): void { this.cache.pin(sha) }
  unpin (sha: string): void { this.cache.unpin(sha) }

  /** ms before a task could start here for want of its artifacts: missing bytes ÷ throughput. */
  setupMs (t: OpenTask): number {
    if (t.artifacts === undefined) return 0
    let missing = 0
    for (const a of t.artifacts) if (!this.#holdsId(a.id)) missing += a.size
    return missing / this.#bytesPerMs
  }

  async acquire (refs: ArtifactRef[], origin: string, signal: AbortSignal): Promise<HeldArtifacts> {
    const paths: Record<string, string> = {}
    const bytes: ArtifactBytes = { network: 0, cache: 0 }
    const pinned: string[] = []
    const spilled: string[] = []
    const release = (): void => {
      for (const sha of pinned) this.cache.unpin(sha)
      for (const p of spilled) void rm(p, { force: true })
    }
    try {
      for (const r of refs) {
        this.cache.pin(r.sha256)
        pinned.push(r.sha256)
        const local = await this.cache.use(r.sha256) ?? this.#external.get(r.sha256)?.path
        if (local !== undefined) { paths[r.name] = local; bytes.cache += r.size; continue }
        const got = await this.#fetchOnce(r, origin, signal)
        paths[r.name] = got.path
        // Bytes are counted where they moved: an attempt that waited for another's fetch read the peer's copy.
        if (got.shared === true) bytes.cache += r.size
        else bytes.network += r.size
        if (got.spilled) spilled.push(got.path)
      }
    } catch (err) {
      release()
      throw err
    }
    return { paths, bytes, release }
  }

  async manifest (sha: string): Promise<{ size: number, chunks: Uint8Array } | undefined> {
    const chunks = await this.cache.manifest(sha)
    if (chunks !== undefined) return { size: this.cache.sizeOf(sha)!, chunks }
    const ext = this.#external.get(sha)
    return ext === undefined ? undefined : { size: ext.size, chunks: ext.manifest }
  }

  async read (sha: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    if (this.cache.has(sha)) return await this.cache.read(sha, offset, length)
    const ext = this.#external.get(sha)
    if (ext === undefined) return undefined
    // A file the user has since moved or cut short is simply not held any more.
    return await readRange(ext.path, offset, length).catch(() => undefined)
  }

  served (n: number): void { this.totals.served += n }

  #holdsId (id: string): boolean {
    for (const sha of this.#inflight.keys()) if (adArtifactId(sha) === id) return true
    return this.cache.hasId(id) || [...this.#external.keys()].some(sha => adArtifactId(sha) === id)
  }

  #fetchOnce (r: ArtifactRef, origin: string, signal: AbortSignal): Promise<Fetched> {
    let p = this.#inflight.get(r.sha256)
    if (p === undefined) {
      p = this.#fetch(r, origin, signal).finally(() => { this.#inflight.delete(r.sha256) })
      this.#inflight.set(r.sha256, p)
      return p
    }
    // Someone else's fetch: a spilled file is theirs to delete, so share it only when it went into the cache.
    return p.then(async got => got.spilled ? await this.#fetch(r, origin, signal) : { ...got, shared: true })
  }

  async #fetch (r: ArtifactRef, origin: string, signal: AbortSignal): Promise<Fetched> {
    const holders = [...new Set([...this.#d.holders(adArtifactId(r.sha256)), origin])].filter(p => p !== this.#d.self)
    const write = await this.cache.beginWrite(r.sha256, r.size)
    let dest = write?.path
    if (dest === undefined) {
      const dir = this.#d.spillDir ?? join(tmpdir(), 'meshwork-artifacts')
      await mkdir(dir, { recursive: true, mode: 0o700 })
      dest = join(dir, `${r.sha256}.${randomBytes(6).toString('hex')}`)
      this.#d.log.warn({ artifact: r.sha256.slice(0, 12), size: r.size }, 'artifact cache cannot take this artifact; fetching it for this attempt only')
    }
    const t0 = performance.now()
    try {
      const out = await fetchArtifact({ sha256: r.sha256, size: r.size, holders, dest }, this.#d.openChannel, signal)
      this.#learn(r.size, performance.now() - t0)
      this.totals.fetched += r.size
      for (const d of out.dropped) this.#d.log.warn({ artifact: r.sha256.slice(0, 12), peer: d.peer, why: d.why }, 'artifact holder dropped')
      if (write !== undefined && await write.commit(out.manifest)) {
        const path = await this.cache.use(r.sha256)
        if (path !== undefined) return { path, spilled: false }
      }
      return { path: dest, spilled: write === undefined }
    } catch (err) {
      if (write !== undefined) await write.abort()
      else await rm(dest, { force: true })
      throw err
    }
  }

  #learn (bytes: number, ms: number): void {
    if (bytes < MIN_TIMED_BYTES || ms <= 0) return
    const rate = bytes / ms
    this.#bytesPerMs = this.#measured ? 0.7 * this.#bytesPerMs + 0.3 * rate : rate
    this.#measured = true
  }

  /** The artifact part of this peer's ad. */
  adFields (maxIds: number): { artifacts: string[], cache: { usedMB: number, maxMB: number } } {
    return {
      artifacts: this.cache.adIds(maxIds),
      cache: { usedMB: Math.round(this.cache.usedBytes / 1024 / 1024), maxMB: Math.round(this.cache.maxBytes / 1024 / 1024) }
    }
  }
}

