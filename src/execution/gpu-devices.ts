/**
 * Which of this peer's GPUs each running attempt holds (docs/ARCHITECTURE.md §8).
 * The ledger counts GPUs; this hands out the devices themselves, so two GPU
 * tasks on one peer never get the same card. Devices are numbered 0…N-1 in
 * the order the peer sees them (the exec runner maps them to the ids in the
 * daemon's own `CUDA_VISIBLE_DEVICES`, when that is set). Jobs ask for whole
 * GPUs, and the ledger never lets running attempts hold more than the peer
 * has, so a `take` for a started attempt finds its devices free.
 */
export class GpuDevices {
  readonly #free: boolean[]

  constructor (count: number) {
    this.#free = Array.from({ length: Math.max(0, Math.floor(count)) }, () => true)
  }

  get count (): number { return this.#free.length }

  /** Devices held now. */
  get held (): number { return this.#free.filter(f => !f).length }

  /** The `n` lowest-numbered free devices, now held; undefined (and nothing held) when fewer are free. */
  take (n: number): number[] | undefined {
    const ids: number[] = []
    for (let i = 0; i < this.#free.length && ids.length < n; i++) if (this.#free[i]!) ids.push(i)
    if (ids.length < n) return undefined
    for (const i of ids) this.#free[i] = false
    return ids
  }

  /** Devices an attempt no longer holds. */
  give (ids: readonly number[]): void {
    for (const i of ids) if (i >= 0 && i < this.#free.length) this.#free[i] = true
  }
}
