/**
 * Content-addressed blobs as the core sees them: large values, files and
 * checkpoints travel as references (sha-256 and size) and are fetched over the
 * blob protocol, verified (docs/ARCHITECTURE.md §4). In memory for tests; on
 * disk in `node/`.
 */
import type { BlobRef } from '../../protocols/task.ts'

export interface BlobStore {
  put: (bytes: Uint8Array) => BlobRef
  /** Forget a blob once nobody needs it (its result was acknowledged). */
  drop: (ref: BlobRef) => void
  /** Fetch a blob from `peer` (or locally), verified against its sha-256. */
  fetch: (peer: string, ref: BlobRef) => Promise<Uint8Array>
  /** Resolves once every blob put so far is durable; called before writing a record that names one. */
  flush?: () => Promise<void>
  /** Count a reference to a blob a reloaded record names (so acknowledging it frees the blob). */
  retain?: (ref: BlobRef) => void
}
