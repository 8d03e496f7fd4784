/**
 * What this peer can enforce on exec tasks, found once at start, and the
 * per-attempt jail built from it (docs/ARCHITECTURE.md §8, "Limits" and
 * "Sandbox"). Limits: per-attempt cgroups (v2 or v1) where one can be
 * written, else rlimits set by `prlimit` (per process, approximate). Sandbox:
 * bubblewrap, when configured (`"bwrap"`: required; `"auto"`: used when it
 * works here). Every attempt also gets RLIMIT_FSIZE and no core files, and a
 * watcher on its scratch directory's size.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants as fsConstants, mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { chmod, chown, lstat, mkdir, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { detectCgroups, type AttemptGroup, type Cgroups } from './cgroups.ts'
import { MAX_SCRATCH_ENTRIES, usage, watchDisk, type DiskHit } from './disk-watch.ts'
import { bwrapArgs, gpuDeviceNodes, systemView, type SandboxPlan } from './sandbox.ts'

export type LimitsMode = 'cgroup-v2' | 'cgroup-v1' | 'rlimit' | 'none'
export type SandboxMode = 'bwrap' | 'none'

/** What a peer enforces, as its ads and `mesh peers` show it. */
export interface Enforcement { limits: LimitsMode, sandbox: SandboxMode, network: boolean }

export interface ConfineOptions {
  /** `executor.exec.limits`: "auto" uses the best available; "cgroup" refuses to start without one. */
  limits: 'auto' | 'cgroup'
  /** `executor.exec.sandbox`. */
  sandbox: 'auto' | 'bwrap' | 'none'
  /** `executor.exec.pids`: processes and threads per attempt. */
  pids: number
  /** `executor.exec.diskMB`: the scratch directory's cap. */
  diskMB: number
  /** `executor.exec.network`: tasks that ask for the network may have it. */
  network: boolean
  /** Host paths shown read-only in the sandbox besides the system (allowed programs, `executor.exec.readOnlyPaths`). */
  readOnly: string[]
  /** Host paths shown writable in the sandbox (`executor.exec.writablePaths`). */
  writable?: string[]
  /** Host paths never shown in the sandbox (data directory, key, cache, config). */
  hide: string[]
  /** The memory cap of a task that reserved none: what the peer offers (MB), known once the machine is probed. */
  defaultMemoryMB: () => number
  /** Where GPU device nodes are (tests: a folder of fake nodes). */
  devDir?: string
  /** As root, exec tasks run as this uid:gid (default nobody, 65534). */
  runAs?: { uid: number, gid: number }
}

export interface AttemptSetup {
  /** Unique per attempt on this peer, file-name safe. */
  name: string
  scratch: string
  memoryMB: number
  cpu: number
  network: boolean
  /** Scratch-relative name → cached artifact file. */
  artifacts: Record<string, string>
  /** Device ids (as the driver numbers them) of the GPUs the attempt holds. */
  gpuIds: string[]
}

export interface Launch { file: string, args: string[], env: Record<string, string> }

export interface AttemptJail {
  /** The command line that starts `file args` inside the attempt's limits (and sandbox). */
  launch: (file: string, args: string[], env: Record<string, string>) => Launch
  /** Called once with the reason when a watched limit (disk) is passed; the runner then kills. */
  onLimit: (cb: (reason: string) => void) => void
  /** Kill every process of the attempt, including those that left its process group. */
  kill: () => Promise<void>
  /**
   * The limit the attempt ran into, as one sentence, if any: the disk cap
   * whether or not it failed (its files may be cut short); memory and
   * processes only when it failed.
   */
  verdict: (signal: NodeJS.Signals | null, failed: boolean) => Promise<string | undefined>
  /** Where no cgroup tells which limit a failed attempt hit: what the limits are, for the user to judge. */
  hint: () => string | undefined
  dispose: () => Promise<void>
}

const MB = 1024 * 1024
/** The wrapper's exit status when it could not enter the attempt's cgroup (with its marker on stderr). */
export const JOIN_FAILED = 125
export const JOIN_MARKER = 'meshwork: cannot enter the attempt cgroup'
const JOIN_SCRIPT = `ulimit -c 0; ulimit -f "$1"; shift; while [ "$1" != -- ]; do echo $$ > "$1" || { echo "${JOIN_MARKER}" >&2; exit ${JOIN_FAILED}; }; shift; done; shift; exec "$@"`

export class Confinement {
  readonly enforcement: Enforcement
  /** One line per fallback taken, for the start-up log. */
  readonly notes: string[]
  readonly #o: ConfineOptions
  readonly #cgroups: Cgroups | undefined
  readonly #prlimit: string | undefined
  readonly #bwrap: string | undefined
  /** The machine's system paths, looked at once: the same for every attempt. */
  readonly #system = systemView()
  /** The cap on all attempts together (MB), once set. */
  #offerMB: number | undefined

  private constructor (o: ConfineOptions, cgroups: Cgroups | undefined, prlimit: string | undefined, bwrap: string | undefined, notes: string[]) {
    this.#o = o
    this.#cgroups = cgroups
    this.#prlimit = prlimit
    this.#bwrap = bwrap
    const sandbox: SandboxMode = bwrap !== undefined ? 'bwrap' : 'none'
    this.notes = notes
    const limits: LimitsMode = cgroups?.mode ?? (prlimit !== undefined ? 'rlimit' : 'none')
    this.enforcement = { limits, sandbox, network: o.network }
  }

  /** What this machine allows, or one sentence saying why the configured confinement cannot be had. */
  static async detect (o: ConfineOptions): Promise<Confinement | { refuse: string }> {
    const notes: string[] = []
    const cg = await detectCgroups()
    const cgroups = 'why' in cg ? undefined : cg
    if ('why' in cg) {
      if (o.limits === 'cgroup') return { refuse: `executor.exec.limits is "cgroup" but no cgroup can be written here: ${cg.why}; run the daemon as root or in a delegated cgroup, or set executor.exec.limits to "auto"` }
      notes.push(`no cgroup limits (${cg.why}): memory is capped per process with rlimits, CPU is not capped`)
    }
    const prlimit = cgroups === undefined ? onPath('prlimit') : undefined
    if (cgroups === undefined && prlimit === undefined) notes.push('prlimit (util-linux) is not installed: exec tasks run without memory or process limits')
    let bwrap: string | undefined
    if (o.sandbox !== 'none') {
      const problem = probeBwrap(o)
      if (problem === undefined) bwrap = onPath('bwrap')
      else if (o.sandbox === 'bwrap') return { refuse: `executor.exec.sandbox is "bwrap" but bubblewrap cannot run here: ${problem}; install the bubblewrap package (and allow unprivileged user namespaces), or set executor.exec.sandbox to "none"` }
      else notes.push(`exec tasks are not sandboxed (executor.exec.sandbox "auto"): ${problem}`)
    }
    return new Confinement(o, cgroups, prlimit, bwrap, notes)
  }

  /**
   * Caps all of this peer's exec attempts together at what it offers the mesh,
   * so tasks that reserved little cannot add up to more than the offer.
   */
  async limitAll (offer: { memoryMB: number, cpu: number }): Promise<string | undefined> {
    try {
      await this.#cgroups?.limitAll({ memoryMB: Math.max(64, offer.memoryMB), cpu: offer.cpu })
      this.#offerMB = Math.max(64, offer.memoryMB)
      return undefined
    } catch (err) {
      return `exec tasks are not capped together at the peer's offer: ${(err as Error).message}`
    }
  }

  /** Removes this peer's cgroup directories (attempts still running are killed). */
  async close (): Promise<void> { await this.#cgroups?.close() }

  async attempt (s: AttemptSetup): Promise<AttemptJail> {
    const o = this.#o
    const memoryMB = s.memoryMB > 0 ? s.memoryMB : Math.max(64, o.defaultMemoryMB())
    const group = this.#cgroups === undefined ? undefined : await this.#cgroups.create(s.name, { memoryMB, cpu: s.cpu, pids: o.pids })
    try {
      return await this.#jail(s, memoryMB, group)
    } catch (err) {
      await group?.remove()
      throw err
    }
  }

  async #jail (s: AttemptSetup, memoryMB: number, group: AttemptGroup | undefined): Promise<AttemptJail> {
    const o = this.#o
    const at: JailParts = {
      s, memoryMB, group,
      tmp: join(s.scratch, '.tmp'),
      runAs: this.#bwrap !== undefined && process.getuid?.() === 0 ? (o.runAs ?? { uid: 65534, gid: 65534 }) : undefined,
      // Without a cgroup or a PID namespace, escaped processes are found by a token in their environment.
      token: group === undefined && this.#bwrap === undefined ? randomBytes(12).toString('hex') : undefined,
      userTasks: group === undefined && process.getuid?.() !== 0 ? await userTasks() : 0
    }
    if (this.#bwrap === undefined) await mkdir(at.tmp, { mode: 0o700 }) // the sandbox has a /tmp of its own
    if (at.runAs !== undefined) await handOver(s.scratch, at.runAs, Object.values(s.artifacts))
    let limitHit: string | undefined
    let onLimit: (reason: string) => void = () => {}
    const stopDisk = watchDisk(s.scratch, o.diskMB * MB, hit => { limitHit = diskReason(hit, o.diskMB); onLimit(limitHit) })
    return {
      launch: (file, args, env) => this.#launch(at, file, args, env),
      onLimit: cb => { onLimit = cb; if (limitHit !== undefined) cb(limitHit) },
      kill: async () => {
        if (group !== undefined) await group.kill()
        if (at.token !== undefined) await killByToken(at.token)
      },
      verdict: async (signal, failed) => limitHit ?? await this.#verdict(at, signal, failed),
      hint: () => group === undefined && this.#prlimit !== undefined
        ? `memory is capped here at ${memoryMB} MB of data per process by rlimit (no cgroup), which a program sees as failed allocations`
        : undefined,
      dispose: async () => {
        stopDisk()
        if (at.token !== undefined) await killByToken(at.token)
        await group?.remove() // which kills what is left first
      }
    }
  }

  /** The wrapper that enters the cgroups and rlimits, then prlimit, bubblewrap and the program. */
  #launch (at: JailParts, file: string, args: string[], env: Record<string, string>): Launch {
    const o = this.#o
    const { s, group } = at
    const sandboxed = this.#bwrap !== undefined
    const fullEnv = { ...env, ...(at.token !== undefined ? { MESHWORK_ATTEMPT_TOKEN: at.token } : {}), TMPDIR: sandboxed ? '/tmp' : at.tmp, ...(sandboxed ? { HOME: s.scratch } : {}) }
    const inner: string[] = []
    if (group === undefined && this.#prlimit !== undefined) inner.push(this.#prlimit, ...rlimitArgs(at.memoryMB, o.pids, at.userTasks), '--')
    if (sandboxed) {
      const devices = gpuDeviceNodes(s.gpuIds, o.devDir)
      const plan: SandboxPlan = {
        scratch: s.scratch, tmpBytes: o.diskMB * MB, artifacts: s.artifacts, network: s.network && o.network,
        devices, ...(o.devDir !== undefined ? { devDir: o.devDir } : {}),
        readOnly: [...o.readOnly, file], writable: o.writable ?? [], hide: o.hide, ...(at.runAs !== undefined ? { runAs: at.runAs } : {})
      }
      inner.push(this.#bwrap as string, ...bwrapArgs(plan, this.#system))
      // Drivers number the devices a process can open from 0: in the sandbox, its cards are 0…k-1.
      if (devices.length > 0) Object.assign(fullEnv, renumbered(s.gpuIds.length))
    }
    // One file may pass the cap by a MiB, so that a task stopped by it is seen to have passed the cap.
    const fsizeBlocks = String(Math.ceil((o.diskMB + 1) * MB / 512))
    return { file: '/bin/sh', args: ['-c', JOIN_SCRIPT, 'meshwork-task', fsizeBlocks, ...(group?.procsFiles ?? []), '--', ...inner, file, ...args], env: fullEnv }
  }

  /** The limit an attempt ran into, from a last look at its scratch directory and its cgroup's counters. */
  async #verdict (at: JailParts, signal: NodeJS.Signals | null, failed: boolean): Promise<string | undefined> {
    const o = this.#o
    // A task that wrote past the cap since the watcher's last look fails even if it exited 0.
    const u = await usage(at.s.scratch)
    if (u.entries > MAX_SCRATCH_ENTRIES || u.bytes > o.diskMB * MB) return diskReason(u.entries > MAX_SCRATCH_ENTRIES ? { kind: 'entries' } : { kind: 'bytes', bytes: u.bytes }, o.diskMB)
    if (signal === 'SIGXFSZ') return `disk limit ${o.diskMB} MB exceeded (a file grew past it)`
    if (!failed) return undefined
    const hits = await at.group?.hits()
    if (hits?.memory === 'own') return `memory limit ${at.memoryMB} MB exceeded`
    if (hits?.memory === 'peer') return `memory limit exceeded: this peer's exec tasks together passed the ${this.#offerMB ?? '?'} MB it offers`
    if (hits?.pids === true) return `process limit ${o.pids} reached (executor.exec.pids)`
    return undefined
  }
}

/** What one attempt's jail is made of. */
interface JailParts {
  s: AttemptSetup
  memoryMB: number
  group: AttemptGroup | undefined
  /** TMPDIR outside the sandbox: a folder of the scratch directory. */
  tmp: string
  /** As root in the sandbox: the uid the program runs as. */
  runAs: { uid: number, gid: number } | undefined
  token: string | undefined
  /** This user's threads when the attempt started (rlimit mode). */
  userTasks: number
}

/** The GPU variables for k cards that are the only ones the sandbox shows (MESHWORK_GPUS keeps the peer's numbers). */
function renumbered (k: number): Record<string, string> {
  const list = Array.from({ length: k }, (_, i) => String(i)).join(',')
  return { CUDA_VISIBLE_DEVICES: list, HIP_VISIBLE_DEVICES: list, ROCR_VISIBLE_DEVICES: list }
}

/** prlimit's options for the rlimit fallback: data segment per process, and processes of this user. */
function rlimitArgs (memoryMB: number, pids: number, userTasksNow: number): string[] {
  const out = [`--data=${memoryMB * MB}`]
  // RLIMIT_NPROC counts every process and thread of the user, the daemon's and the owner's
  // included, so the task may have `pids` more than there are now; root ignores it.
  if (process.getuid?.() !== 0) out.push(`--nproc=${userTasksNow + pids}`)
  return out
}

let counted: { at: number, n: Promise<number> } | undefined

/** Threads of this user (what RLIMIT_NPROC counts), from /proc, counted at most once a second. */
async function userTasks (): Promise<number> {
  if (counted === undefined || Date.now() - counted.at > 1000) counted = { at: Date.now(), n: countUserTasks() }
  return await counted.n
}

async function countUserTasks (): Promise<number> {
  const uid = String(process.getuid?.())
  let n = 0
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '')
    if (/^Uid:\s+(\d+)/m.exec(status)?.[1] !== uid) continue
    n += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1)
  }
  return n
}

function diskReason (hit: DiskHit, capMB: number): string {
  return hit.kind === 'entries'
    ? `disk limit exceeded: more than ${MAX_SCRATCH_ENTRIES} files in the scratch directory`
    : `disk limit ${capMB} MB exceeded (scratch directory at ${Math.round(hit.bytes / MB)} MB)`
}

/** Gives the scratch tree to the uid the task runs as, and lets it read its artifacts. */
async function handOver (dir: string, to: { uid: number, gid: number }, artifacts: string[]): Promise<void> {
  await chown(dir, to.uid, to.gid)
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name)
    const st = await lstat(p)
    if (!st.isSymbolicLink()) await chown(p, to.uid, to.gid)
  }
  for (const a of artifacts) {
    const st = await lstat(a).catch(() => undefined)
    if (st !== undefined && (st.mode & 0o004) === 0) await chmod(a, 0o444)
  }
}

/** SIGKILL this user's processes whose environment carries the attempt's token. */
async function killByToken (token: string): Promise<void> {
  const needle = `MESHWORK_ATTEMPT_TOKEN=${token}`
  for (let round = 0; round < 5; round++) {
    let found = 0
    for (const name of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(name)) continue
      const env = await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '')
      if (!env.split('\0').includes(needle)) continue
      found++
      try { process.kill(Number(name), 'SIGKILL') } catch { /* gone */ }
    }
    if (found === 0) return
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Why bubblewrap cannot confine a task here, or undefined when a trial run succeeded. */
function probeBwrap (o: ConfineOptions): string | undefined {
  const bwrap = onPath('bwrap')
  if (bwrap === undefined) return 'bwrap is not installed'
  if (process.getuid?.() === 0 && onPath('setpriv') === undefined) return 'setpriv (util-linux) is not installed, and a task must not run as root'
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-bwrap-probe-'))
  try {
    const plan: SandboxPlan = { scratch: dir, tmpBytes: MB, artifacts: {}, devices: [], network: false, readOnly: [], writable: [], hide: o.hide }
    const r = spawnSync(bwrap, [...bwrapArgs(plan, systemView()), '/bin/sh', '-c', 'exit 0'], { encoding: 'utf8', timeout: 5000 })
    if (r.error !== undefined) return r.error.message
    if (r.status !== 0) return (r.stderr.split('\n')[0] ?? '').replace(/^bwrap: /, '') || `exit status ${r.status ?? r.signal}`
    return undefined
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The first executable named `name` on this process's PATH, by its real path. */
export function onPath (name: string): string | undefined {
  for (const entry of (process.env.PATH ?? '').split(':')) {
    if (!entry.startsWith('/')) continue
    const p = join(entry, name)
    try { accessSync(p, fsConstants.X_OK); return realpathSync(p) } catch { /* next */ }
  }
  return undefined
}
