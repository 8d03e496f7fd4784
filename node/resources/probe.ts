/**
 * The machine as the core sees it (`ResourceProbe`): probed once at start with
 * systeminformation (CPU, memory, GPUs), then load sampled every period from
 * `os` and the event-loop monitor, which cost microseconds.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { cpus, freemem, loadavg } from 'node:os'
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import si from 'systeminformation'
import type { GpuInfo } from '../../protocols/resources.ts'
import type { LoadSample, MachineInfo, ResourceProbe } from '../../src/resources/capacity.ts'
import { calibrateSpeed } from './calibrate.ts'

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

/**
 * CPU time (ms) used by this process's descendants (exec tasks and whatever
 * they started), from /proc; undefined where there is no /proc. A process that
 * starts and ends between two samples is missed, which only ever makes outside
 * load look larger for one sample.
 */
export function descendantsCpuMs (): number | undefined {
  let entries: string[]
  try { entries = readdirSync('/proc') } catch { return undefined }
  const parent = new Map<number, number>()
  const cpu = new Map<number, number>()
  for (const name of entries) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parent.set(pid, Number(f[1]))
      cpu.set(pid, (Number(f[11]) + Number(f[12])) * 10)
    } catch { /* the process ended meanwhile */ }
  }
  let total = 0
  for (const [pid, ms] of cpu) {
    // Walk up to see whether `pid` descends from us.
    let p = parent.get(pid)
    for (let hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === process.pid) { total += ms; break }
      p = parent.get(p)
    }
  }
  return total
}

/** Samples load on a timer; `load()` returns the latest sample without blocking. */
export class LoadSampler {
  #latest: LoadSample
  #prevCpu = cpuTimes()
  #prevSelf = process.cpuUsage()
  #prevKids = descendantsCpuMs()
  #prevAt = performance.now()
  readonly #eld: IntervalHistogram
  #timer: NodeJS.Timeout | undefined

  constructor () {
    this.#eld = monitorEventLoopDelay({ resolution: 20 })
    this.#latest = { avg1: loadavg()[0] ?? 0, cpuBusy: 0, eventLoopDelayMs: 0, memoryAvailableMB: Math.floor(freemem() / 1048576) }
  }

  start (periodMs: number): void {
    this.#eld.enable()
    this.#timer = setInterval(() => { this.sample() }, periodMs)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#eld.disable()
  }

  load = (): LoadSample => this.#latest

  sample (): LoadSample {
    const now = cpuTimes()
    const total = now.total - this.#prevCpu.total
    const idle = now.idle - this.#prevCpu.idle
    this.#prevCpu = now
    const p99 = this.#eld.percentile(99) / 1e6
    this.#eld.reset()
    // The mesh's own CPU: this process (worker threads included) and its task processes.
    const at = performance.now()
    const self = process.cpuUsage(this.#prevSelf)
    this.#prevSelf = process.cpuUsage()
    const kids = descendantsCpuMs()
    const kidsMs = kids !== undefined && this.#prevKids !== undefined ? Math.max(0, kids - this.#prevKids) : 0
    this.#prevKids = kids
    const wallMs = Math.max(1, at - this.#prevAt)
    this.#prevAt = at
    const meshMs = (self.user + self.system) / 1000 + kidsMs
    this.#latest = {
      avg1: round2(loadavg()[0] ?? 0),
      cpuBusy: total > 0 ? round2(Math.min(100, Math.max(0, 100 * (1 - idle / total)))) : 0,
      eventLoopDelayMs: Number.isFinite(p99) ? round2(p99) : 0,
      memoryAvailableMB: Math.floor(freemem() / 1048576),
      meshCpuBusy: round2(Math.min(100, 100 * meshMs / (wallMs * cpus().length)))
    }
    return this.#latest
  }
}

function cpuTimes (): { idle: number, total: number } {
  let idle = 0
  let total = 0
  for (const c of cpus()) {
    idle += c.times.idle
    total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle
  }
  return { idle, total }
}

function round2 (x: number): number {
  return Math.round(x * 100) / 100
}

/** Probe the machine, calibrate (unless the config fixes the speed) and start sampling. */
export async function createProbe (speed: number | 'auto', periodMs: number): Promise<ResourceProbe & { sampler: LoadSampler }> {
  const machine = await probeMachine()
  const sampler = new LoadSampler()
  sampler.start(periodMs)
  return { machine, speed: speed === 'auto' ? calibrateSpeed() : speed, load: sampler.load, sampler }
}
