/**
 * What confining exec tasks costs (issue 21), on this machine's real cgroups
 * and bubblewrap:
 *  - start-up per attempt: the ExecRunner running `/bin/true`, one attempt
 *    after another, as a plain child process (no confinement: how exec tasks
 *    ran before), in a per-attempt cgroup (memory, cpu, pids), and in a cgroup
 *    and the bubblewrap sandbox; p50/p99 of run() from call to outcome;
 *  - throughput: one daemon (`mesh start`, both cores), one job of M exec
 *    tasks that each burn ~5 ms of CPU in awk, with the sandbox off (cgroup
 *    limits only) and on: tasks/s from submit to done, against the 2-core ideal;
 *    with `--baseline DIR` (a built checkout from before confinement), also on
 *    that checkout's daemon, where exec tasks ran as plain child processes.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Confinement } from '../node/execution/confine/confinement.ts'
import { ExecRunner } from '../node/execution/exec-runner.ts'
import { createLocalMesh } from '../node/local-mesh.ts'
import type { RunRequest } from '../src/execution/runner.ts'
import { machine, runToDone, summary, writeResult } from './lib.ts'

const CORES = 2
const BURN_MS = 5
const log = (s: string): void => { process.stderr.write(`[confine] ${s}\n`) }

export async function benchConfine ({ quick, smoke = false, baseline }: { quick: boolean, smoke?: boolean, baseline?: string }): Promise<Record<string, unknown>> {
  const startup = await measureStartup(smoke ? 20 : quick ? 100 : 400)
  const loops = calibrateAwk(BURN_MS)
  const tasks = smoke ? 20 : quick ? 200 : 1000
  const throughput: Record<string, unknown> = {}
  if (baseline !== undefined) {
    const cli = join(baseline, 'dist', 'cli', 'bin.js')
    if (!existsSync(cli)) throw new Error(`--baseline ${baseline}: no dist/cli/bin.js there (npm ci there first)`)
    throughput.baseline = { ...await measureThroughput('none', tasks, loops, [process.execPath, cli]), commit: commitOf(baseline) }
  }
  for (const sandbox of ['none', 'bwrap'] as const) throughput[sandbox] = await measureThroughput(sandbox, tasks, loops)
  const result = {
    what: 'the cost of confining exec tasks: cgroups and the bubblewrap sandbox, on this machine (cgroup v1, bubblewrap 0.8, as root)',
    machine: machine(),
    startup: { ...startup, how: 'ExecRunner.run() of /bin/true, attempts one after another, call → outcome (scratch directory, staging and cleanup included); "extra" = p50 and p99 minus the plain runner\'s' },
    throughput: { ...throughput, how: `one daemon (cpu "auto": both cores), one job of N exec tasks each running awk through a loop calibrated to ${BURN_MS} ms of CPU (1 cpu each), POST /v1/jobs → job-done; ideal = ${CORES} cores × 1000 ÷ (${BURN_MS} ms + the loop's measured process cost)` }
  }
  writeResult('confine', result)
  return result
}

async function measureStartup (n: number): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'meshwork-bench-confine-'))
  const out: Record<string, ReturnType<typeof summary> & { extraP50Ms?: number, extraP99Ms?: number }> = {}
  try {
    for (const mode of ['plain', 'cgroup', 'cgroup+sandbox'] as const) {
      const confinement = mode === 'plain' ? undefined : await detect(mode === 'cgroup' ? 'none' : 'bwrap')
      const runner = new ExecRunner({ allow: ['/bin/true'], scratchRoot: join(root, mode), ...(confinement !== undefined ? { confinement } : {}) })
      const times: number[] = []
      for (let i = 0; i < n + 5; i++) {
        const req: RunRequest = { jobId: 'bench', taskId: `t${i}`, attempt: 1, index: 0, kind: 'exec', memoryMB: 256, cpu: 1, upstream: {}, exec: { command: ['/bin/true'], env: {}, inputs: {}, outputs: [], shell: false } }
        const t0 = performance.now()
        const o = await runner.run(req, { signal: new AbortController().signal, progress: () => {} })
        if (!o.ok) throw new Error(`${mode}: ${o.error}`)
        if (i >= 5) times.push(performance.now() - t0) // the first few warm the file system caches
      }
      await runner.close()
      const s = summary(times)
      out[mode] = { ...s, samples: [] }
      log(`start-up ${mode}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`)
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
  const plain = out.plain!
  for (const mode of ['cgroup', 'cgroup+sandbox']) {
    const m = out[mode]!
    m.extraP50Ms = round(m.p50 - plain.p50)
    m.extraP99Ms = round(m.p99 - plain.p99)
  }
  return out
}

async function detect (sandbox: 'none' | 'bwrap'): Promise<Confinement> {
  const c = await Confinement.detect({ limits: 'cgroup', sandbox, pids: 1024, diskMB: 1024, network: false, readOnly: [], hide: [], defaultMemoryMB: () => 1024 })
  if ('refuse' in c) throw new Error(c.refuse)
  return c
}

/** The awk loop count that burns `ms` of CPU here, over what an empty awk costs. */
function calibrateAwk (ms: number): { loops: number, processMs: number } {
  const wall = (loops: number): number => {
    const times: number[] = []
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now()
      spawnSync('awk', [`BEGIN { for (i = 0; i < ${loops}; i++) s += i }`])
      times.push(performance.now() - t0)
    }
    return summary(times).p50
  }
  const empty = wall(0)
  const probe = 1_000_000
  const perLoop = (wall(probe) - empty) / probe
  const loops = Math.round(ms / perLoop)
  log(`awk: ${loops} loops ≈ ${ms} ms (an empty awk ${empty.toFixed(2)} ms)`)
  return { loops, processMs: empty }
}

async function measureThroughput (sandbox: 'none' | 'bwrap', n: number, awk: { loops: number, processMs: number }, command?: string[]): Promise<Record<string, unknown>> {
  // A baseline daemon predates these fields: it gets only the allow list.
  const exec = command === undefined ? { allow: ['awk'], sandbox } : { allow: ['awk'] }
  const mesh = await createLocalMesh(1, () => ({ executor: { exec } }), command === undefined ? {} : { command })
  try {
    await mesh.daemons[0]!.start()
    await new Promise(resolve => setTimeout(resolve, 1500))
    const origin = mesh.daemons[0]!.client()
    const spec = { name: `burn-${sandbox}`, tasks: { burn: { kind: 'exec', command: ['awk', `BEGIN { for (i = 0; i < ${awk.loops}; i++) s += i }`], count: n, estimateMs: BURN_MS } } }
    const run = await runToDone(origin, spec)
    const seconds = (run.doneAt - run.t0) / 1000
    const tasksPerSecond = n / seconds
    const ideal = CORES * 1000 / (BURN_MS + awk.processMs)
    log(`throughput, ${command === undefined ? `sandbox ${sandbox}` : 'baseline'}: ${tasksPerSecond.toFixed(1)} tasks/s (ideal ${ideal.toFixed(0)})`)
    return { tasks: n, seconds: round(seconds), tasksPerSecond: round(tasksPerSecond), idealTasksPerSecond: round(ideal), efficiency: round(tasksPerSecond / ideal) }
  } finally {
    await mesh.destroy()
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000

function commitOf (dir: string): string {
  try { return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
}
