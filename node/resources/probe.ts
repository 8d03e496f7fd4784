/**
 * The machine as the core sees it (`ResourceProbe`): probed once at start
 * (CPU, memory, GPUs; see machine.ts), then load sampled when the core asks,
 * from /proc and `os`, which cost microseconds.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { cpus, freemem, loadavg } from 'node:os'
import type { LoadSample, ResourceProbe } from '../../src/resources/capacity.ts'
import { takeTimerLateness } from '../system-clock.ts'
import { calibrateSpeed } from './calibrate.ts'
import { probeMachine, type ProbeOptions } from './machine.ts'

/**
 * CPU time (ms) used by this process's descendants (exec tasks and whatever
 * they started), from /proc; undefined where there is no /proc. A process that
 * starts and ends between two samples is missed, which only ever makes outside
 * load look larger for one sample.
 */
export function descendantsCpuMs (): number | undefined {
  return descendantsCpuMsByChildren(process.pid) ?? descendantsCpuMsByScan()
}

/**
 * Walks down from `root` through /proc/<pid>/task/<tid>/children: a few reads
 * when there are no task processes, which is most of the time. Undefined where
 * the kernel has no children files (CONFIG_PROC_CHILDREN).
 */
function descendantsCpuMsByChildren (root: number): number | undefined {
  let total = 0
  const seen = new Set<number>([root])
  const todo = [root]
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    let tids: string[]
    try { tids = readdirSync(`/proc/${pid}/task`) } catch { continue } // ended meanwhile
    for (const tid of tids) {
      let children: string
      try {
        children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
      } catch {
        if (pid === root && tid === String(root)) return undefined
        continue
      }
      for (const word of children.split(' ')) {
        const child = Number(word)
        if (word === '' || !Number.isInteger(child) || seen.has(child)) continue
        seen.add(child)
        todo.push(child)
        total += processCpuMs(child)
      }
    }
  }
  return total
}

/** CPU time (user + system, ms) of one process; 0 if it has ended. */
function processCpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 10
  } catch {
    return 0
  }
}

/** Reads every process's /proc/<pid>/stat and keeps those whose parent chain reaches us. */
function descendantsCpuMsByScan (): number | undefined {
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

/** Calls closer together than this share one sample: a window this short says little. */
const MIN_SAMPLE_MS = 100

/**
 * Load, sampled when asked: `load()` measures the window since the previous
 * sample. Its callers (the executor's heartbeat and each outgoing ad) set the
 * cadence, so an idle peer pays for no timer of its own, and the samples cover
 * exactly the periods they are used for.
 *
 * Event-loop delay is how late the peer's own timers fired over the window
 * (see system-clock.ts), not a histogram of a timer of its own:
 * `monitorEventLoopDelay` wakes the process at its resolution, and at the
 * 20 ms this used, those wake-ups alone cost 0.5 % of a core in an otherwise
 * idle process (measured here; 0.05 % at 250 ms).
 */
export class LoadSampler {
  #latest: LoadSample
  #prevCpu = cpuTimes()
  #prevSelf = process.cpuUsage()
  #prevKids = descendantsCpuMs()
  #prevAt = performance.now()
  readonly #cores = Math.max(1, cpus().length)

  constructor () {
    this.#latest = { avg1: loadavg()[0] ?? 0, cpuBusy: 0, eventLoopDelayMs: 0, memoryAvailableMB: Math.floor(freemem() / 1048576) }
  }

  load = (): LoadSample => {
    if (performance.now() - this.#prevAt >= MIN_SAMPLE_MS) this.#latest = this.sample()
    return this.#latest
  }

  sample (): LoadSample {
    const now = cpuTimes()
    const total = now.total - this.#prevCpu.total
    const idle = now.idle - this.#prevCpu.idle
    this.#prevCpu = now
    const lateMs = takeTimerLateness()
    // The mesh's own CPU: this process (worker threads included) and its task processes.
    const at = performance.now()
    const selfNow = process.cpuUsage()
    const self = { user: selfNow.user - this.#prevSelf.user, system: selfNow.system - this.#prevSelf.system }
    this.#prevSelf = selfNow
    const kids = descendantsCpuMs()
    const kidsMs = kids !== undefined && this.#prevKids !== undefined ? Math.max(0, kids - this.#prevKids) : 0
    this.#prevKids = kids
    const wallMs = Math.max(1, at - this.#prevAt)
    this.#prevAt = at
    const meshMs = (self.user + self.system) / 1000 + kidsMs
    this.#latest = {
      avg1: round2(loadavg()[0] ?? 0),
      cpuBusy: total > 0 ? round2(Math.min(100, Math.max(0, 100 * (1 - idle / total)))) : 0,
      eventLoopDelayMs: round2(lateMs),
      memoryAvailableMB: Math.floor(freemem() / 1048576),
      meshCpuBusy: round2(Math.min(100, 100 * meshMs / (wallMs * this.#cores)))
    }
    return this.#latest
  }
}

/**
 * Whole-machine CPU time counters. From the aggregate line of /proc/stat where
 * there is one (one small read; os.cpus() also reads /proc/cpuinfo and each
 * CPU's frequency), counting the same fields os.cpus() does: user, nice,
 * system, idle and irq (not iowait, softirq or steal).
 */
function cpuTimes (): { idle: number, total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').slice(0, 256).split('\n', 1)[0]!
    const [user, nice, system, idle, , irq] = line.trim().split(/\s+/).slice(1).map(Number)
    if (irq !== undefined && [user, nice, system, idle, irq].every(Number.isFinite)) {
      return { idle: idle!, total: user! + nice! + system! + idle! + irq }
    }
  } catch { /* no /proc: ask os */ }
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
export async function createProbe (speed: number | 'auto', opts: ProbeOptions): Promise<ResourceProbe> {
  const machine = await probeMachine(opts)
  const sampler = new LoadSampler()
  return { machine, speed: speed === 'auto' ? calibrateSpeed() : speed, load: sampler.load }
}
