/**
 * Artifacts as the core sees them (docs/ARCHITECTURE.md §8): large immutable
 * files (models, datasets) a task names by sha-256. The executor asks the
 * store for local paths before an attempt runs; the store (in `node/`) finds
 * them in its disk cache or fetches them from whichever peers hold them.
 */
import type { ArtifactBytes } from '../../protocols/task.ts'

export interface ArtifactRef { name: string, sha256: string, size: number }

export interface HeldArtifacts {
  /** Name → a local, read-only file with the artifact's bytes. */
  paths: Record<string, string>
  /** Where the bytes came from. */
  bytes: ArtifactBytes
  /** The attempt is done with them (they may be evicted again). */
  release: () => void
}

export interface ArtifactStore {
  /**
   * Local paths for `refs`, fetched where missing (from any holder; `origin`
   * always counts as one). Rejects with a message a user can act on when no
   * peer can supply one.
   */
  acquire: (refs: ArtifactRef[], origin: string, signal: AbortSignal) => Promise<HeldArtifacts>
}
