/**
 * Where an executor keeps finished results until their origin acknowledges
 * them (DESIGN.md §1.4): written before the result is first sent, deleted on
 * the ack, and reloaded after a restart so nothing finished is ever lost.
 * `MemoryOutboxStore` serves tests and embedded peers without files; the
 * durable one lives in `node/`.
 */
import type { TaskResult } from '../../protocols/task.ts'

export interface OutboxEntry {
  /** `job\ntask\nattempt` (see `attemptKey`). */
  key: string
  origin: string
  jobId: string
  result: TaskResult
  /** When the result was produced (ms); entries older than the outbox TTL are dropped. */
  at: number
}

export interface OutboxStore {
  /** Durable before it resolves. */
  put: (entry: OutboxEntry) => Promise<void>
  delete: (key: string) => Promise<void>
  load: () => Promise<OutboxEntry[]>
  close?: () => Promise<void>
}

export class MemoryOutboxStore implements OutboxStore {
  readonly entries = new Map<string, OutboxEntry>()
  async put (entry: OutboxEntry): Promise<void> { this.entries.set(entry.key, entry) }
  async delete (key: string): Promise<void> { this.entries.delete(key) }
  async load (): Promise<OutboxEntry[]> { return [...this.entries.values()] }
}
