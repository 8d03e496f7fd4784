/**
 * Per-attempt control groups (docs/ARCHITECTURE.md §8, "Limits"): a memory cap,
 * a CPU quota and a pids limit the kernel enforces, a kill that reaches every
 * process of the attempt (`setsid` or not), and the counters that say which
 * limit ended it. cgroup v2 where its memory, cpu and pids controllers can be
 * used, else the v1 hierarchies of those three; `detectCgroups` says which, or
 * why neither can be written.
 *
 * Every peer keeps its attempts under a directory of its own,
 * `<own cgroup>/meshwork-<pid>-<n>`, so daemons sharing a machine do not touch each
 * other's groups; directories left by a daemon that died are emptied (their
 * processes killed) and removed at the next start.
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export type CgroupMode = 'cgroup-v2' | 'cgroup-v1'

export interface AttemptLimits {
  /** Hard memory cap, MB (swap included where the kernel accounts it). */
  memoryMB: number
  /** CPU quota in cores (1 = one core's time per period); 0: none. */
  cpu: number
  /** Most processes and threads at once. */
  pids: number
}

/**
 * Which limit a finished attempt ran into, from the group's own counters:
 * memory `own` when the kernel killed in it after it hit its own cap, `peer`
 * when it never did (the cap on all of the peer's attempts together did).
 */
export interface LimitHits { memory: false | 'own' | 'peer', pids: boolean }

export interface AttemptGroup {
  /** Files the attempt's first process writes its pid into to enter the group(s). */
  readonly procsFiles: readonly string[]
  /** SIGKILL every process in the group until it is empty (bounded). */
  kill: () => Promise<void>
  hits: () => Promise<LimitHits>
  /** Kill what is left and remove the group. */
  remove: () => Promise<void>
}

export interface Cgroups {
  readonly mode: CgroupMode
  create: (name: string, limits: AttemptLimits) => Promise<AttemptGroup>
  /** Caps every attempt of this peer together (what the peer offers): the parent of their groups. */
  limitAll: (limits: Pick<AttemptLimits, 'memoryMB' | 'cpu'>) => Promise<void>
  /** Kill what is left and remove this peer's directories. */
  close: () => Promise<void>
}

/** Peers in one process (tests, an app embedding several) each get a directory of their own. */
let instances = 0

const CONTROLLERS = ['memory', 'cpu', 'pids'] as const
type Controller = typeof CONTROLLERS[number]
const CPU_PERIOD_US = 100_000
const MB = 1024 * 1024

/**
 * The cgroups this process can manage, or why not (one sentence). `base` and
 * the `proc` root are for tests; `pid` names this daemon's own directory.
 */
export async function detectCgroups (opts: { pid?: number, proc?: string } = {}): Promise<Cgroups | { why: string }> {
  const proc = opts.proc ?? '/proc'
  const pid = opts.pid ?? process.pid
  let mountinfo: string, own: string
  try {
    mountinfo = await readFile(join(proc, 'self/mountinfo'), 'utf8')
    own = await readFile(join(proc, 'self/cgroup'), 'utf8')
  } catch {
    return { why: 'this system has no /proc/self/cgroup (not Linux)' }
  }
  const mounts = parseMounts(mountinfo)
  const paths = parseOwnCgroups(own)
  const n = ++instances
  const v2 = await v2Base(mounts, paths)
  if (typeof v2 === 'string') {
    const made = await ownDir(v2, pid, n, true)
    if (typeof made === 'string') return new V2(made)
    return { why: made.why }
  }
  const v1: Partial<Record<Controller, string>> = {}
  for (const c of CONTROLLERS) {
    const m = mounts.find(x => x.type === 'cgroup' && x.options.includes(c))
    const at = paths.v1.get(c)
    if (m === undefined || at === undefined) return { why: `no cgroup v1 ${c} hierarchy and ${v2.why}` }
    const made = await ownDir(join(m.point, at), pid, n, false)
    if (typeof made !== 'string') return { why: made.why }
    v1[c] = made
  }
  return new V1(v1 as Record<Controller, string>)
}

interface Mount { point: string, type: string, options: string[] }

/** Mount points of cgroup file systems, with their super options (v1 controllers). */
function parseMounts (mountinfo: string): Mount[] {
  const out: Mount[] = []
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ')
    if (left === undefined || right === undefined) continue
    const point = left.split(' ')[4]
    const [type, , superOpts] = right.split(' ')
    if (point === undefined || (type !== 'cgroup' && type !== 'cgroup2')) continue
    out.push({ point: point.replace(/\\040/g, ' '), type, options: (superOpts ?? '').split(',') })
  }
  return out
}

/** This process's cgroup per v1 controller (`memory` → `/a/b`) and its v2 path. */
function parseOwnCgroups (text: string): { v1: Map<string, string>, v2?: string } {
  const v1 = new Map<string, string>()
  let v2: string | undefined
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line)
    if (m === null) continue
    if (m[1] === '0' && m[2] === '') v2 = m[3]
    else for (const c of (m[2] ?? '').split(',')) v1.set(c, m[3] ?? '/')
  }
  return { v1, ...(v2 !== undefined ? { v2 } : {}) }
}

/** The v2 directory this process sits in, when memory, cpu and pids are available there. */
async function v2Base (mounts: Mount[], paths: { v2?: string }): Promise<string | { why: string }> {
  const m = mounts.find(x => x.type === 'cgroup2')
  if (m === undefined || paths.v2 === undefined) return { why: 'no cgroup v2 mount' }
  const dir = join(m.point, paths.v2)
  const available = (await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).trim().split(/\s+/)
  const missing = CONTROLLERS.filter(c => !available.includes(c))
  if (missing.length > 0) return { why: `cgroup v2 at ${m.point} lacks the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''}` }
  return dir
}

/**
 * Creates `<dir>/meshwork-<pid>-<n>` (v2: with the three controllers enabled for
 * its children, moving this process into a leaf of its own first when its
 * group holds processes, as the no-internal-process rule asks), after removing
 * what dead daemons left.
 */
async function ownDir (dir: string, pid: number, n: number, v2: boolean): Promise<string | { why: string }> {
  const mine = join(dir, `meshwork-${pid}-${n}`)
  try {
    await reapStale(dir, pid)
    await mkdir(mine, { recursive: true })
    if (v2) {
      const enable = CONTROLLERS.map(c => `+${c}`).join(' ')
      try {
        await writeFile(join(dir, 'cgroup.subtree_control'), enable)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err
        const leaf = join(dir, `meshwork-daemon-${pid}`)
        await mkdir(leaf, { recursive: true })
        await writeFile(join(leaf, 'cgroup.procs'), String(pid))
        await writeFile(join(dir, 'cgroup.subtree_control'), enable)
      }
      await writeFile(join(mine, 'cgroup.subtree_control'), enable)
    }
    return mine
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS'
      ? `${dir} is not writable by this user (uid ${process.getuid?.() ?? '?'})`
      : `${dir}: ${e.message}`
    return { why }
  }
}

/** Empties and removes the `meshwork-<pid>-<n>` directories of processes no longer running. */
async function reapStale (dir: string, pid: number): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[])
  for (const name of names) {
    const m = /^meshwork-(?:daemon-)?(\d+)(?:-\d+)?$/.exec(name)
    if (m === null || Number(m[1]) === pid || existsSync(`/proc/${m[1]}`)) continue
    await removeTree(join(dir, name))
  }
}

async function removeTree (dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) await removeTree(join(dir, entry.name))
  }
  await killAll(dir)
  await rmdir(dir).catch(() => {})
}

/** SIGKILL whatever `cgroup.procs` lists until it lists nothing (about 2 s at most). */
async function killAll (dir: string, writeKill = false): Promise<void> {
  if (writeKill) await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => {})
  for (let round = 0; round < 200; round++) {
    const pids = await procsOf(dir)
    if (pids.length === 0) return
    for (const p of pids) { try { process.kill(p, 'SIGKILL') } catch { /* gone already */ } }
    await new Promise(resolve => setTimeout(resolve, round < 10 ? 1 : 10))
  }
}

async function procsOf (dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')
  return text.split('\n').filter(s => s !== '').map(Number)
}

/** A counter from a flat-keyed cgroup file (`oom_kill 2`), 0 when absent. */
async function counter (file: string, key: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text)
  return m === null ? 0 : Number(m[1])
}

async function removeDir (dir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try { await rmdir(dir); return } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      if (code !== 'EBUSY') throw err
      await killAll(dir)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }
}

const quota = (cpu: number): number => Math.max(1000, Math.round(cpu * CPU_PERIOD_US))

/** memory.max (swap none) and cpu.max of a v2 group. */
async function writeV2Limits (dir: string, limits: Pick<AttemptLimits, 'memoryMB' | 'cpu'>): Promise<void> {
  await writeFile(join(dir, 'memory.max'), String(Math.max(1, Math.floor(limits.memoryMB)) * MB))
  await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {}) // absent without swap accounting
  if (limits.cpu > 0) await writeFile(join(dir, 'cpu.max'), `${quota(limits.cpu)} ${CPU_PERIOD_US}`)
}

/** The memory cap (swap included where accounted) and CPU quota of a v1 memory group and cpu group. */
async function writeV1Limits (memory: string, cpu: string, limits: Pick<AttemptLimits, 'memoryMB' | 'cpu'>): Promise<void> {
  const bytes = String(Math.max(1, Math.floor(limits.memoryMB)) * MB)
  await Promise.all([
    (async () => {
      // memsw may not go below the memory limit, nor the memory limit above memsw: order by direction.
      const memsw = join(memory, 'memory.memsw.limit_in_bytes')
      const current = Number(await readFile(join(memory, 'memory.limit_in_bytes'), 'utf8').catch(() => '0'))
      if (Number(bytes) < current) {
        await writeFile(join(memory, 'memory.limit_in_bytes'), bytes)
        await writeFile(memsw, bytes).catch(() => {})
      } else {
        await writeFile(memsw, bytes).catch(() => {}) // with swap accounting, a task cannot swap the owner's work out
        await writeFile(join(memory, 'memory.limit_in_bytes'), bytes)
      }
    })(),
    (async () => {
      if (limits.cpu <= 0) return
      await writeFile(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US))
      await writeFile(join(cpu, 'cpu.cfs_quota_us'), String(quota(limits.cpu)))
    })()
  ])
}

class V2 implements Cgroups {
  readonly mode = 'cgroup-v2'
  readonly #root: string
  constructor (root: string) { this.#root = root }

  async close (): Promise<void> { await removeTree(this.#root) }

  async limitAll (limits: Pick<AttemptLimits, 'memoryMB' | 'cpu'>): Promise<void> { await writeV2Limits(this.#root, limits) }

  async create (name: string, limits: AttemptLimits): Promise<AttemptGroup> {
    const dir = join(this.#root, name)
    await removeTree(dir)
    await mkdir(dir)
    await writeV2Limits(dir, limits)
    await writeFile(join(dir, 'pids.max'), String(limits.pids))
    return {
      procsFiles: [join(dir, 'cgroup.procs')],
      kill: async () => { await killAll(dir, true) },
      hits: async () => ({
        memory: await counter(join(dir, 'memory.events'), 'oom_kill') === 0 ? false : await counter(join(dir, 'memory.events'), 'max') > 0 ? 'own' : 'peer',
        pids: await counter(join(dir, 'pids.events'), 'max') > 0
      }),
      remove: async () => { await killAll(dir, true); await removeDir(dir) }
    }
  }
}

/**
 * Whether a v1 memory group's usage ever reached its own limit (within 2 %):
 * `memory.failcnt` would say so, but kernels no longer count it in every case.
 */
async function reachedOwnLimit (dir: string): Promise<boolean> {
  const read = async (f: string): Promise<number> => Number(await readFile(join(dir, f), 'utf8').catch(() => 'NaN'))
  const [peak, limit] = await Promise.all([read('memory.max_usage_in_bytes'), read('memory.limit_in_bytes')])
  return !(peak < limit * 0.98) // unknown counts as its own: the message names its cap
}

class V1 implements Cgroups {
  readonly mode = 'cgroup-v1'
  readonly #roots: Record<Controller, string>
  constructor (roots: Record<Controller, string>) { this.#roots = roots }

  async close (): Promise<void> { for (const d of Object.values(this.#roots)) await removeTree(d) }

  async limitAll (limits: Pick<AttemptLimits, 'memoryMB' | 'cpu'>): Promise<void> {
    await writeV1Limits(this.#roots.memory, this.#roots.cpu, limits)
  }

  async create (name: string, limits: AttemptLimits): Promise<AttemptGroup> {
    const dirs = { memory: join(this.#roots.memory, name), cpu: join(this.#roots.cpu, name), pids: join(this.#roots.pids, name) }
    const all = [dirs.pids, dirs.memory, dirs.cpu]
    // The three hierarchies are independent: set them up (and tear them down) at once.
    await Promise.all(all.map(async d => { await removeTree(d); await mkdir(d) }))
    await Promise.all([writeV1Limits(dirs.memory, dirs.cpu, limits), writeFile(join(dirs.pids, 'pids.max'), String(limits.pids))])
    // The pids group holds every process of the attempt: killing it empty kills them all.
    const killEvery = async (): Promise<void> => { await Promise.all(all.map(async d => { await killAll(d) })) }
    return {
      procsFiles: [dirs.memory, dirs.cpu, dirs.pids].map(d => join(d, 'cgroup.procs')),
      kill: killEvery,
      hits: async () => ({
        memory: await counter(join(dirs.memory, 'memory.oom_control'), 'oom_kill') === 0 ? false : await reachedOwnLimit(dirs.memory) ? 'own' : 'peer',
        pids: await counter(join(dirs.pids, 'pids.events'), 'max') > 0
      }),
      remove: async () => {
        await killEvery()
        await Promise.all(all.map(removeDir))
      }
    }
  }
}
