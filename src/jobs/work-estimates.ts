/**
 * How long work takes, learned across jobs: a fresh job that runs the same
 * handler (or program) as earlier ones starts from what those measured, not
 * from a blind default, so its bids' ETAs are right from the first round
 * (docs/ARCHITECTURE.md §5). Durations are normalised to a speed-1.0 peer
 * (duration × the runner's advertised speed), as `workMs` is.
 */

/** Samples kept per kind of work; the median of them is the estimate. */
const SAMPLES = 31
/** Kinds of work remembered; the least recently used is forgotten beyond this. */
const MAX_KEYS = 1024

export class WorkEstimates {
  readonly #samples = new Map<string, number[]>()
  readonly #median = new Map<string, number>()

  record (key: string, workMs: number): void {
    if (!Number.isFinite(workMs) || workMs < 0) return
    let list = this.#samples.get(key)
    if (list === undefined) list = []
    else this.#samples.delete(key) // re-inserted below: most recently used last
    this.#samples.set(key, list)
    list.push(workMs)
    if (list.length > SAMPLES) list.shift()
    this.#median.set(key, [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!)
    if (this.#samples.size > MAX_KEYS) {
      const oldest = this.#samples.keys().next().value!
      this.#samples.delete(oldest)
      this.#median.delete(oldest)
    }
  }

  /** The median work (ms at speed 1.0) measured for `key`, if any. */
  estimate (key: string): number | undefined { return this.#median.get(key) }
}
