/**
 * The artifact cache: models, datasets and tokenizers a peer keeps on disk by
 * the sha-256 of their bytes, so a task that needs one here again finds it,
 * and other peers can fetch it from here (docs/ARCHITECTURE.md §8).
 *
 *  - One file per artifact, `<dir>/<sha256>`, written under a temporary name
 *    and renamed once whole and verified (leftover `*.tmp` files are removed
 *    at open). Not fsynced: every file is hashed again before its first use
 *    after a restart, so a crash costs at most a fetch, and a cache write
 *    does not wait for the disk.
 *  - Capped at `maxBytes`: the least recently used artifacts go first. An
 *    artifact in use (pinned: a running attempt reads it, or a live job of
 *    this origin names it) is never evicted; when pinned ones fill the cache
 *    a new artifact does not fit and the caller fetches it outside the cache.
 *  - Survives restarts: `open` finds the files again, their last use from
 *    their mtime. A file is verified against its name before its first use
 *    after a restart; one that fails is deleted.
 *  - Any disk error (full, read-only, gone) is reported and turns into "not
 *    cached", never a crash: the peer then fetches what it needs each time.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ARTIFACT_CHUNK_BYTES, adArtifactId } from '../../protocols/artifact.ts'

const SHA = /^[0-9a-f]{64}$/
/** The temporary name of a write whose sha-256 is not known yet (an ingest). */
const TMP_SHA = 'ingest'

interface Entry {
  size: number
  lastUsed: number
  /** Hashed since this process opened the cache (or written by it). */
  verified: boolean
  /** The chunk digests, once known (32 bytes per chunk). */
  manifest?: Uint8Array
}

export interface CacheOptions {
  /** A disk operation failed (the cache carries on without it). */
  onError?: (err: Error, what: string) => void
}

/** A file being written into the cache; `commit` it once whole, or `abort`. */
export interface CacheWrite {
  readonly path: string
  /** Keep the file; `sha`/`size` when they were not known at `beginWrite` (an ingest hashes as it copies). */
  commit: (manifest: Uint8Array, sha?: string, size?: number) => Promise<boolean>
  abort: () => Promise<void>
}

export class ArtifactCache {
  readonly dir: string
  readonly maxBytes: number
  readonly #entries = new Map<string, Entry>()
  readonly #pins = new Map<string, number>()
  /** The ad ids of what is held. */
  readonly #ids = new Set<string>()
  /** Space promised to writes in progress. */
  #reserved = 0
  /** The last `lastUsed` given out: uses within one millisecond still get an order. */
  #lastTick = 0
  readonly #onError: (err: Error, what: string) => void

  private constructor (dir: string, maxBytes: number, opts: CacheOptions) {
    this.dir = resolve(dir)
    this.maxBytes = maxBytes
    this.#onError = opts.onError ?? ((err, what) => { process.emitWarning(`artifact cache: ${what}: ${err.message}`, 'MeshworkCacheWarning') })
  }

  /** Open (or create) the cache in `dir`, finding what an earlier run left there. */
  static async open (dir: string, maxBytes: number, opts: CacheOptions = {}): Promise<ArtifactCache> {
    const c = new ArtifactCache(dir, maxBytes, opts)
    try {
      await mkdir(c.dir, { recursive: true, mode: 0o700 })
      for (const name of await readdir(c.dir)) {
        const path = join(c.dir, name)
        if (name.endsWith('.tmp')) { await rm(path, { force: true }); continue }
        if (!SHA.test(name)) continue
        const s = await stat(path)
        if (s.isFile()) c.#add(name, { size: s.size, lastUsed: s.mtimeMs, verified: false })
      }
    } catch (err) {
      c.#onError(err as Error, `open ${c.dir}`)
    }
    await c.#evict(0)
    return c
  }

  /** Bytes held. */
  get usedBytes (): number {
    let n = 0
    for (const e of this.#entries.values()) n += e.size
    return n
  }

  get count (): number { return this.#entries.size }

  has (sha: string): boolean { return this.#entries.has(sha) }

  /** Whether an artifact with this ad id (`adArtifactId`) is held: what a bid asks, per task. */
  hasId (id: string): boolean { return this.#ids.has(id) }

  sizeOf (sha: string): number | undefined { return this.#entries.get(sha)?.size }

  /** The ids (see `adArtifactId`) of what is held, most recently used first, at most `limit`. */
  adIds (limit: number): string[] {
    return [...this.#entries].sort((a, b) => b[1].lastUsed - a[1].lastUsed).slice(0, limit).map(([sha]) => adArtifactId(sha))
  }

  pathOf (sha: string): string { return join(this.dir, sha) }

  /** Keep `sha` from eviction until as many `unpin`s. */
  pin (sha: string): void { this.#pins.set(sha, (this.#pins.get(sha) ?? 0) + 1) }

  unpin (sha: string): void {
    const n = this.#pins.get(sha) ?? 0
    if (n <= 1) this.#pins.delete(sha)
    else this.#pins.set(sha, n - 1)
  }

  /**
   * The path of a held artifact, verified (hashed once per process), marked as
   * just used; undefined when it is not held or fails its hash (then deleted).
   */
  async use (sha: string): Promise<string | undefined> {
    const e = this.#entries.get(sha)
    if (e === undefined) return undefined
    if (!e.verified) {
      const digest = await hashFile(this.pathOf(sha)).catch((err: Error) => { this.#onError(err, `read ${sha.slice(0, 12)}`); return undefined })
      if (digest?.sha256 !== sha) {
        if (digest !== undefined) this.#onError(new Error('fails its sha-256; deleted'), sha.slice(0, 12))
        await this.#remove(sha)
        return undefined
      }
      e.verified = true
      e.manifest = digest.manifest
    }
    e.lastUsed = this.#tick()
    const t = new Date(e.lastUsed)
    void utimes(this.pathOf(sha), t, t).catch(() => {}) // last use survives a restart; best effort
    return this.pathOf(sha)
  }

  /** The chunk digests of a held artifact (computed once, when first asked). */
  async manifest (sha: string): Promise<Uint8Array | undefined> {
    const e = this.#entries.get(sha)
    if (e === undefined) return undefined
    if (e.manifest === undefined && await this.use(sha) === undefined) return undefined
    return this.#entries.get(sha)?.manifest
  }

  /** Bytes `[offset, offset + length)` of a held artifact, read from disk. */
  async read (sha: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    if (!this.#entries.has(sha)) return undefined
    try {
      return await readRange(this.pathOf(sha), offset, length)
    } catch (err) {
      this.#onError(err as Error, `read ${sha.slice(0, 12)}`)
      return undefined
    }
  }

  /**
   * Room for a new artifact of `size` bytes, evicting the least recently used
   * unpinned ones; undefined when it cannot fit (too large, everything else
   * pinned) or the disk refuses: the caller then keeps the bytes elsewhere.
   */
  async beginWrite (sha: string, size: number): Promise<CacheWrite | undefined> {
    if ((!SHA.test(sha) && sha !== TMP_SHA) || size > this.maxBytes) return undefined
    if (!await this.#evict(size)) return undefined
    this.#reserved += size
    const tmp = join(this.dir, `${sha}.${randomBytes(6).toString('hex')}.tmp`)
    let done = false
    const finish = (): void => { if (!done) { done = true; this.#reserved -= size } }
    try {
      await (await open(tmp, 'wx', 0o600)).close()
    } catch (err) {
      finish()
      this.#onError(err as Error, `write ${sha.slice(0, 12)}`)
      return undefined
    }
    return {
      path: tmp,
      commit: async (manifest, named = sha, bytes = size) => {
        finish()
        try {
          // Read-only: tasks see these files (exec tasks through links in their scratch directories).
          await chmod(tmp, 0o400)
          await rename(tmp, this.pathOf(named))
        } catch (err) {
          this.#onError(err as Error, `write ${named.slice(0, 12)}`)
          await rm(tmp, { force: true }).catch(() => {})
          return false
        }
        this.#add(named, { size: bytes, lastUsed: this.#tick(), verified: true, manifest })
        return true
      },
      abort: async () => {
        finish()
        await rm(tmp, { force: true }).catch(() => {})
      }
    }
  }

  /**
   * Copy a file into the cache (what an origin does with the artifacts a job
   * names by path), hashing it as it is copied, so what is kept matches its
   * name even if the file changes meanwhile. Returns its sha-256 and size, and
   * whether it is now held (false: the cache refused it, see `beginWrite`;
   * the caller serves it from `path` instead, hashed in place).
   */
  async ingest (path: string): Promise<{ sha256: string, size: number, manifest: Uint8Array, cached: boolean }> {
    const { size } = await stat(path)
    const w = await this.beginWrite(TMP_SHA, size)
    if (w === undefined) return { ...await hashFile(path), cached: false }
    let digest: { sha256: string, size: number, manifest: Uint8Array }
    try {
      const fh = await open(w.path, 'w')
      try {
        // No fsync: after a crash the file is hashed again before it is used.
        digest = await hashFile(path, async buf => { await fh.write(buf) })
      } finally {
        await fh.close()
      }
    } catch (err) {
      await w.abort()
      if ((err as NodeJS.ErrnoException).syscall === 'open' && (err as NodeJS.ErrnoException).path === path) throw err
      this.#onError(err as Error, `write ${path}`)
      return { ...await hashFile(path), cached: false }
    }
    if (this.#entries.has(digest.sha256)) {
      await w.abort()
      return { ...digest, cached: await this.use(digest.sha256) !== undefined }
    }
    return { ...digest, cached: await w.commit(digest.manifest, digest.sha256, digest.size) }
  }

  #add (sha: string, e: Entry): void {
    this.#entries.set(sha, e)
    this.#ids.add(adArtifactId(sha))
  }

  #tick (): number {
    this.#lastTick = Math.max(Date.now(), this.#lastTick + 1)
    return this.#lastTick
  }

  /** Evict least-recently-used unpinned artifacts until `incoming` more bytes fit. */
  async #evict (incoming: number): Promise<boolean> {
    let used = this.usedBytes + this.#reserved
    if (used + incoming <= this.maxBytes) return true
    const victims = [...this.#entries].filter(([sha]) => !this.#pins.has(sha)).sort((a, b) => a[1].lastUsed - b[1].lastUsed)
    for (const [sha, e] of victims) {
      if (used + incoming <= this.maxBytes) break
      await this.#remove(sha)
      used -= e.size
    }
    return used + incoming <= this.maxBytes
  }

  async #remove (sha: string): Promise<void> {
    this.#entries.delete(sha)
    this.#ids.delete(adArtifactId(sha))
    await rm(this.pathOf(sha), { force: true }).catch((err: Error) => { this.#onError(err, `delete ${sha.slice(0, 12)}`) })
  }
}

/** Bytes `[offset, offset + length)` of a file; undefined when it is shorter. */
export async function readRange (path: string, offset: number, length: number): Promise<Uint8Array | undefined> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(length)
    const { bytesRead } = await fh.read(buf, 0, length, offset)
    return bytesRead === length ? new Uint8Array(buf.buffer, buf.byteOffset, length) : undefined
  } finally {
    await fh.close()
  }
}

/** The sha-256 of a file and of each of its chunks (the artifact manifest), read in one pass. */
export async function hashFile (path: string, each?: (buf: Buffer) => Promise<void>): Promise<{ sha256: string, size: number, manifest: Uint8Array }> {
  const whole = createHash('sha256')
  const digests: Buffer[] = []
  let size = 0
  let chunk = createHash('sha256')
  let inChunk = 0
  for await (const data of createReadStream(path, { highWaterMark: ARTIFACT_CHUNK_BYTES })) {
    const buf = data as Buffer
    if (each !== undefined) await each(buf)
    whole.update(buf)
    size += buf.byteLength
    // Stream reads need not line up with chunk boundaries.
    for (let off = 0; off < buf.byteLength;) {
      const take = Math.min(ARTIFACT_CHUNK_BYTES - inChunk, buf.byteLength - off)
      chunk.update(buf.subarray(off, off + take))
      inChunk += take
      off += take
      if (inChunk === ARTIFACT_CHUNK_BYTES) { digests.push(chunk.digest()); chunk = createHash('sha256'); inChunk = 0 }
    }
  }
  if (inChunk > 0) digests.push(chunk.digest())
  const manifest = new Uint8Array(Buffer.concat(digests))
  return { sha256: whole.digest('hex'), size, manifest }
}
