/**
 * Where an executor keeps finished results until their origin acknowledges
 * them (docs/ARCHITECTURE.md §1.4): written before the result is first sent, deleted on
 * the ack, and reloaded after a restart so nothing finished is ever lost.
 * `MemoryOutboxStore` serves tests and embedded peers without files; the
 * durable one lives in `node/`.
 */
import type { TaskResult } from '../../protocols/task.ts'

export interface StoredResult {
  /** `origin\njob\ntask\nattempt` (see `attemptKey`; older versions left out the origin). */
  key: string
  origin: string
  jobId: string
  result: TaskResult
  /** When the result was produced (ms); entries older than the outbox TTL are dropped. */
  at: number
}

export interface OutboxStore {
  /** Durable before it resolves. */
  put: (entry: StoredResult) => Promise<void>
  delete: (key: string) => Promise<void>
  load: () => Promise<StoredResult[]>
  close?: () => Promise<void>
}

export class MemoryOutboxStore implements OutboxStore {
  readonly entries = new Map<string, StoredResult>()
  async put (entry: StoredResult): Promise<void> { this.entries.set(entry.key, entry) }
  async delete (key: string): Promise<void> { this.entries.delete(key) }
  async load (): Promise<StoredResult[]> { return [...this.entries.values()] }
}
