/**
 * Footprint: what Meshwork costs the machine it runs on, for the people who
 * leave a daemon running on a laptop or an edge box and type `mesh` commands.
 *
 *  - the CLI: wall time (spawn → exit) and peak RSS of `mesh --help`,
 *    `mesh peers --json` and `mesh status --json` against a running daemon,
 *    beside a bare `node -e 0` measured in the same run, runs interleaved;
 *  - the daemon, one of a 3-peer mesh (127.0.0.1, yield policy off): spawn →
 *    `ready:`, then, with no jobs, the RSS and CPU of each daemon over an idle
 *    window (and which threads the CPU went to);
 *  - failure detection, to show the cuts did not slow it: SIGKILL → marked
 *    gone, and SIGSTOP → marked gone, by the first of the two survivors
 *    (polled through the control API every 5 ms).
 *
 * `--baseline DIR` (or MESHWORK_BENCH_BASELINE) measures another checkout of
 * Meshwork instead, with its own node_modules, and writes
 * footprint-baseline.json: the "before" of a change, by the same bench.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeersReply } from '../node/control/api.ts'
import { createLocalMesh, type LocalDaemon } from '../node/local-mesh.ts'
import { CLI_ENTRY, PACKAGE_ROOT } from '../node/package.ts'
import type { BenchOptions } from './run.ts'
import { cpuMs, machine, poll, rssMB, summary, writeResult } from './lib.ts'

const log = (s: string): void => { process.stderr.write(`[footprint] ${s}\n`) }

/**
 * Loaded with `--import` into each measured CLI process: at exit it writes the
 * peak RSS of the process (KiB) to the file named in MESHWORK_RUSAGE_FILE. It
 * runs in every process measured, `node -e 0` included, so it costs each the
 * same. The peak is VmHWM from /proc/self/status, not getrusage's maxRSS:
 * Linux keeps maxRSS across fork and exec, so every child of a bench process
 * that had grown to 87 MB reported 87 MB (the full run of 2026-12-03, where
 * footprint ran after BullMQ, Dask and placement in one process); VmHWM
 * belongs to the new program's memory and starts afresh at exec.
 */
const RUSAGE_PRELOAD = 'data:text/javascript,' + encodeURIComponent(
  "process.on('exit', () => { const f = process.env.MESHWORK_RUSAGE_FILE; if (!f) return; const fs = process.getBuiltinModule('node:fs'); const m = /VmHWM:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8')); fs.writeFileSync(f, m === null ? 'NaN' : m[1]) })")

/** Which Meshwork is measured: the CLI entry that `mesh` runs, and a label for the report. */
interface Subject { label: string, cli: string, commit: string }

function subjectOf (dir: string | undefined): Subject {
  const root = dir ?? PACKAGE_ROOT
  const commit = (() => {
    try { return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
  })()
  if (dir === undefined) return { label: 'this checkout', cli: CLI_ENTRY, commit }
  // Checkouts from before the compiled package ran the CLI from its sources.
  const cli = [join(dir, 'dist', 'cli', 'bin.js'), join(dir, 'dist', 'node', 'cli', 'bin.js'), join(dir, 'node', 'cli', 'main.ts')].find(f => existsSync(f))
  if (cli === undefined) throw new Error(`--baseline ${dir}: no dist/cli/bin.js, dist/node/cli/bin.js or node/cli/main.ts there`)
  return { label: `baseline ${dir}`, cli, commit }
}

export async function benchFootprint (opts: BenchOptions & { baseline?: string }): Promise<Record<string, unknown>> {
  const subject = subjectOf(opts.baseline ?? process.env.MESHWORK_BENCH_BASELINE)
  const runs = opts.smoke ? 3 : opts.quick ? 5 : 15
  const idleMs = opts.smoke ? 3000 : opts.quick ? 4000 : 30_000
  const rounds = opts.smoke ? 1 : opts.quick ? 2 : 5
  const restarts = opts.smoke ? 0 : opts.quick ? 1 : 4
  // After start, V8 holds the garbage of loading ~1,000 modules until its memory reducer runs, 10–20 s in.
  const settleMs = opts.smoke ? 2000 : opts.quick ? 4000 : 20_000
  const mesh = await createLocalMesh(3, () => ({}), { command: [process.execPath, subject.cli] })
  const [a, b, c] = mesh.daemons as [LocalDaemon, LocalDaemon, LocalDaemon]
  log(`measuring ${subject.label} (${subject.commit}): ${subject.cli}`)
  try {
    // ── start-up ──
    const readyMs: number[] = []
    for (const d of mesh.daemons) {
      await d.start()
      readyMs.push(d.readyAt - d.spawnedAt)
    }
    for (let i = 0; i < restarts; i++) {
      c.signal('SIGTERM')
      await c.exited()
      await c.start()
      readyMs.push(c.readyAt - c.spawnedAt)
    }
    const view = async (observer: LocalDaemon, subjectId: string): Promise<PeersReply['peers'][number] | undefined> =>
      (await observer.client().peers()).peers.find(p => p.id === subjectId)
    await poll(async () => {
      for (const o of mesh.daemons) if ((await o.client().peers()).peers.filter(p => p.state === 'alive').length !== 3) return false
      return true
    }, 30_000, 100)
    log(`spawn → ready p50 ${summary(readyMs).p50} ms (n=${readyMs.length})`)

    // ── the CLI, against daemon a ──
    const cli = await measureCli(subject.cli, a, runs)
    for (const [name, r] of Object.entries(cli.commands)) log(`${name}: p50 ${r.wallMs.p50} ms (${r.ratioToNode}× node -e 0), peak RSS ${r.peakRssMB.max} MB`)

    // ── idle ──
    await new Promise(resolve => setTimeout(resolve, settleMs))
    const pids = mesh.daemons.map(d => d.pid!)
    const cpu0 = pids.map(cpuMs)
    const threads0 = pids.map(threadCpuMs)
    await new Promise(resolve => setTimeout(resolve, idleMs))
    const idleCpu = pids.map((pid, i) => round2((cpuMs(pid) - cpu0[i]!) / idleMs * 100))
    const mainThread = pids.map((pid, i) => round2(((threadCpuMs(pid).get(pid) ?? 0) - (threads0[i]!.get(pid) ?? 0)) / idleMs * 100))
    const rss = pids.map(rssMB)
    const peakRss = pids.map(peakRssMB)
    log(`idle ${idleMs} ms: CPU ${idleCpu.join(' / ')} % of a core (main thread ${mainThread.join(' / ')}); RSS ${rss.join(' / ')} MB (peak ${peakRss.join(' / ')})`)

    // ── failure detection ──
    const detect = async (sig: 'SIGKILL' | 'SIGSTOP'): Promise<number[]> => {
      const first: number[] = []
      for (let i = 0; i < rounds; i++) {
        await poll(async () => (await view(a, c.peerId))?.state === 'alive' && (await view(b, c.peerId))?.state === 'alive', 15_000)
        await new Promise(resolve => setTimeout(resolve, 300))
        const t0 = performance.now()
        c.signal(sig)
        first.push(await Promise.any([a, b].map(async obs => {
          await poll(async () => (await view(obs, c.peerId))?.state === 'gone', 15_000)
          return performance.now() - t0
        })))
        if (sig === 'SIGSTOP') {
          c.signal('SIGCONT')
        } else {
          await c.exited()
          await c.start()
        }
      }
      log(`${sig} → gone: p50 ${summary(first).p50} ms, max ${summary(first).max} ms`)
      return first
    }
    const killed = await detect('SIGKILL')
    const frozen = await detect('SIGSTOP')

    const result = {
      what: 'footprint of the CLI and of one daemon in a 3-peer mesh on 127.0.0.1 (yield policy off), and its failure detection',
      subject,
      machine: machine(),
      cli: { ...cli, how: `each command ${runs}× interleaved with the others and with a bare \`node -e 0\` (same Node): wall = spawn → exit in the bench process; peak RSS = the process's own getrusage maxRSS at exit, written by a one-line --import preload that every measured process gets, node -e 0 included; mesh = node ${subject.cli.replace(`${PACKAGE_ROOT}/`, '')} (what the installed \`mesh\` runs)` },
      startup: { readyMs: summary(readyMs), how: 'spawn of `mesh start` → its `ready:` line on stdout (3 first starts, then restarts of one daemon after SIGTERM)' },
      idle: {
        windowMs: idleMs,
        cpuPercentOfCore: idleCpu,
        mainThreadPercentOfCore: mainThread,
        rssMB: rss,
        peakRssMB: peakRss,
        how: `no jobs, from ${settleMs / 1000} s after the CLI runs (a settled mesh): utime+stime of each daemon process from /proc/<pid>/stat over ${idleMs / 1000} s (10 ms ticks), the main thread's from /proc/<pid>/task/<pid>/stat; VmRSS and VmHWM (peak) from /proc/<pid>/status after it`
      },
      killToGoneMs: { ...summary(killed), how: 'SIGKILL of one daemon → the first of the two others lists it as gone in /v1/peers (polled every 5 ms); the daemon is restarted between rounds' },
      freezeToGoneMs: { ...summary(frozen), how: 'SIGSTOP of one daemon → the first of the two others lists it as gone (polled every 5 ms); SIGCONT between rounds' }
    }
    writeResult(opts.baseline !== undefined || process.env.MESHWORK_BENCH_BASELINE !== undefined ? 'footprint-baseline' : 'footprint', result)
    return result
  } finally {
    await mesh.destroy()
  }
}

interface CommandFigures { argv: string[], wallMs: ReturnType<typeof summary>, peakRssMB: ReturnType<typeof summary>, ratioToNode: number }

async function measureCli (entry: string, daemon: LocalDaemon, runs: number): Promise<{ node: Omit<CommandFigures, 'ratioToNode'>, commands: Record<string, CommandFigures> }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', MESHWORK_CONFIG: daemon.config }
  delete env.MESHWORK_CONTROL
  const commands: Record<string, string[]> = {
    'node -e 0': ['-e', '0'],
    'mesh --help': [entry, '--help'],
    'mesh peers --json': [entry, 'peers', '--json'],
    'mesh status --json': [entry, 'status', '--json']
  }
  const wall = new Map<string, number[]>()
  const peak = new Map<string, number[]>()
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-rusage-'))
  try {
    // Warm the file cache once, then interleave so that drift in the machine's load hits every command alike.
    for (const argv of Object.values(commands)) await runOnce(argv, env)
    for (let i = 0; i < runs; i++) {
      for (const [name, argv] of Object.entries(commands)) {
        const timed = await runOnce(argv, env)
        const file = join(dir, 'rss')
        const measured = await runOnce(['--import', RUSAGE_PRELOAD, ...argv], { ...env, MESHWORK_RUSAGE_FILE: file })
        if (timed.code !== 0 || measured.code !== 0) throw new Error(`${name} exited with ${timed.code}/${measured.code}: ${timed.stderr}${measured.stderr}`)
        wall.set(name, [...(wall.get(name) ?? []), timed.ms])
        peak.set(name, [...(peak.get(name) ?? []), Math.round(Number(readFileSync(file, 'utf8')) / 1024 * 10) / 10])
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const figures = (name: string): Omit<CommandFigures, 'ratioToNode'> => ({ argv: commands[name]!, wallMs: summary(wall.get(name)!), peakRssMB: summary(peak.get(name)!) })
  const node = figures('node -e 0')
  const out: Record<string, CommandFigures> = {}
  for (const name of Object.keys(commands)) {
    if (name === 'node -e 0') continue
    const f = figures(name)
    out[name] = { ...f, ratioToNode: round2(f.wallMs.p50 / node.wallMs.p50) }
  }
  return { node, commands: out }
}

async function runOnce (argv: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number, code: number | null, stderr: string }> {
  const t0 = performance.now()
  const proc = spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  return { ms: Math.round((performance.now() - t0) * 10) / 10, code, stderr }
}

/** CPU time (ms) of each thread of a process, by thread id (Linux /proc). */
function threadCpuMs (pid: number): Map<number, number> {
  const out = new Map<number, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(Number(tid), (Number(f[11]) + Number(f[12])) * 10)
    } catch { /* the thread ended */ }
  }
  return out
}

/** Peak resident set size of a process so far (VmHWM), MB. */
function peakRssMB (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Math.round(Number(m[1]) / 1024 * 10) / 10
}

function round2 (x: number): number {
  return Math.round(x * 100) / 100
}
