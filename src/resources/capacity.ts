/**
 * What this peer offers the mesh. Capacity = what the machine has (probed, or
 * set in config) minus the reserve kept for the machine's owner. Free = capacity
 * minus what mesh work holds (nothing yet: tasks arrive with the auction).
 */
import { LIMITS as AD_LIMITS, type GpuInfo, type Resources } from '../../protocols/resources.ts'
import type { MeshConfig } from '../config.ts'

/** The machine as probed once at start-up (`node/resources/probe.ts`). */
export interface MachineInfo {
  cpuCores: number
  cpuModel: string
  memoryMB: number
  gpus: GpuInfo[]
}

/** The machine's load, sampled every gossip interval. */
export interface LoadSample {
  /** 1-minute load average. */
  avg1: number
  /** Whole-machine CPU busy %, 0–100, over the last sample period. */
  cpuBusy: number
  /** This process's event-loop delay (p99 over the last period), ms. */
  eventLoopDelayMs: number
  /** Memory the OS reports available, MB. */
  memoryAvailableMB: number
  /**
   * CPU busy % (of the whole machine) used by this peer itself: its process,
   * worker threads and the task processes it started. Load that is not the
   * mesh's is `cpuBusy − meshCpuBusy`. Undefined when the probe cannot tell.
   */
  meshCpuBusy?: number
}

/** What the core asks of the machine; `node/` answers with systeminformation and `os`. */
export interface ResourceProbe {
  machine: MachineInfo
  /** Calibrated speed score (1.0 = reference machine). */
  speed: number
  /** Latest load sample; cheap, never blocks. */
  load: () => LoadSample
}

/**
 * This peer's GPUs one by one (docs/ARCHITECTURE.md §8): the probed ones, or
 * with a declared `resources.gpu: N` devices 0…N-1 (named as probed where the
 * probe saw them); memory from `resources.gpuMemoryMB` when set (one number
 * for all, or one per device), else as probed, else 0 (unknown).
 */
export function gpuDevices (machine: MachineInfo, cfg: Pick<MeshConfig['resources'], 'gpu' | 'gpuMemoryMB'>): GpuInfo[] {
  const count = Math.min(cfg.gpu === 'auto' ? machine.gpus.length : cfg.gpu, AD_LIMITS.maxGpus)
  const declared = cfg.gpuMemoryMB
  return Array.from({ length: count }, (_, i) => {
    const probed = machine.gpus[i]
    const memoryMB = typeof declared === 'number' ? declared : declared?.[i] ?? probed?.memoryMB ?? 0
    return { model: probed?.model ?? 'GPU', memoryMB }
  })
}

export function computeCapacity (machine: MachineInfo, cfg: MeshConfig['resources']): Resources {
  const cpu = cfg.cpu === 'auto' ? machine.cpuCores : cfg.cpu
  const memoryMB = cfg.memoryMB === 'auto' ? machine.memoryMB : cfg.memoryMB
  const gpu = cfg.gpu === 'auto' ? machine.gpus.length : cfg.gpu
  const gpuMemoryMB = gpu > 0 ? gpuDevices(machine, cfg).reduce((sum, g) => sum + g.memoryMB, 0) : 0
  return {
    // Milli-core precision: enough for any real reserve, and free of float dust.
    cpu: Math.max(0, Math.round((cpu - cfg.reserve.cpu) * 1000) / 1000),
    memoryMB: Math.max(0, Math.floor(memoryMB - cfg.reserve.memoryMB)),
    gpu,
    ...(gpuMemoryMB > 0 ? { gpuMemoryMB } : {}),
    custom: { ...cfg.custom }
  }
}

/**
 * Should free capacity be re-advertised now rather than at the next periodic
 * ad? Yes when any resource moved by at least a tenth of its capacity (or by one
 * unit for small counts such as GPUs and licences), so that bidders elsewhere
 * stop counting on capacity that is gone, without an ad per task.
 */
export function isSignificantChange (before: Resources, after: Resources, capacity: Resources): boolean {
  const moved = (a: number, b: number, cap: number) => a !== b && Math.abs(a - b) >= Math.max(Math.min(1, cap), cap / 10)
  if (moved(before.cpu, after.cpu, capacity.cpu)) return true
  if (moved(before.memoryMB, after.memoryMB, capacity.memoryMB)) return true
  if (moved(before.gpu, after.gpu, capacity.gpu)) return true
  if (moved(before.gpuMemoryMB ?? 0, after.gpuMemoryMB ?? 0, capacity.gpuMemoryMB ?? 0)) return true
  const names = new Set([...Object.keys(before.custom), ...Object.keys(after.custom)])
  for (const n of names) {
    if (moved(before.custom[n] ?? 0, after.custom[n] ?? 0, capacity.custom[n] ?? 0)) return true
  }
  return false
}
