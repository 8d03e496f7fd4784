/**
 * The peer's durable key-value store: one LMDB environment in `<dataDir>/db`
 * holding a named database for the origin's journal and one for the executor's
 * outbox (docs/ARCHITECTURE.md §1.4). Both share the environment so that writes made in
 * the same event turn commit — and fsync — together.
 *
 * Durability (config `durability`): with `power`, `overlappingSync` is off, so
 * every commit is LMDB's classic synchronous one (the data pages are
 * `fdatasync`ed, then the meta page is written through an `O_DSYNC`
 * descriptor) *before* the `put`/`remove` promises of that transaction resolve.
 * With `process` (the default), the promise resolves once the commit is
 * written and the flush follows at once in the background: it survives a
 * killed process (docs/ARCHITECTURE.md §1.4), but a power cut may lose the last moments.
 *
 * Values are stored as bytes (`encoding: 'binary'`) and encoded with the wire
 * codec (`protocols/codec.ts`: msgpack, no records), so what a restart reads
 * back is exactly what a peer would have decoded from the wire — including
 * `Uint8Array` file contents, which come back as plain `Uint8Array`s.
 *
 * `openStore` hands out counted references to one environment per directory:
 * the journal and the outbox each hold one and close it independently.
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import { decodeValue, encodeMessage } from '../../protocols/codec.ts'

/** Keys are tuples of strings and numbers (lmdb's ordered-binary encoding), or plain strings. */
export type StoreKey = string | Array<string | number>

export type StoreDb = Database<Uint8Array, StoreKey>

export interface Store {
  /** `<dataDir>/db`, the LMDB environment directory. */
  readonly path: string
  readonly journal: StoreDb
  readonly outbox: StoreDb
  /** Release this reference; the environment closes (after pending writes) when the last one is released. */
  close: () => Promise<void>
}

/** The LMDB options and why (see the module comment). */
/**
 * `process`: a write resolves once committed (in the OS page cache), so it
 * survives any killed process, and lmdb flushes to disk right behind it
 * (`overlappingSync`). `power`: a write resolves only after fdatasync, so it
 * also survives a power cut, at the cost of a disk flush per commit (tens of
 * ms on a busy machine, on every award and result).
 */
export type Durability = 'process' | 'power'

function envOptions (durability: Durability): Record<string, unknown> {
  return {
    encoding: 'binary',
    overlappingSync: durability === 'process',
    noSync: false,
    noMetaSync: false,
    // Nothing in the default remapping/map-size behaviour needs changing: the map grows as needed.
    maxDbs: 4
  }
}

interface Shared {
  root: RootDatabase<Uint8Array, StoreKey>
  journal: StoreDb
  outbox: StoreDb
  refs: number
}

const shared = new Map<string, Shared>()

export function storePath (dataDir: string): string {
  return join(resolve(dataDir), 'db')
}

export function openStore (dataDir: string, durability: Durability = 'process'): Store {
  const path = storePath(dataDir)
  let s = shared.get(path)
  if (s === undefined) {
    mkdirSync(path, { recursive: true, mode: 0o700 })
    const root = open<Uint8Array, StoreKey>({ path, ...envOptions(durability) })
    s = {
      root,
      journal: root.openDB<Uint8Array, StoreKey>({ name: 'journal', encoding: 'binary' }),
      outbox: root.openDB<Uint8Array, StoreKey>({ name: 'outbox', encoding: 'binary' }),
      refs: 0
    }
    shared.set(path, s)
  }
  s.refs++
  const env = s
  let closed = false
  return {
    path,
    journal: env.journal,
    outbox: env.outbox,
    close: async () => {
      if (closed) return
      closed = true
      if (--env.refs > 0) return
      if (shared.get(path) === env) shared.delete(path)
      await env.root.close()
    }
  }
}

/** Encode a value for the store (the wire codec's msgpack). */
export function encodeRecord (value: unknown): Uint8Array {
  return encodeMessage(value)
}

/**
 * Decode a stored value. lmdb hands out a fresh `Buffer`; decoding through a
 * plain `Uint8Array` view makes embedded byte strings plain `Uint8Array`s too.
 */
export function decodeRecord (bytes: Uint8Array, what: string): unknown {
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const d = decodeValue(view)
  if (!d.ok) throw new Error(`corrupt ${what} record: ${d.detail}`)
  return d.value
}
