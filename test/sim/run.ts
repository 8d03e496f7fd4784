/**
 * The nightly-sized simulation: `npm run sim -- [options]`.
 *
 *   --seeds 1,2,3 | --seeds 5 (seeds 1..5) | --seed 17   which seeds (default: 1)
 *   --peers 200 --tasks 5000 --jobs 20 --origins 8       size (default: the nightly size)
 *   --faults crash=30,freeze=16,…                        fault counts (default: scaled to peers)
 *   --gossip 1000                                        gossip.intervalMs for every peer (failure.suspectMs and goneMs scale with it)
 *   --config '{"auction":{"bidWindowMs":100}}'           more config for every peer (JSON, merged over --gossip)
 *   --step 25                                            check the invariants every this many simulated ms
 *   --latency 1-15 --jitter 5 --loss 0.01 --burst-loss 0.3   the network (one-way ms; pub/sub loss)
 *   --fault-window 30000 --submit-window 15000           when faults and job arrivals happen (simulated ms)
 *   --no-failures                                        no flaky or doomed tasks
 *   --no-workarounds                                     do not work around known src/ bugs (harness.ts `Workarounds`)
 *   --verbose                                            a line per fault and job end
 *   --core-log                                           the core's own log lines (small replays only)
 *   --ci                                                 the CI size instead of the nightly one
 *   --stop-at MS                                         stop at this simulated time, skipping the end checks (profiling)
 *   --threads N                                          run seeds on N worker threads (quiet: no --verbose lines)
 *
 * Prints one line of figures per seed; exits non-zero on the first failing
 * seed, after printing its violations and the command that replays it.
 */
import { CI_SIZE, NIGHTLY_SIZE, Sim, SimFailure, gossipConfig, type FaultCounts, type SimOptions, type SimReport } from './harness.ts'
import type { MeshConfigInput } from '../../src/config.ts'
import { runPool } from './pool.ts'

function parseArgs (argv: string[]): { seeds: number[], threads: number, base: Omit<SimOptions, 'seed'> } {
  const args = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`)
    const flag = a.slice(2)
    if (['no-failures', 'no-workarounds', 'verbose', 'core-log', 'ci'].includes(flag)) { args.set(flag, 'true'); continue }
    const v = argv[++i]
    if (v === undefined) throw new Error(`--${flag} needs a value`)
    args.set(flag, v)
  }
  const size: Pick<SimOptions, 'peers' | 'tasks' | 'jobs' | 'origins' | 'submitWindowMs' | 'faultWindowMs' | 'faults'> = args.has('ci') ? CI_SIZE : NIGHTLY_SIZE
  const num = (k: string, d: number): number => {
    const v = args.get(k)
    if (v === undefined) return d
    const n = Number(v)
    if (!Number.isFinite(n)) throw new Error(`--${k} must be a number`)
    return n
  }
  let seeds: number[] = [1]
  if (args.has('seed')) seeds = [num('seed', 1)]
  else if (args.has('seeds')) {
    const s = args.get('seeds')!
    seeds = s.includes(',') ? s.split(',').map(Number) : Array.from({ length: Number(s) }, (_, i) => i + 1)
  }
  const faults: Partial<FaultCounts> = { ...size.faults }
  for (const kv of (args.get('faults') ?? '').split(',').filter(x => x !== '')) {
    const [k, v] = kv.split('=')
    faults[k as keyof FaultCounts] = Number(v)
  }
  const gossip = args.get('gossip')
  const latency = args.get('latency')?.split('-').map(Number) as [number, number] | undefined
  const network = {
    ...(latency === undefined ? {} : { latencyMs: latency }),
    ...(args.has('jitter') ? { jitterMs: num('jitter', 5) } : {}),
    ...(args.has('loss') ? { loss: num('loss', 0.01) } : {}),
    ...(args.has('burst-loss') ? { burstLoss: num('burst-loss', 0.3) } : {})
  }
  const peers = num('peers', size.peers)
  return {
    seeds,
    threads: num('threads', 1),
    base: {
      peers,
      tasks: num('tasks', size.tasks),
      jobs: num('jobs', size.jobs),
      origins: num('origins', size.origins),
      ...(size.submitWindowMs === undefined ? {} : { submitWindowMs: size.submitWindowMs }),
      ...(size.faultWindowMs === undefined ? {} : { faultWindowMs: size.faultWindowMs }),
      ...(args.has('fault-window') ? { faultWindowMs: num('fault-window', 30_000) } : {}),
      ...(args.has('submit-window') ? { submitWindowMs: num('submit-window', 15_000) } : {}),
      network,
      faults,
      failures: !args.has('no-failures'),
      ...(args.has('no-workarounds') ? { workarounds: { queuedNotPromoted: false } } : {}),
      verbose: args.has('verbose'),
      coreLog: args.has('core-log'),
      ...(args.has('stop-at') ? { stopAtMs: num('stop-at', Infinity) } : {}),
      ...(args.has('step') ? { stepMs: num('step', 25) } : {}),
      // Every config value stays at its default (README "Sizes and cost"), unless asked.
      config: { ...(gossip === undefined ? {} : gossipConfig(Number(gossip))), ...(args.has('config') ? JSON.parse(args.get('config')!) as MeshConfigInput : {}) },
      log: line => { console.log(line) }
    }
  }
}

const fmt = (r: SimReport): string =>
  `seed ${r.seed}: ${r.peers} peers, ${r.jobs} jobs (${Object.entries(r.jobStates).map(([k, v]) => `${v} ${k}`).join(', ')}), ${r.tasks} tasks; ` +
  `makespan ${(r.makespanMs / 1000).toFixed(1)} s, simulated ${(r.simMs / 1000).toFixed(1)} s in ${(r.wallMs / 1000).toFixed(1)} s wall ` +
  `(${(r.wallMs / r.simMs).toFixed(2)} s wall per simulated s); per task: ${r.messagesPerTask} messages, ${r.bytesPerTask} bytes, ` +
  `${r.roundsPerTask} rounds, ${r.attemptsPerTask} attempts; faults ${Object.entries(r.faults).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
  `core: ${Object.entries(r.happened).map(([k, v]) => `${k} ${v}`).join(', ')}; lost ${r.lostMessages} gossip messages; workarounds ${Object.entries(r.workarounds).map(([k, v]) => `${k} ${v}`).join(', ')}; fingerprint ${r.fingerprint}`

const { seeds, threads, base } = parseArgs(process.argv.slice(2))
console.log(`simulating ${seeds.length} seed(s): ${base.peers} peers, ${base.tasks} tasks, ${base.jobs} jobs from ${base.origins} origins`)
const print = (report: SimReport): void => {
  console.log(fmt(report))
  if (base.verbose) console.log(`  sent: ${Object.entries(report.traffic).map(([k, v]) => `${k} ${v.count} (${Math.round(v.bytes / 1024)} KiB)`).join('; ')}`)
}
if (threads > 1) {
  const { log: _log, ...plain } = base
  const pool = runPool(seeds.map(seed => ({ ...plain, verbose: false, coreLog: false, seed })), threads)
  for (const r of pool.results) {
    const res = await r
    if (res.ok) print(res.report)
    else { console.error(res.message); process.exitCode = 1 }
  }
  await pool.close()
} else {
  for (const seed of seeds) {
    try {
      print(await new Sim({ ...base, seed }).run())
    } catch (err) {
      if (err instanceof SimFailure) {
        console.error(err.message)
        process.exitCode = 1
        break
      }
      throw err
    }
  }
}
