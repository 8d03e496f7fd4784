/**
 * `ctx.warm(key, load)`: expensive objects (a loaded model session) kept
 * between tasks, keyed, least recently used out. Each worker thread has its
 * own cache (objects cannot cross threads); the main thread has one for
 * embedded handlers. See docs/ARCHITECTURE.md §8.
 *
 * Eviction waits until no task of the thread is running (`trim()`, called by
 * the thread when a task ends): an object is never disposed under the task
 * that is using it, at the price of the cache holding more than `max` while a
 * task warms several keys.
 */

export interface WarmEvents {
  /** `key` finished loading in `loadMs`. */
  loaded: (key: string, loadMs: number) => void
  /** `key` left the cache (evicted or its load failed). */
  dropped: (key: string) => void
}

export class WarmCache {
  max: number
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Promise<unknown>>()
  readonly #events: WarmEvents

  constructor (max: number, events: WarmEvents) {
    this.max = max
    this.#events = events
  }

  /** The cached object for `key`, or `load()`'s, which is then kept. Concurrent callers share one load. */
  async get<T> (key: string, load: () => T | Promise<T>): Promise<T> {
    if (typeof key !== 'string' || key === '') throw new TypeError('ctx.warm: the key must be a non-empty string')
    const hit = this.#entries.get(key)
    if (hit !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, hit)
      return await (hit as Promise<T>)
    }
    const t0 = performance.now()
    const loading = (async () => await load())()
    this.#entries.set(key, loading)
    try {
      const value = await loading
      this.#events.loaded(key, performance.now() - t0)
      return value
    } catch (err) {
      // A failed load is not cached: the next task tries again.
      if (this.#entries.get(key) === loading) {
        this.#entries.delete(key)
        this.#events.dropped(key)
      }
      throw err
    }
  }

  keys (): string[] {
    return [...this.#entries.keys()]
  }

  /** Evicts least recently used entries beyond `max`, calling each one's `dispose()` or `release()`. */
  trim (): void {
    while (this.#entries.size > Math.max(0, this.max)) {
      const [key, value] = this.#entries.entries().next().value as [string, Promise<unknown>]
      this.#entries.delete(key)
      this.#events.dropped(key)
      void value.then(dispose, () => {})
    }
  }
}

async function dispose (value: unknown): Promise<void> {
  if (typeof value !== 'object' || value === null) return
  const v = value as { dispose?: unknown, release?: unknown }
  const fn = typeof v.dispose === 'function' ? v.dispose : typeof v.release === 'function' ? v.release : undefined
  try {
    await (fn as (() => unknown) | undefined)?.call(value)
  } catch {
    // A failing dispose must not take the thread down; the object is gone from the cache anyway.
  }
}
