/**
 * The executor's durable outbox (docs/ARCHITECTURE.md §1.4) on LMDB: the `outbox` named
 * database of the peer's store (`<dataDir>/db`, see `db.ts`), one record per
 * entry keyed by `entry.key` (`origin\njob\ntask\nattempt`). `put` and `delete` resolve
 * once their transaction is committed and fsynced.
 */
import type { StoredResult, OutboxStore } from '../../src/execution/outbox.ts'
import { decodeRecord, encodeRecord, openStore, type Store, type StoreDb } from './db.ts'

export class LmdbOutboxStore implements OutboxStore {
  readonly #store: Store
  readonly #db: StoreDb

  /** Use a reference from `openStore` (the outbox closes it on `close`). */
  constructor (store: Store) {
    this.#store = store
    this.#db = store.outbox
  }

  static async open (dataDir: string): Promise<LmdbOutboxStore> {
    return new LmdbOutboxStore(openStore(dataDir))
  }

  async put (entry: StoredResult): Promise<void> {
    await this.#db.put(entry.key, encodeRecord(entry))
  }

  async delete (key: string): Promise<void> {
    await this.#db.remove(key)
  }

  /** Every entry, in (lexical) key order. */
  async load (): Promise<StoredResult[]> {
    const out: StoredResult[] = []
    for (const { key, value } of this.#db.getRange({})) {
      if (typeof key !== 'string') continue
      out.push(decodeRecord(value, `outbox ${JSON.stringify(key)}`) as StoredResult)
    }
    return out
  }

  async close (): Promise<void> {
    await this.#store.close()
  }
}
