/**
 * The simulator's only source of randomness: a seeded PRNG (mulberry32), so a
 * seed replays the same run event for event. Independent streams are forked by
 * label, so drawing more numbers for one concern (say, message loss) does not
 * shift what another (the fault plan, task durations) sees.
 */

/** 32-bit FNV-1a over a string: labels and (job, task) keys to seeds. */
export function hash32 (s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  // A final avalanche so nearby strings give unrelated values.
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A value in [0, 1) fixed by `(seed, ...parts)`: for per-task properties that must not depend on event order. */
export function unit (seed: number, ...parts: Array<string | number>): number {
  return hash32(parts.join('\u0000'), hash32(String(seed))) / 4294967296
}

export class Rng {
  readonly seed: number
  #state: number

  constructor (seed: number) {
    this.seed = seed >>> 0
    this.#state = this.seed
  }

  /** A value in [0, 1). */
  next = (): number => {
    this.#state = (this.#state + 0x6D2B79F5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An independent stream named `label` (same seed and label, same stream). */
  fork (label: string): Rng {
    return new Rng(hash32(label, hash32(String(this.seed))))
  }

  /** An integer in [lo, hi] (inclusive). */
  int (lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  /** A number in [lo, hi). */
  range (lo: number, hi: number): number {
    return lo + this.next() * (hi - lo)
  }

  chance (p: number): boolean {
    return this.next() < p
  }

  pick<T> (items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list')
    return items[Math.floor(this.next() * items.length)]!
  }

  /** `k` distinct items (all of them when there are fewer), in random order. */
  sample<T> (items: readonly T[], k: number): T[] {
    const a = [...items]
    const n = Math.min(k, a.length)
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (a.length - i))
      ;[a[i], a[j]] = [a[j]!, a[i]!]
    }
    return a.slice(0, n)
  }

  /** Index into `weights` drawn in proportion to them (all zero: -1). */
  weighted (weights: readonly number[]): number {
    const total = weights.reduce((s, w) => s + Math.max(0, w), 0)
    if (total <= 0) return -1
    let x = this.next() * total
    for (let i = 0; i < weights.length; i++) {
      x -= Math.max(0, weights[i]!)
      if (x < 0) return i
    }
    return weights.length - 1
  }
}
