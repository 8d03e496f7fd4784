/**
 * What the machine offers: CPU cores and model, memory, compute GPUs, within a
 * container's cgroup limits. Probed once at start.
 *
 * CPU and memory come from `os`, in this process, in microseconds. GPUs come
 * from systeminformation, which runs in a short-lived child process
 * (gpu-probe.ts): loading it here would keep about 8 MB in the peer for its
 * whole life, and a worker thread, tried first, left 25–30 MB of the
 * thread's memory behind in one start of three (measured on an idle daemon).
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { GpuInfo } from '../../protocols/resources.ts'
import type { MachineInfo } from '../../src/resources/capacity.ts'
import { siblingModule } from '../package.ts'

/** The GPU probe may run `lspci`, `nvidia-smi` and the like: give it time, but not forever. */
const GPU_PROBE_TIMEOUT_MS = 15_000

export interface ProbeOptions {
  /** Look for GPUs; not when the config declares how many there are. */
  gpus: boolean
  /** Hears why GPUs could not be probed (the machine then offers none unless the config says so). */
  onProblem?: (why: string) => void
}

export async function probeMachine (opts: ProbeOptions): Promise<MachineInfo> {
  const gpus = !opts.gpus
    ? Promise.resolve([])
    : probeGpus().catch((err: Error) => {
      opts.onProblem?.(err.message)
      return []
    })
  const cgroup = readCgroupLimits()
  return {
    cpuCores: Math.min(availableParallelism(), cgroup.cpu ?? Infinity),
    cpuModel: (cpus()[0]?.model ?? 'unknown').trim().slice(0, 128),
    memoryMB: Math.floor(Math.min(totalmem(), cgroup.memoryBytes ?? Infinity) / (1024 * 1024)),
    gpus: await gpus
  }
}

/** The compute GPUs, from gpu-probe.ts in a child process of this same Node. */
async function probeGpus (): Promise<GpuInfo[]> {
  const script = fileURLToPath(siblingModule(import.meta.url, './gpu-probe'))
  const stdout = await new Promise<string>((resolve, reject) => {
    // ELECTRON_RUN_AS_NODE: in an Electron app, execPath is Electron itself.
    execFile(process.execPath, [script], { timeout: GPU_PROBE_TIMEOUT_MS, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, maxBuffer: 1 << 20 }, (err, out) => {
      if (err !== null) reject(new Error(`GPU probe failed: ${err.message}`))
      else resolve(out)
    })
  })
  const parsed: unknown = JSON.parse(stdout)
  if (!Array.isArray(parsed) || !parsed.every(isGpu)) throw new Error(`GPU probe printed something other than a GPU list: ${stdout.slice(0, 200)}`)
  return parsed
}

function isGpu (g: unknown): g is GpuInfo {
  const { model, memoryMB } = (g ?? {}) as Record<string, unknown>
  return typeof model === 'string' && typeof memoryMB === 'number' && Number.isFinite(memoryMB) && memoryMB >= 0
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
