/**
 * What defending against keyed peers costs, and what a misbehaving peer costs
 * the others (docs/ARCHITECTURE.md §17), on real daemons on 127.0.0.1:
 *  - verification: CPU per task and makespan of a job of CPU-bound tasks,
 *    plain, with `verify: {replicas: 2}`, and with adaptive replication (after
 *    the full run has given every peer a record of agreement);
 *  - a black hole (the rogue peer of test/helpers/rogue.ts: bids ETA 0 for
 *    everything, takes its awards, never heard of again): the makespan of two
 *    jobs in a row without it and with it; with `--baseline DIR`, also on that
 *    checkout's daemons (the "before");
 *  - a flood of invalid gossip from a rogue: how long until every daemon cut it
 *    off, and what it cost them meanwhile (CPU, RSS).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { ControlClient } from '../node/control/client.ts'
import { createLocalMesh, ROOT, type LocalDaemonOptions, type LocalMesh } from '../node/local-mesh.ts'
import { RESOURCES_TOPIC } from '../protocols/resources.ts'
import { Rogue, acceptAwards, bidForEverything } from '../test/helpers/rogue.ts'
import { cpuMs, machine, poll, rssMB, runToDone, writeResult } from './lib.ts'

const HANDLERS = join(ROOT, 'bench', 'handlers.ts')
const log = (s: string): void => { process.stderr.write(`[adversarial] ${s}\n`) }

export async function benchAdversarial ({ quick, smoke = false, baseline }: { quick: boolean, smoke?: boolean, baseline?: string }): Promise<Record<string, unknown>> {
  const tasks = smoke ? 12 : quick ? 30 : 90
  const verification = await measureVerification(tasks)
  const blackHole = { after: await measureBlackHole(smoke ? 8 : 24), ...(baseline !== undefined ? { before: await measureBlackHole(smoke ? 8 : 24, { command: [process.execPath, join(baseline, 'dist', 'cli', 'bin.js')] }), baseline } : {}) }
  const flood = smoke ? undefined : await measureFlood(quick ? 10_000 : 30_000)
  const result = { what: 'adversarial: what verification costs, and what a black hole and a flood cost honest daemons (3 daemons, 127.0.0.1)', machine: machine(), verification, blackHole, flood }
  writeResult('adversarial', result)
  return result
}

async function mesh3 (opts: LocalDaemonOptions = {}): Promise<{ mesh: LocalMesh, origin: ControlClient }> {
  const mesh = await createLocalMesh(3, () => ({ executor: { handlers: { crunch: `${HANDLERS}#crunch`, sleeper: `${HANDLERS}#sleeper` } } }), opts)
  await Promise.all(mesh.daemons.map(async d => { await d.start() }))
  await new Promise(resolve => setTimeout(resolve, 3000))
  return { mesh, origin: mesh.daemons[0]!.client() }
}

/** CPU ms all daemons used while `fn` ran, and what it returned. */
async function cpuOf<T> (mesh: LocalMesh, fn: () => Promise<T>): Promise<{ cpuMs: number, value: T }> {
  const pids = mesh.daemons.map(d => d.pid!)
  const before = pids.reduce((n, p) => n + cpuMs(p), 0)
  const value = await fn()
  return { cpuMs: pids.reduce((n, p) => n + cpuMs(p), 0) - before, value }
}

async function measureVerification (n: number): Promise<Record<string, unknown>> {
  const { mesh, origin } = await mesh3()
  try {
    const spec = (name: string, verify?: unknown): unknown => ({ name, tasks: { t: { kind: 'handler', handler: 'crunch', input: { ms: 20 }, count: n, estimateMs: 20, ...(verify !== undefined ? { verify } : {}) } } })
    const run = async (name: string, verify?: unknown): Promise<{ cpuMsPerTask: number, makespanMs: number }> => {
      const r = await cpuOf(mesh, async () => await runToDone(origin, spec(name, verify)))
      const out = { cpuMsPerTask: Math.round(r.cpuMs / n * 10) / 10, makespanMs: r.value.doneAt - r.value.t0 }
      log(`${name}: ${JSON.stringify(out)}`)
      return out
    }
    await run('warm-up') // JIT, worker threads, learned estimates
    const plain = await run('plain')
    const full = await run('replicas-2', { replicas: 2 })
    // By now each peer has agreed on far more than 10 checked results: adaptive trusts most tasks to one peer.
    const adaptive = await run('adaptive', { replicas: 2, adaptive: { after: 10, rate: 0.1 } })
    const snap = await origin.job((await origin.jobs()).find(j => j.name === 'adaptive')!.id)
    const verdicts: Record<string, number> = {}
    for (const t of snap.tasks ?? []) { const v = t.verification?.verdict ?? 'none'; verdicts[v] = (verdicts[v] ?? 0) + 1 }
    return {
      how: `a job of ${n} tasks each burning 20 ms of CPU and returning a value that depends only on its index (bench/handlers.ts crunch) on 3 daemons, submitted to the first; CPU is all three daemons' processes (/proc), over the job, per task`,
      plain,
      full: { ...full, extraCpuMsPerTask: Math.round((full.cpuMsPerTask - plain.cpuMsPerTask) * 10) / 10 },
      adaptive: { ...adaptive, extraCpuMsPerTask: Math.round((adaptive.cpuMsPerTask - plain.cpuMsPerTask) * 10) / 10, verdicts }
    }
  } finally {
    await mesh.destroy()
  }
}

async function measureBlackHole (n: number, opts: LocalDaemonOptions = {}): Promise<Record<string, unknown>> {
  const job = (name: string): unknown => ({ name, tasks: { s: { kind: 'handler', handler: 'sleeper', input: { ms: 500 }, count: n, estimateMs: 500 } } })
  const makespans = async (withHole: boolean): Promise<{ jobs: number[], holeWon: number[] }> => {
    const { mesh, origin } = await mesh3(opts)
    let hole: Rogue | undefined
    try {
      const won = new Map<string, number>()
      if (withHole) {
        hole = await Rogue.start({ swarmKey: null, dial: mesh.daemons.map(d => `/ip4/127.0.0.1/tcp/${d.port}/p2p/${d.peerId}`) })
        hole.advertise({ handlers: ['sleeper', 'crunch'] })
        bidForEverything(hole, 0)
        acceptAwards(hole, (_o, a) => { won.set(a.jobId, (won.get(a.jobId) ?? 0) + a.tasks.length) })
        await poll(async () => (await origin.peers()).peers.some(p => p.id === hole!.id && p.state === 'alive'), 10_000, 100)
      }
      const jobs: number[] = []
      const holeWon: number[] = []
      for (const name of ['first', 'second']) {
        const r = await runToDone(origin, job(name))
        jobs.push(r.doneAt - r.t0)
        holeWon.push(won.get(r.id) ?? 0)
      }
      log(`black hole ${withHole ? 'present' : 'absent'}${opts.command !== undefined ? ' (baseline)' : ''}: makespans ${jobs.join(', ')} ms, tasks it won ${holeWon.join(', ')}`)
      return { jobs, holeWon }
    } finally {
      await hole?.stop()
      await mesh.destroy()
    }
  }
  return {
    how: `two jobs in a row of ${n} tasks sleeping 500 ms (estimateMs 500) on 3 daemons of 2 cores, submitted to the first; with the black hole, a rogue peer advertising 8 cores bids ETA 0 for every task, accepts its awards and never reports (lease 2 s)`,
    without: await makespans(false),
    with: await makespans(true)
  }
}

async function measureFlood (maxMs: number): Promise<Record<string, unknown>> {
  const { mesh } = await mesh3()
  const rogue = await Rogue.start({ swarmKey: null, dial: mesh.daemons.map(d => `/ip4/127.0.0.1/tcp/${d.port}/p2p/${d.peerId}`) })
  try {
    rogue.advertise()
    await new Promise(resolve => setTimeout(resolve, 2000))
    const pids = mesh.daemons.map(d => d.pid!)
    const rssBefore = pids.map(rssMB)
    const idleCpu0 = pids.reduce((n, p) => n + cpuMs(p), 0)
    await new Promise(resolve => setTimeout(resolve, 2000))
    const idleCpuMsPerS = (pids.reduce((n, p) => n + cpuMs(p), 0) - idleCpu0) / 2
    const t0 = Date.now()
    const cpu0 = pids.reduce((n, p) => n + cpuMs(p), 0)
    let sent = 0
    while (Date.now() - t0 < maxMs && mesh.daemons.some(d => rogue.isConnectedTo(d.peerId))) {
      await rogue.publish(RESOURCES_TOPIC, randomBytes(64 + (sent % 512)))
      sent++
      if (sent % 200 === 0) await new Promise(resolve => setTimeout(resolve, 1))
    }
    const cutOffMs = Date.now() - t0
    const floodCpuMsPerS = (pids.reduce((n, p) => n + cpuMs(p), 0) - cpu0) / Math.max(1, cutOffMs / 1000)
    const rssGrowthMB = pids.map((p, i) => Math.round((rssMB(p) - rssBefore[i]!) * 10) / 10)
    const allCutOff = mesh.daemons.every(d => !rogue.isConnectedTo(d.peerId))
    const result = { how: `a rogue peer publishes invalid ads (random bytes, signed by it) as fast as it can, for at most ${maxMs / 1000} s or until no daemon is connected to it`, sent, cutOffMs, allCutOff, idleCpuMsPerS: Math.round(idleCpuMsPerS), floodCpuMsPerS: Math.round(floodCpuMsPerS), rssGrowthMB }
    log(`flood: ${JSON.stringify(result)}`)
    return result
  } finally {
    await rogue.stop()
    await mesh.destroy()
  }
}
