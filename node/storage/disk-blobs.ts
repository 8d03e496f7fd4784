/**
 * Where a peer keeps blob bytes (`BlobBackend`): in memory, or on disk so that
 * blobs referenced by the journal and the outbox survive a restart
 * (docs/ARCHITECTURE.md §1.4).
 *
 * `DiskBlobBackend` is content-addressed: `<dataDir>/blobs/<first 2 hex>/<sha256>`.
 * - `put` is synchronous for its caller (`BlobStore.put` returns the ref at
 *   once): the bytes stay in memory and are served from there until the file
 *   is in place. The file is written to a temporary name, fsynced, renamed and
 *   its directory fsynced, so a crash leaves either the whole blob or nothing
 *   (plus perhaps a `*.tmp` that `sweep` removes). `flush()` waits for every
 *   pending write: await it before making durable anything that references a
 *   blob just put (e.g. an outbox entry). A failed write is reported through
 *   `onError` and the bytes stay served from memory.
 * - `get` verifies the sha-256 of what it reads; a file that fails is treated as
 *   missing and deleted.
 * - References are counted in memory: each `put` or `retain` adds one, `drop`
 *   removes one and deletes the blob at zero; `delete` removes it outright.
 *   Counts do not survive a restart — the blobs do: after a restart call
 *   `sweep(keep)` with every sha still referenced (see `collectBlobRefs`), which
 *   deletes the others, and `retain` the kept ones that should be dropped later.
 * Operations on one blob run in order; different blobs proceed in parallel.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'

/** Blob bytes by sha-256 (lowercase hex). The sha is the caller's: backends trust it on `put`. */
export interface BlobBackend {
  get: (sha: string) => Promise<Uint8Array | undefined> | Uint8Array | undefined
  put: (sha: string, bytes: Uint8Array) => void | Promise<void>
  delete: (sha: string) => void | Promise<void>
  /** Wait until every write issued so far is durable (backends that write in the background). */
  flush?: () => Promise<void>
}

const SHA = /^[0-9a-f]{64}$/

export function isSha256 (s: string): boolean {
  return SHA.test(s)
}

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export class MemoryBlobBackend implements BlobBackend {
  readonly #blobs = new Map<string, Uint8Array>()
  get (sha: string): Uint8Array | undefined { return this.#blobs.get(sha) }
  put (sha: string, bytes: Uint8Array): void { this.#blobs.set(sha, bytes) }
  delete (sha: string): void { this.#blobs.delete(sha) }
  has (sha: string): boolean { return this.#blobs.has(sha) }
  get size (): number { return this.#blobs.size }
}

export interface DiskBlobOptions {
  /** fsync each blob file and its directory before the write counts as done (default true). */
  fsync?: boolean
  /** A background write or delete failed, or a blob on disk failed its sha-256. Default: a process warning. */
  onError?: (err: Error, sha: string) => void
}

export interface SweepResult {
  /** Blobs deleted (unreferenced), plus leftover temporary files. */
  removed: number
  /** Blobs left in place. */
  kept: number
}

export class DiskBlobBackend implements BlobBackend {
  /** `<dataDir>/blobs` */
  readonly dir: string
  readonly #fsync: boolean
  readonly #onError: (err: Error, sha: string) => void
  /** Bytes put but not yet (successfully) in place on disk. */
  readonly #pending = new Map<string, Uint8Array>()
  /** Deleted, but the file may not be unlinked yet. */
  readonly #gone = new Set<string>()
  readonly #refs = new Map<string, number>()
  /** The tail of each blob's queue of disk operations. */
  readonly #queues = new Map<string, Promise<void>>()

  constructor (dataDir: string, opts: DiskBlobOptions = {}) {
    this.dir = join(resolve(dataDir), 'blobs')
    this.#fsync = opts.fsync ?? true
    this.#onError = opts.onError ?? ((err, sha) => { process.emitWarning(`blob ${sha.slice(0, 12)}: ${err.message}`, 'MeshworkBlobWarning') })
  }

  static async open (dataDir: string, opts: DiskBlobOptions = {}): Promise<DiskBlobBackend> {
    const b = new DiskBlobBackend(dataDir, opts)
    await mkdir(b.dir, { recursive: true, mode: 0o700 })
    return b
  }

  /** Where the blob lives on disk. */
  pathOf (sha: string): string {
    return join(this.dir, sha.slice(0, 2), sha)
  }

  /**
   * Keep `bytes` under `sha` and count one reference. The first reference
   * writes the file in the background; until it is in place `get` serves the
   * bytes from memory.
   */
  put (sha: string, bytes: Uint8Array): void {
    if (!SHA.test(sha)) throw new Error(`not a sha-256: ${sha}`)
    const n = this.#refs.get(sha) ?? 0
    this.#refs.set(sha, n + 1)
    if (n > 0) return
    this.#gone.delete(sha)
    this.#pending.set(sha, bytes)
    this.#enqueue(sha, async () => { await this.#write(sha, bytes) })
  }

  /** Count one more reference to a blob already on disk (e.g. one a reloaded outbox entry names). */
  retain (sha: string): void {
    if (!SHA.test(sha)) return
    this.#refs.set(sha, (this.#refs.get(sha) ?? 0) + 1)
  }

  /** Remove one reference; the blob is deleted when none is left. */
  drop (sha: string): void {
    const n = this.#refs.get(sha)
    if (n === undefined) return
    if (n > 1) this.#refs.set(sha, n - 1)
    else this.delete(sha)
  }

  /** The in-memory reference count (0 for a blob only found on disk). */
  refCount (sha: string): number {
    return this.#refs.get(sha) ?? 0
  }

  /** Delete the blob now, whatever its reference count. */
  delete (sha: string): void {
    if (!SHA.test(sha)) return
    this.#refs.delete(sha)
    this.#pending.delete(sha)
    this.#gone.add(sha)
    this.#enqueue(sha, async () => {
      if (!this.#gone.has(sha)) return // put again since
      await rm(this.pathOf(sha), { force: true })
      this.#gone.delete(sha)
    })
  }

  /** Whether the blob is held (in memory pending its write, or on disk; not verified). */
  async has (sha: string): Promise<boolean> {
    if (!SHA.test(sha) || this.#gone.has(sha)) return false
    if (this.#pending.has(sha)) return true
    try {
      const fh = await open(this.pathOf(sha), 'r')
      await fh.close()
      return true
    } catch {
      return false
    }
  }

  /** The blob's bytes, verified against `sha`; undefined when missing or corrupt (a corrupt file is deleted). */
  async get (sha: string): Promise<Uint8Array | undefined> {
    if (!SHA.test(sha) || this.#gone.has(sha)) return undefined
    const mem = this.#pending.get(sha)
    if (mem !== undefined) return mem
    const bytes = await this.#read(sha)
    if (bytes === 'corrupt') {
      this.#onError(new Error(`${this.pathOf(sha)} fails its sha-256; deleted`), sha)
      this.#enqueue(sha, async () => {
        // Re-check under the queue: a put in between may have rewritten it.
        if (this.#pending.has(sha) || this.#gone.has(sha)) return
        if (await this.#read(sha) === 'corrupt') await rm(this.pathOf(sha), { force: true })
      })
      return undefined
    }
    // A put or delete may have raced with the read; the in-memory state wins.
    if (this.#gone.has(sha)) return undefined
    return bytes ?? this.#pending.get(sha)
  }

  /** Wait until every write and delete issued so far is done. */
  async flush (): Promise<void> {
    while (this.#queues.size > 0) await Promise.all([...this.#queues.values()])
  }

  /**
   * Delete every blob on disk that is neither in `keep` nor referenced in
   * memory nor being written, and every leftover temporary file. Call it after
   * a restart, once the journal and the outbox are loaded.
   */
  async sweep (keep: ReadonlySet<string>): Promise<SweepResult> {
    const result: SweepResult = { removed: 0, kept: 0 }
    let dirs: string[]
    try {
      dirs = await readdir(this.dir)
    } catch {
      return result
    }
    const mine = `.${process.pid}.`
    for (const d of dirs) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue
      let names: string[]
      try {
        names = await readdir(join(this.dir, d))
      } catch {
        continue
      }
      for (const name of names) {
        if (name.endsWith('.tmp')) {
          if (name.includes(mine)) continue // a write of ours in progress
          await rm(join(this.dir, d, name), { force: true })
          result.removed++
          continue
        }
        if (!SHA.test(name) || !name.startsWith(d)) continue
        if (keep.has(name) || this.#refs.has(name) || this.#pending.has(name)) {
          result.kept++
          continue
        }
        result.removed++
        this.#enqueue(name, async () => {
          if (this.#refs.has(name) || this.#pending.has(name)) return // put since
          await rm(this.pathOf(name), { force: true })
        })
      }
    }
    await this.flush()
    return result
  }

  async #read (sha: string): Promise<Uint8Array | undefined | 'corrupt'> {
    let buf: Buffer
    try {
      buf = await readFile(this.pathOf(sha))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    if (sha256(buf) !== sha) return 'corrupt'
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  async #write (sha: string, bytes: Uint8Array): Promise<void> {
    if (this.#pending.get(sha) !== bytes) return // deleted (or replaced) before its turn
    const dir = join(this.dir, sha.slice(0, 2))
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const tmp = join(dir, `${sha}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
    try {
      const fh = await open(tmp, 'wx', 0o600)
      try {
        await fh.writeFile(bytes)
        if (this.#fsync) await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, this.pathOf(sha))
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
    if (this.#fsync) await syncDir(dir)
    if (this.#pending.get(sha) === bytes) this.#pending.delete(sha)
  }

  #enqueue (sha: string, op: () => Promise<void>): void {
    const prev = this.#queues.get(sha) ?? Promise.resolve()
    const next = prev.then(op).catch((err: unknown) => { this.#onError(err instanceof Error ? err : new Error(String(err)), sha) })
    this.#queues.set(sha, next)
    void next.then(() => { if (this.#queues.get(sha) === next) this.#queues.delete(sha) })
  }
}

/** Make a rename in `dir` durable (best effort where directories cannot be opened, e.g. Windows). */
async function syncDir (dir: string): Promise<void> {
  let fh
  try {
    fh = await open(dir, 'r')
  } catch {
    return
  }
  try {
    await fh.sync()
  } catch {
    // some filesystems refuse fsync on a directory
  } finally {
    await fh.close()
  }
}

/**
 * Every blob sha-256 referenced anywhere in `values` (any `{ sha256, size }`
 * object: `BlobRef`s inside `FileData`, `TaskResult.valueBlob`, …): the `keep`
 * set for `sweep`, built from the journal snapshot and the outbox entries.
 */
export function collectBlobRefs (...values: unknown[]): Set<string> {
  const out = new Set<string>()
  const stack: unknown[] = [...values]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) continue
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x)
      continue
    }
    const o = v as Record<string, unknown>
    if (typeof o.sha256 === 'string' && typeof o.size === 'number' && SHA.test(o.sha256)) out.add(o.sha256)
    for (const x of Object.values(o)) stack.push(x)
  }
  return out
}
