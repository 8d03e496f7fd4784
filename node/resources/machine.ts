/**
 * What the machine offers, probed with systeminformation: CPU cores and model,
 * memory, compute GPUs, within a container's cgroup limits. Run once at start
 * (in a worker thread: see probeMachineInWorker in probe.ts).
 */
import { readFileSync } from 'node:fs'
import si from 'systeminformation'
import type { GpuInfo } from '../../protocols/resources.ts'
import type { MachineInfo } from '../../src/resources/capacity.ts'

/** Vendors whose cards run compute work; integrated and virtual display adapters are not counted. */
const COMPUTE_GPU_VENDOR = /nvidia|advanced micro devices|amd|ati technologies/i

export async function probeMachine (): Promise<MachineInfo> {
  const [cpu, mem, graphics] = await Promise.all([
    si.cpu(),
    si.mem(),
    si.graphics().catch(() => ({ controllers: [] as si.Systeminformation.GraphicsControllerData[] }))
  ])
  const cgroup = readCgroupLimits()
  const gpus: GpuInfo[] = graphics.controllers
    .filter(c => COMPUTE_GPU_VENDOR.test(c.vendor ?? '') && (c.vram ?? 0) >= 512)
    .map(c => ({ model: (c.model ?? 'unknown').slice(0, 128), memoryMB: c.vram ?? 0 }))
  return {
    cpuCores: Math.min(cpu.cores, cgroup.cpu ?? Infinity),
    cpuModel: `${cpu.manufacturer} ${cpu.brand}`.trim(),
    memoryMB: Math.floor(Math.min(mem.total, cgroup.memoryBytes ?? Infinity) / (1024 * 1024)),
    gpus
  }
}

/** A container's CPU quota and memory limit (cgroup v2), when set. */
function readCgroupLimits (): { cpu?: number, memoryBytes?: number } {
  const out: { cpu?: number, memoryBytes?: number } = {}
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/)
    if (quota !== undefined && quota !== 'max' && period !== undefined) out.cpu = Number(quota) / Number(period)
  } catch { /* no cgroup v2 CPU limit */ }
  try {
    const limit = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim()
    if (limit !== 'max') out.memoryBytes = Number(limit)
  } catch { /* no cgroup v2 memory limit */ }
  return out
}

