/**
 * Blob stores for peers on a `MemoryNetwork`: each peer's store is registered
 * by id, and fetching from a peer reads its store (if it is reachable).
 */
import type { BlobRef } from '../../protocols/task.ts'
import type { BlobStore } from '../execution/executor.ts'
import type { MemoryNetwork } from './memory-network.ts'

export class MemoryBlobRegistry {
  readonly stores = new Map<string, MemoryBlobStore>()
  readonly net: MemoryNetwork
  constructor (net: MemoryNetwork) { this.net = net }
  store (peer: string): MemoryBlobStore {
    const s = new MemoryBlobStore(this, peer)
    this.stores.set(peer, s)
    return s
  }
}

let counter = 0

export class MemoryBlobStore implements BlobStore {
  readonly #reg: MemoryBlobRegistry
  readonly #self: string
  readonly blobs = new Map<string, Uint8Array>()
  constructor (reg: MemoryBlobRegistry, self: string) { this.#reg = reg; this.#self = self }

  put (bytes: Uint8Array): BlobRef {
    // Content addressing is emulated: the key only needs to be unique and stable per put.
    const id = (++counter).toString(16).padStart(64, '0')
    this.blobs.set(id, bytes)
    return { sha256: id, size: bytes.byteLength }
  }

  drop (ref: BlobRef): void { this.blobs.delete(ref.sha256) }

  async fetch (peer: string, ref: BlobRef): Promise<Uint8Array> {
    const own = this.blobs.get(ref.sha256)
    if (own !== undefined) return own
    if (!this.#reg.net.reachable(this.#self, peer)) throw new Error(`peer ${peer} unreachable`)
    const b = this.#reg.stores.get(peer)?.blobs.get(ref.sha256)
    if (b === undefined) throw new Error(`peer ${peer} has no blob ${ref.sha256}`)
    return b
  }
}
