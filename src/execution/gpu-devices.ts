/**
 * Which of this peer's GPUs each running attempt holds, and how much of their
 * memory (docs/ARCHITECTURE.md §8). The ledger counts GPUs and GPU memory in
 * total; this hands out the devices themselves, so two GPU tasks on one peer
 * never get the same card unless both asked for a share of one, and shares
 * never hold more memory than the card has. Devices are numbered 0…N-1 in the
 * order the peer sees them (the exec runner maps them to the ids in the
 * daemon's own `CUDA_VISIBLE_DEVICES`, when that is set).
 *
 * A task asks for `gpu` whole devices (each with at least `gpuMemoryMB`
 * memory when it names some), or, with `gpu` 0 and `gpuMemoryMB` > 0, for a
 * share of one device. A whole-device holder excludes sharers and the other
 * way round. A device whose memory is unknown (0) takes whole-device tasks
 * only. The ledger's totals can fit where no single device does: the caller
 * asks `fits` before it starts an attempt and keeps it queued otherwise.
 */

/** One device as ads and `mesh peers` show it. */
export interface GpuDeviceState {
  /** Its memory, MB; 0 when unknown. */
  memoryMB: number
  /** Memory no running task holds, MB (0 when it is held whole or its memory is unknown). */
  freeMemoryMB: number
  /** A task holds the whole device. */
  whole: boolean
  /** Tasks holding a share of it. */
  shares: number
}

export class GpuDevices {
  readonly #memory: number[]
  readonly #whole: boolean[]
  /** MB held by shares, per device. */
  readonly #shared: number[]
  readonly #shares: number[]

  /** `devices`: how many (memory unknown), or each device's memory in MB (0 = unknown). */
  constructor (devices: number | readonly number[]) {
    this.#memory = typeof devices === 'number'
      ? Array.from({ length: Math.max(0, Math.floor(devices)) }, () => 0)
      : devices.map(m => Number.isFinite(m) && m > 0 ? Math.floor(m) : 0)
    this.#whole = this.#memory.map(() => false)
    this.#shared = this.#memory.map(() => 0)
    this.#shares = this.#memory.map(() => 0)
  }

  get count (): number { return this.#memory.length }

  /** Devices in use now, whole or shared. */
  get held (): number { return this.#memory.filter((_, i) => this.#inUse(i)).length }

  /** Could `take(n, memoryMB)` succeed now? */
  fits (n: number, memoryMB = 0): boolean { return this.#pick(n, memoryMB) !== undefined }

  /**
   * Hold devices: `n` > 0 takes the `n` lowest-numbered idle devices with at
   * least `memoryMB` each, whole; `n` 0 with `memoryMB` > 0 takes a share of
   * one device (the one it fills best, so whole devices stay free for tasks
   * that need them). Undefined, and nothing held, when that is not possible
   * now; `[]` for a task that asks for no GPU.
   */
  take (n: number, memoryMB = 0): number[] | undefined {
    const ids = this.#pick(n, memoryMB)
    if (ids === undefined) return undefined
    if (n > 0) {
      for (const i of ids) this.#whole[i] = true
    } else if (ids.length === 1) {
      this.#shared[ids[0]!]! += memoryMB
      this.#shares[ids[0]!]! += 1
    }
    return ids
  }

  /** Devices an attempt no longer holds: whole ones, or its share of `shareMB` (what it took with `n` 0). */
  give (ids: readonly number[], shareMB = 0): void {
    for (const i of ids) {
      if (i < 0 || i >= this.#memory.length) continue
      if (shareMB > 0) {
        this.#shared[i] = Math.max(0, this.#shared[i]! - shareMB)
        this.#shares[i] = Math.max(0, this.#shares[i]! - 1)
      } else {
        this.#whole[i] = false
      }
    }
  }

  /** Each device's memory and what is free of it. */
  state (): GpuDeviceState[] {
    return this.#memory.map((memoryMB, i) => ({
      memoryMB,
      freeMemoryMB: this.#whole[i]! ? 0 : Math.max(0, memoryMB - this.#shared[i]!),
      whole: this.#whole[i]!,
      shares: this.#shares[i]!
    }))
  }

  /** A copy to try placements on (the bidder), leaving this one as it is. */
  clone (): GpuDevices {
    const c = new GpuDevices(this.#memory)
    for (let i = 0; i < this.#memory.length; i++) {
      c.#whole[i] = this.#whole[i]!
      c.#shared[i] = this.#shared[i]!
      c.#shares[i] = this.#shares[i]!
    }
    return c
  }

  #inUse (i: number): boolean { return this.#whole[i]! || this.#shares[i]! > 0 }

  #pick (n: number, memoryMB: number): number[] | undefined {
    const n0 = Math.max(0, Math.ceil(n))
    const m = Math.max(0, memoryMB)
    if (n0 > 0) {
      const ids: number[] = []
      for (let i = 0; i < this.#memory.length && ids.length < n0; i++) {
        if (!this.#inUse(i) && (m === 0 || this.#memory[i]! >= m)) ids.push(i)
      }
      return ids.length === n0 ? ids : undefined
    }
    if (m === 0) return []
    let best: number | undefined
    let bestLeft = Infinity
    for (let i = 0; i < this.#memory.length; i++) {
      if (this.#whole[i]! || this.#memory[i]! === 0) continue
      const left = this.#memory[i]! - this.#shared[i]! - m
      if (left >= 0 && left < bestLeft) { best = i; bestLeft = left }
    }
    return best === undefined ? undefined : [best]
  }
}

/** Devices a task of this demand needs: how many whole ones, and the memory it asks for on each (or its share). */
export function gpuNeed (demand: { gpu: number, gpuMemoryMB?: number }): { n: number, memoryMB: number } {
  return { n: Math.max(0, Math.ceil(demand.gpu)), memoryMB: Math.max(0, demand.gpuMemoryMB ?? 0) }
}
