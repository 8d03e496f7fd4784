/**
 * Load shift (docs/ARCHITECTURE.md §7): a peer watches its own machine, and when load
 * that is not the mesh's (the owner starts a build) keeps it busy beyond
 * `yield.cpuBusyPercent` for `yield.sustainMs`, or memory runs short, it yields:
 * it stops taking work and gives work back according to the policy. Pure: fed
 * one load sample at a time with its time.
 */
import type { MeshConfig } from '../config.ts'
import type { LoadSample } from '../resources/capacity.ts'

export type YieldPolicy = Exclude<MeshConfig['yield']['policy'], 'off'>

export interface YieldDecision {
  /** True while the machine is considered busy with its owner's work. */
  busy: boolean
  /** Set on the sample where the busy state began (give work back now). */
  started: boolean
  /** Share of the machine's CPU (0–1) that outside load takes now: advertised capacity shrinks by it. */
  outsideShare: number
  reason?: string
}

/** Percentage points below the threshold that count as calm again. */
export const HYSTERESIS = 10
/** Weight of a new sample in the moving averages (samples come on each heartbeat: a few samples of memory). */
const SMOOTHING = 0.6

export class YieldWatcher {
  readonly #cfg: { cpuBusyPercent: number, sustainMs: number }
  readonly #memoryReserveMB: number
  #overSince: number | undefined
  #busy = false

  constructor (cfg: { cpuBusyPercent: number, sustainMs: number }, memoryReserveMB: number) {
    this.#cfg = cfg
    this.#memoryReserveMB = memoryReserveMB
  }

  get busy (): boolean { return this.#busy }

  /** Smoothed machine busy and mesh share (exponential moving averages): short samples are noisy. */
  #cpu: number | undefined
  #mesh: number | undefined

  sample (load: LoadSample, now: number): YieldDecision {
    this.#cpu = this.#cpu === undefined ? load.cpuBusy : this.#cpu + SMOOTHING * (load.cpuBusy - this.#cpu)
    const meshNow = load.meshCpuBusy ?? 0
    this.#mesh = this.#mesh === undefined ? meshNow : this.#mesh + SMOOTHING * (meshNow - this.#mesh)
    const cpuBusy = this.#cpu
    const outside = Math.max(0, cpuBusy - this.#mesh)
    const memoryShort = load.memoryAvailableMB > 0 && load.memoryAvailableMB < this.#memoryReserveMB / 2
    // Hysteresis: once over the threshold, a sample must fall HYSTERESIS points below it to count as
    // calm, so the noise of short samples around the threshold neither resets nor flaps the state.
    const threshold = this.#overSince === undefined ? this.#cfg.cpuBusyPercent : this.#cfg.cpuBusyPercent - HYSTERESIS
    // Outside load alone over the threshold; or the machine busy beyond it with outside load at least
    // as large as the mesh's own. (The mesh's processes keep their CPU share, so on a saturated
    // machine outside load can never reach the threshold while the mesh is busy too.)
    const over = outside >= threshold || (cpuBusy >= threshold && outside >= this.#mesh && outside > 0) || memoryShort
    if (!over) {
      // Calm again: take work at once (the next ads show the capacity back).
      this.#overSince = undefined
      this.#busy = false
      return { busy: false, started: false, outsideShare: outside / 100 }
    }
    this.#overSince ??= now
    const sustained = now - this.#overSince >= this.#cfg.sustainMs
    const started = sustained && !this.#busy
    if (sustained) this.#busy = true
    const reason = memoryShort
      ? `memory short (${load.memoryAvailableMB} MB available)`
      : `machine busy with other work (${Math.round(outside)}% CPU for ${Math.round((now - this.#overSince) / 1000)} s)`
    return { busy: this.#busy, started, outsideShare: this.#busy ? 1 : outside / 100, reason }
  }
}
